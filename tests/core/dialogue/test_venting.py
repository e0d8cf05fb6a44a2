"""Venting without content: no detail, no yes, no change; a calm word, the question again, a person if it goes on."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import yaml

from core.dialogue.acts import Act, ActLexicon, default_lexicon
from core.dialogue.machine import step
from core.dialogue.model import Deps, Event, EventKind, LeaveTicket, OpenTicket, Snapshot, State, TicketNote
from core.settings import DialogueSettings
from tests.core.dialogue.test_understanding import CONFIG, after, deps, keys, say

# The conversation's helpers and `deps` (the shipped configuration, today 2026-12-02) are those of the other
# dialogue tests.
__all__ = ["deps"]

DESCRIPTION = "你们他妈的到底会不会做事，广告停了三天没人管"
FILLED = {
    "description": DESCRIPTION,
    "project": "冬季大促-信息流",
    "since": "三天 (2026-11-29)",
    "expected": None,
    "phone": "13800138000",
}


def asking(name: str, *, language: str = "zh", **context: Any) -> Snapshot:
    """A complaint's form with the details before `name` given and `name` asked."""
    names = list(FILLED)
    slots = {k: v for k, v in FILLED.items() if names.index(k) < names.index(name) and v is not None}
    return Snapshot(State.COLLECTING, "complaint", slots, {"asking": name, "turn": 3, **context}, language=language)


def confirming(**context: Any) -> Snapshot:
    return Snapshot(State.CONFIRMING, "complaint", dict(FILLED), {"summary_shown": True, "turn": 5, **context})


# ---------------------------------------------------------------- recognizing venting


@pytest.mark.parametrize(
    "text",
    [
        "垃圾公司",
        "滚",
        "你们是不是脑子有病啊，这么简单的东西都搞不定",
        "傻逼",
        "废物！！",
        "搞什么啊",
        "你们这帮废物",
        "呵呵",
        "what the hell",
        "What the f*** is going on?!",
        "you guys are useless",
        "this is ridiculous",
        "fucking idiots",
    ],
)
def test_venting_alone_says_nothing_else(text: str) -> None:
    acts = default_lexicon().recognize(text)
    assert Act.VENT in acts and acts.only_venting


@pytest.mark.parametrize(
    "text",
    [
        "垃圾流量太多了",
        "垃圾邮件被拦截",
        "电脑有病毒",
        "滚动字幕不显示",
        "操作失误",
        "这家媒体靠谱吗",
        "切换账号",
        "the trash bin icon is gone",
    ],
)
def test_industry_words_holding_a_word_of_venting_are_no_venting(text: str) -> None:
    assert Act.VENT not in default_lexicon().recognize(text)


@pytest.mark.parametrize(
    "text",
    [
        DESCRIPTION,
        "垃圾公司，春季招聘那个",
        "都三天了，垃圾",
        "你们搞什么活动",
        "useless, the Spring Launch ads stopped",
    ],
)
def test_venting_with_something_besides_is_not_venting_only(text: str) -> None:
    assert not default_lexicon().recognize(text).only_venting


def test_a_word_of_venting_still_scores_at_the_satisfaction_prompt() -> None:
    # Venting is matched apart from the acts: "垃圾" stays the score 1 it was.
    assert default_lexicon().recognize("垃圾").score == 1


# ---------------------------------------------------------------- asked for a detail


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("project", "垃圾公司"),
        ("project", "你们是不是有病啊 这种错都犯"),
        ("since", "你们是不是脑子有病啊，这么简单的东西都搞不定"),
        ("expected", "滚"),
        ("phone", "你们这帮废物"),
    ],
)
def test_venting_asked_for_a_detail_is_not_stored_and_the_question_is_asked_again(
    name: str, text: str, deps: Deps
) -> None:
    snap = asking(name)
    outcome = say(text, snap, deps)
    assert outcome.state is State.COLLECTING
    assert dict(outcome.slots) == dict(snap.slots)
    assert outcome.context["asking"] == name
    assert keys(outcome) == ["chat.calm", "form.ask"]
    assert deps.texts.get("chat.calm", "zh") == "非常理解您的心情，给您添麻烦了，我们一定尽快处理。"


def test_venting_counts_no_reask_of_the_detail(deps: Deps) -> None:
    # One unusable answer before: venting neither gives up on the detail nor brings the offer of a person nearer.
    outcome = say("你们是不是脑子有病啊", asking("since", reasks=1), deps)
    assert outcome.context["reasks"] == 1
    assert "form.offer_person" not in keys(outcome)


def test_venting_right_after_the_first_message_is_no_more_of_the_issue(deps: Deps) -> None:
    snap = asking("project", told_turn=2)
    outcome = step(snap, Event(EventKind.MESSAGE, text="垃圾公司", data={"gap": 2.0}), deps)
    assert outcome.slots["description"] == DESCRIPTION
    assert keys(outcome) == ["chat.calm", "form.ask"]


def test_venting_in_english_is_answered_in_english(deps: Deps) -> None:
    snap = replace(asking("expected", language="en"), slots={"description": "Our ads stopped", "project": "Spring"})
    outcome = say("what the hell is going on", snap, deps)
    assert "expected" not in outcome.slots and outcome.context["asking"] == "expected"
    assert keys(outcome) == ["chat.calm", "form.ask"]
    assert "frustration" in deps.texts.get("chat.calm", "en")


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [("project", "垃圾公司，春季招聘那个", "垃圾公司，春季招聘那个"), ("since", "都三天了，垃圾", "2026-11-29")],
)
def test_venting_with_a_detail_gives_that_detail(name: str, text: str, value: str, deps: Deps) -> None:
    outcome = say(text, asking(name), deps)
    assert value in str(outcome.slots[name])
    assert "chat.calm" not in keys(outcome)


def test_a_date_beside_venting_is_an_answer_however_much_the_fillers_allow(deps: Deps) -> None:
    raw = yaml.safe_load((CONFIG / "acts.yaml").read_text(encoding="utf-8"))
    lenient = replace(deps, lexicon=ActLexicon({**raw, "vent_max_other": 4}))
    outcome = say("垃圾，昨天", asking("since"), lenient)
    assert "2026-12-01" in str(outcome.slots["since"])


# ---------------------------------------------------------------- the first message, the category, the summary


def test_a_first_message_that_vents_and_tells_the_problem_is_the_description(deps: Deps) -> None:
    outcome = say(DESCRIPTION, Snapshot(State.NEW), deps)
    assert outcome.category == "complaint"
    assert outcome.slots["description"] == DESCRIPTION


def test_a_first_message_of_venting_alone_is_answered_calmly_and_told_nothing_of_the_issue(deps: Deps) -> None:
    outcome = say("垃圾公司", Snapshot(State.NEW), deps)
    assert outcome.state is State.GREETED and outcome.category is None
    assert "first_text" not in outcome.context and "issue_text" not in outcome.context
    assert keys(outcome) == ["chat.calm", "greeting.welcome"]
    described = say("朋友圈广告被下架了", after(outcome, turn=2), deps)
    assert described.slots.get("description") == "朋友圈广告被下架了"


def test_venting_asked_for_the_category_adds_nothing_to_the_issue(deps: Deps) -> None:
    snap = Snapshot(State.CLASSIFYING, context={"issue_text": "那个广告", "first_text": "那个广告", "turn": 2})
    outcome = say("你们是不是有病", snap, deps)
    assert outcome.state is State.CLASSIFYING
    assert outcome.context["issue_text"] == "那个广告"
    assert keys(outcome) == ["chat.calm", "classify.ask"]


@pytest.mark.parametrize("text", ["你们是不是有病", "垃圾公司", "what the hell"])
def test_venting_at_the_summary_is_no_yes_and_no_change(text: str, deps: Deps) -> None:
    outcome = say(text, confirming(), deps)
    assert outcome.state is State.CONFIRMING
    assert dict(outcome.slots) == FILLED
    assert not any(isinstance(e, OpenTicket) for e in outcome.effects)
    assert keys(outcome) == ["chat.calm", "confirm.brief"]


def test_venting_asked_what_to_change_is_not_added_to_the_issue(deps: Deps) -> None:
    outcome = say("垃圾公司", confirming(what_to_change_turn=4), deps)
    assert outcome.slots["description"] == DESCRIPTION


# ---------------------------------------------------------------- venting again and again


def test_venting_again_offers_a_person_and_a_third_time_a_person_takes_over(deps: Deps) -> None:
    first = say("垃圾公司", asking("project"), deps)
    assert "chat.calm_offer_person" not in keys(first)
    second = say("滚", after(first, turn=4), deps)
    assert keys(second) == ["chat.calm", "chat.calm_offer_person", "form.ask"]
    assert second.state is State.COLLECTING and "project" not in second.slots
    third = say("你们是不是脑子有病啊", after(second, turn=5), deps)
    assert third.state is State.HUMAN_QUEUE
    assert keys(third) == ["chat.calm_handover", "handoff.queued"]
    tickets = [e for e in third.effects if isinstance(e, OpenTicket)]
    assert len(tickets) == 1 and tickets[0].handoff
    # The ticket holds what the client told of the issue, not the venting.
    assert tickets[0].details["description"] == DESCRIPTION and "project" not in tickets[0].details


def test_with_the_handover_turned_off_venting_is_answered_calmly_every_time(deps: Deps) -> None:
    never = replace(deps, settings=DialogueSettings(vent_handoff_after=0))
    outcome = say("滚", asking("project", vented=5), never)
    assert outcome.state is State.COLLECTING
    assert keys(outcome) == ["chat.calm", "chat.calm_offer_person", "form.ask"]


@pytest.mark.parametrize("text", ["垃圾公司", "你们这帮废物，垃圾公司，垃圾"])
def test_venting_once_the_ticket_is_open_is_answered_calmly_and_noted_for_the_rep(text: str, deps: Deps) -> None:
    snap = Snapshot(State.TICKET_OPEN, "inquiry", {"topic": "报价与合同", "question": "报价多少"}, {"turn": 6})
    outcome = say(text, replace(snap, has_ticket=True), deps)
    # No other issue (a complaint by its words) and no addition to the inquiry filed.
    assert outcome.state is State.TICKET_OPEN
    assert not any(isinstance(e, LeaveTicket | OpenTicket) for e in outcome.effects)
    assert keys(outcome) == ["chat.calm"]
    assert [e.data["text"] for e in outcome.effects if isinstance(e, TicketNote)] == [text]
