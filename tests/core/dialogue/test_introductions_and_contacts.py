"""A client who introduces himself is greeted, not filed; asked for a contact, only a contact is taken as one."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from core.dialogue.acts import Act, default_lexicon
from core.dialogue.classifier import KeywordClassifier, load_rules
from core.dialogue.entities import extract
from core.dialogue.forms import Forms
from core.dialogue.machine import step
from core.dialogue.model import Deps, Event, EventKind, Outcome, Say, Snapshot, State
from core.dialogue.reading import OTHER_KIND_ASKED, extract_slots
from core.dialogue.textmodel import STARTER_MODEL, configured_model
from core.settings import PROJECT_ROOT, DialogueSettings
from core.texts import Texts

CONFIG = PROJECT_ROOT / "config"
TODAY = date(2026, 12, 2)
FILED_AS_OTHER = {"category": "other", "confidence": 0.95, "confident": True, "matched": [], "picked": False}
PICKED = {"matched": [], "confident": False, "picked": True}


def _deps(*, model: bool) -> Deps:
    learned = configured_model(CONFIG, STARTER_MODEL) if model else None
    return Deps(
        KeywordClassifier(load_rules(CONFIG / "keywords.yaml"), model=learned),
        Forms.load(CONFIG / "forms.yaml"),
        Texts.load(CONFIG),
        DialogueSettings(),
        lexicon=default_lexicon(),
        today=TODAY,
    )


@pytest.fixture(scope="module")
def deps() -> Deps:
    return _deps(model=False)


@pytest.fixture(scope="module")
def learned() -> Deps:
    """As in production: the rules and the learned model."""
    return _deps(model=True)


def say(text: str, snapshot: Snapshot, deps: Deps) -> Outcome:
    # Half a minute after the bot's question: an answer to it, not more of a message sent before it was read.
    return step(snapshot, Event(EventKind.MESSAGE, text=text, data={"gap": 30.0}), deps)


def says(outcome: Outcome) -> list[Say]:
    return [e for e in outcome.effects if isinstance(e, Say)]


def keys(outcome: Outcome) -> list[str]:
    return [e.key for e in says(outcome)]


def after(outcome: Outcome, *, turn: int) -> Snapshot:
    return Snapshot(outcome.state, outcome.category, dict(outcome.slots), {**outcome.context, "turn": turn})


# ---------------------------------------------------------------- introductions


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("你好 我是XX品牌的小王", "小王"),
        ("您好，我是星辰传媒的李经理", "李经理"),
        ("hi, this is Anna from Brand X", "Anna"),
        ("在吗，我是上次对接的小张", "小张"),
        ("這裡是星辰傳媒的李經理", "李經理"),
        ("我叫王磊", "王磊"),
        ("Hi, I'm Anna", "Anna"),
    ],
)
def test_a_greeting_with_an_introduction_is_greeted_back_by_name(text: str, name: str, learned: Deps) -> None:
    acts = default_lexicon().recognize(text)
    assert acts.pure and acts.found == {Act.GREETING}
    outcome = say(text, Snapshot(State.NEW), learned)
    assert outcome.state is State.GREETED and outcome.category is None and outcome.slots == {}
    assert keys(outcome) == ["greeting.welcome_named"] and says(outcome)[0].params["name"] == name
    # The introduction is no part of the issue the next message tells.
    assert "first_text" not in outcome.context and "issue_text" not in outcome.context


@pytest.mark.parametrize("text", ["您好，我是XX品牌的负责人", "你好 我是市场部的", "你好，我是你们的客户"])
def test_an_introduction_without_a_name_is_greeted_plainly(text: str, learned: Deps) -> None:
    outcome = say(text, Snapshot(State.NEW), learned)
    assert outcome.state is State.GREETED and outcome.category is None
    assert keys(outcome) == ["greeting.welcome"]


def test_the_issue_told_after_an_introduction_is_classified_alone(learned: Deps) -> None:
    greeted = say("你好 我是XX品牌的小王", Snapshot(State.NEW), learned)
    outcome = say("我们的广告停了", after(greeted, turn=2), learned)
    assert outcome.category == "complaint" and outcome.slots["description"] == "我们的广告停了"


@pytest.mark.parametrize(
    ("text", "category"),
    [("我是来投诉的", "complaint"), ("我是想问一下发票", "inquiry"), ("我是投诉", "complaint")],
)
def test_i_am_before_an_issue_is_no_introduction(text: str, category: str, learned: Deps) -> None:
    assert Act.GREETING not in default_lexicon().recognize(text)
    assert say(text, Snapshot(State.NEW), learned).category == category


@pytest.mark.parametrize(
    "text",
    ["我是XX品牌的，我们的广告停了", "你好，我是小王，我们的广告停了", "I'm Anna from Brand X and our ads stopped"],
)
def test_an_introduction_followed_by_an_issue_is_no_pure_greeting(text: str, learned: Deps) -> None:
    assert not default_lexicon().recognize(text).pure
    outcome = say(text, Snapshot(State.NEW), learned)
    assert outcome.context.get("first_text") == text


@pytest.mark.parametrize("text", ["it's Spring Launch", "this is Spring Launch", "I'm not happy", "This is urgent"])
def test_english_words_after_this_is_or_im_are_no_introduction(text: str) -> None:
    assert default_lexicon().introduction(text) is None


def test_a_project_named_this_is_is_still_the_answer(deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "complaint", {"description": "招聘广告投到外省去了"}, {"asking": "project"})
    assert "Spring Launch" in say("this is Spring Launch", snap, deps).slots["project"]


# ---------------------------------------------------------------- contacts


def contact_prompt(category: str, slots: dict[str, Any], classified: dict[str, Any] = PICKED) -> Snapshot:
    return Snapshot(State.COLLECTING, category, slots, {"asking": "contact", "classified": classified, "turn": 3})


OTHER = {"description": "我想反馈个事情"}
SUGGESTION = {"proposal": "周报能不能每周一早上发"}


@pytest.mark.parametrize(
    ("text", "contact"),
    [
        ("微信 abc123", "微信 abc123"),
        ("vx: abc_123", "vx: abc_123"),
        ("我的QQ是 12345678", "QQ是 12345678"),
        ("微信号 zhangsan", "微信号 zhangsan"),
        ("13800138000", "13800138000"),
        ("王女士 13811113333", "13811113333"),
        ("邮箱 a@brand.com", "a@brand.com"),
        # The channel the client writes from, or one he gave: as said.
        ("同上", "同上"),
        ("就这个微信", "就这个微信"),
        ("就用这个号", "就用这个号"),
        ("微信就可以", "微信就可以"),
        ("微信 zhangsan", "微信 zhangsan"),
        ("email me here", "email me here"),
    ],
)
@pytest.mark.parametrize(("category", "slots"), [("other", OTHER), ("suggestion", SUGGESTION)])
def test_a_contact_answer_is_taken(text: str, contact: str, category: str, slots: dict[str, Any], deps: Deps) -> None:
    outcome = say(text, contact_prompt(category, dict(slots)), deps)
    assert outcome.state is State.CONFIRMING and outcome.slots["contact"] == contact


@pytest.mark.parametrize("text", ["不用联系", "跳过", "不用了"])
def test_declining_to_be_contacted_leaves_the_contact_out(text: str, deps: Deps) -> None:
    outcome = say(text, contact_prompt("other", dict(OTHER)), deps)
    assert outcome.state is State.CONFIRMING and outcome.slots["contact"] is None


@pytest.mark.parametrize(
    ("category", "slots", "issue"), [("other", OTHER, "description"), ("suggestion", SUGGESTION, "proposal")]
)
def test_more_of_the_issue_at_the_contact_prompt_joins_its_description(
    category: str, slots: dict[str, Any], issue: str, deps: Deps
) -> None:
    outcome = say("上次的视频广告片尾的二维码扫不出来", contact_prompt(category, dict(slots)), deps)
    assert outcome.state is State.COLLECTING and outcome.category == category
    assert "contact" not in outcome.slots
    assert outcome.slots[issue] == f"{slots[issue]} 上次的视频广告片尾的二维码扫不出来"
    assert keys(outcome) == ["form.added", "form.ask"] and outcome.context["asking"] == "contact"
    # Then the contact is taken as usual.
    answered = say("微信 abc123", after(outcome, turn=4), deps)
    assert answered.state is State.CONFIRMING and answered.slots["contact"] == "微信 abc123"


def test_the_issue_filed_as_other_by_the_bot_moves_with_what_the_contact_prompt_was_told(deps: Deps) -> None:
    snap = contact_prompt("other", {"description": "你好，有点事想说一下"}, FILED_AS_OTHER)
    outcome = say("我们的广告停了，数据也不对", snap, deps)
    assert outcome.category == "complaint" and outcome.context["asking"] == "project"
    assert outcome.slots["description"] == "你好，有点事想说一下 我们的广告停了，数据也不对"
    assert keys(outcome) == ["classify.described", "form.ask"]


@pytest.mark.parametrize(
    ("category", "slots", "classified"),
    [
        ("other", {"description": "你好，有点事想说一下"}, PICKED),
        ("suggestion", SUGGESTION, {**FILED_AS_OTHER, "category": "suggestion"}),
    ],
)
def test_an_issue_the_client_chose_or_not_filed_as_other_stays_where_it_is(
    category: str, slots: dict[str, Any], classified: dict[str, Any], deps: Deps
) -> None:
    outcome = say("我们的广告停了，数据也不对", contact_prompt(category, dict(slots), classified), deps)
    assert outcome.category == category and keys(outcome) == ["form.added", "form.ask"]


def test_words_that_are_no_contact_are_asked_once_more_then_taken(deps: Deps) -> None:
    first = say("王经理", contact_prompt("other", dict(OTHER)), deps)
    assert first.state is State.COLLECTING and "contact" not in first.slots
    assert keys(first) == ["form.not_a_contact", "form.ask"] and first.context[OTHER_KIND_ASKED] == "contact"
    assert says(first)[0].params == {"answer": "王经理", "label": "联系方式"}
    assert first.slots["description"] == OTHER["description"]
    second = say("王经理", after(first, turn=4), deps)
    assert second.state is State.CONFIRMING and second.slots["contact"] == "王经理"


def test_a_contact_after_the_hint_is_taken(deps: Deps) -> None:
    first = say("找前台王姐就行", contact_prompt("other", dict(OTHER)), deps)
    assert keys(first)[0] == "form.not_a_contact"
    second = say("13800138000", after(first, turn=4), deps)
    assert second.state is State.CONFIRMING and second.slots["contact"] == "13800138000"


# The complaint's phone is required and must be a number.
PHONE_ASKED = {"description": "投放效果太差了", "project": "双十一", "since": None, "expected": None}


def test_more_of_the_issue_at_the_phone_prompt_joins_the_description(deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "complaint", dict(PHONE_ASKED), {"asking": "phone", "turn": 3})
    outcome = say("上次的视频广告片尾的二维码扫不出来", snap, deps)
    assert outcome.slots["description"] == "投放效果太差了 上次的视频广告片尾的二维码扫不出来"
    assert "phone" not in outcome.slots and keys(outcome) == ["form.added", "form.ask"]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        # no number at all: the client hears that a number is needed, not that his is wrong
        ("王经理", "form.phone_needed"),
        ("电话就是我微信绑定的那个号码", "form.phone_needed"),
        ("就这个微信", "form.phone_needed"),
        ("微信 abc123", "form.bad_phone"),
        ("13800", "form.bad_phone"),
    ],
)
def test_words_that_are_no_number_at_the_phone_prompt_are_no_phone(text: str, key: str, deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "complaint", dict(PHONE_ASKED), {"asking": "phone", "turn": 3})
    outcome = say(text, snap, deps)
    assert keys(outcome) == [key] and outcome.slots == PHONE_ASKED


# ---------------------------------------------------------------- accounts as entities


@pytest.mark.parametrize(
    ("text", "handles"),
    [
        ("微信 abc123", ("微信 abc123",)),
        ("加我微信abc_123吧", ("微信abc_123",)),
        ("wechat: Zhang_San88", ("wechat: Zhang_San88",)),
        ("QQ号 12345678", ("QQ号 12345678",)),
        # Letters alone after the word are an ad, not an account.
        ("微信 banner 尺寸不对", ()),
        ("微信就可以", ()),
        ("wx abc", ()),
    ],
)
def test_accounts_named_as_such_are_found(text: str, handles: tuple[str, ...]) -> None:
    assert extract(text, TODAY).handles == handles


def test_an_account_given_in_passing_fills_the_contact(deps: Deps) -> None:
    assert extract_slots("suggestion", "建议周报每周一发，我微信 abc_123", deps)["contact"] == "微信 abc_123"
