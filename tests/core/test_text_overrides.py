"""Admins' overrides of client texts: checked against the shipped text, served over it, reset to it."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from core.settings import PROJECT_ROOT
from core.texts import Texts


@pytest.fixture
def texts() -> Texts:
    return Texts.load(PROJECT_ROOT / "config")


def test_both_languages_have_the_same_keys(texts: Texts) -> None:
    assert texts.keys("zh") == texts.keys("en")


def test_an_override_is_served_over_the_shipped_text_and_reset_to_it(texts: Texts) -> None:
    shipped = texts.get("ticket.resolved", "zh", ticket_no="KF-1", solution="已退款")
    overrides = texts.check_overrides({"overrides": {"zh": {"ticket.resolved": "工单{ticket_no}办好了：{solution}"}}})
    texts.use_overrides(overrides)
    assert texts.get("ticket.resolved", "zh", ticket_no="KF-1", solution="已退款") == "工单KF-1办好了：已退款"
    # Only the overridden language changes; the shipped text stays readable beside it.
    assert texts.get("ticket.resolved", "en", ticket_no="KF-1", solution="x").startswith("Ticket KF-1 is resolved")
    assert texts.shipped("ticket.resolved", "zh") is not None
    texts.use_overrides({})
    assert texts.get("ticket.resolved", "zh", ticket_no="KF-1", solution="已退款") == shipped


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"zh": {"ticket.resolved": "工单{ticket_no}办好了"}}, "{solution}, {ticket_no}"),
        ({"zh": {"ticket.resolved": "{ticket_no}{solution}{extra}"}}, "placeholders"),
        ({"zh": {"ticket.resolved": "{ticket_no {solution}"}}, "malformed"),
        ({"en": {"telegram.mirror": "Client: {text}"}}, "not a client text"),
        ({"en": {"notify.new_ticket": "x"}}, "not a client text"),
        ({"de": {"greeting.hello": "Hallo"}}, "unknown language"),
        ({"zh": {"greeting.hello": 5}}, "a text of 1 to"),
    ],
)
def test_overrides_that_would_break_a_reply_are_refused(texts: Texts, overrides: object, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason.replace("{", r"\{").replace("}", r"\}")):
        texts.check_overrides({"overrides": overrides})
