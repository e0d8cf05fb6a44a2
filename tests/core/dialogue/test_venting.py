"""Venting without content: no detail, no yes, no change; a calm word, the question again, a person if it goes on.
Venting beside content: a calm word, and the content without the venting."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import yaml

from core.dialogue.acts import Act, ActLexicon, default_lexicon
from core.dialogue.machine import step
from core.dialogue.model import Deps, Event, EventKind, LeaveTicket, OpenTicket, Snapshot, State, TicketNote
from core.dialogue.reading import without_venting
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
        # exasperation
        "你们到底行不行啊",
        "你们到底在干嘛",
        "太过分了",
        "真有你们的",
        "服了 真的服了",
        "are you serious?",
        "so frustrating",
        "你们是不是有毛病",
        "有完没完",
        "能不能专业点",
        "what the actual hell",
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
    [
        ("project", "垃圾公司，春季招聘那个", "春季招聘那个"),
        ("project", "项目就是双十一那个，你们搞什么鬼", "双十一那个"),
        ("since", "都三天了，垃圾", "都三天了 (2026-11-29)"),
        ("expected", "赶紧给我重新投放！！什么垃圾服务", "赶紧给我重新投放"),
        ("phone", "13800138239 赶紧打过来 气死了", "13800138239"),
    ],
)
def test_venting_with_a_detail_gives_that_detail_without_the_venting(
    name: str, text: str, value: str, deps: Deps
) -> None:
    outcome = say(text, asking(name), deps)
    assert outcome.slots[name] == value
    # The venting is heard: a calm word before the next question.
    assert keys(outcome) == ["chat.calm", "form.ask"]


def test_a_date_beside_venting_is_an_answer_however_much_the_fillers_allow(deps: Deps) -> None:
    raw = yaml.safe_load((CONFIG / "acts.yaml").read_text(encoding="utf-8"))
    lenient = replace(deps, lexicon=ActLexicon({**raw, "vent_max_other": 4}))
    outcome = say("垃圾，昨天", asking("since"), lenient)
    assert outcome.slots["since"] == "昨天"


@pytest.mark.parametrize(
    ("text", "rest"),
    [
        ("项目就是双十一那个，你们搞什么鬼", "项目就是双十一那个"),
        ("垃圾公司！！周年庆海报上的电话印错了，五千张全废了", "周年庆海报上的电话印错了，五千张全废了"),
        ("好的，废物", "好的"),
        ("气死我了 项目是春季上新", "项目是春季上新"),
        (
            "This is ridiculous. The landing page has been down since Monday",
            "The landing page has been down since Monday",
        ),
        ("what a joke, the video still has our old logo", "the video still has our old logo"),
        ("useless, the Spring Launch ads stopped", "the Spring Launch ads stopped"),
    ],
)
def test_the_clauses_of_nothing_but_venting_are_taken_out(text: str, rest: str, deps: Deps) -> None:
    assert without_venting(text, deps) == rest


@pytest.mark.parametrize(
    "text",
    [
        # nothing of venting alone in a clause: the message stays as written
        "你们做的海报太垃圾了",
        "垃圾流量太多了",
        # venting and nothing else: nothing is left to read
        "垃圾公司！！你们到底行不行",
    ],
)
def test_a_message_without_a_clause_of_venting_alone_or_of_nothing_else_is_kept(text: str, deps: Deps) -> None:
    assert without_venting(text, deps) is None


# ---------------------------------------------------------------- the first message, the category, the summary


def test_a_first_message_that_vents_and_tells_the_problem_is_the_description_without_the_venting(deps: Deps) -> None:
    outcome = say(DESCRIPTION, Snapshot(State.NEW), deps)
    assert outcome.category == "complaint"
    assert outcome.slots["description"] == "广告停了三天没人管"
    assert keys(outcome)[:2] == ["greeting.hello", "chat.calm"]


def test_the_category_is_read_from_the_venting_too(deps: Deps) -> None:
    # Anger is a complaint's evidence: without "ridiculous" the rest alone leaves the category open.
    text = "This is ridiculous. The landing page for our Black Friday campaign has been down since Monday"
    outcome = say(text, Snapshot(State.NEW), deps)
    assert outcome.state is State.COLLECTING and outcome.category == "complaint"
    assert outcome.slots["description"] == text.removeprefix("This is ridiculous. ")


def test_a_person_asked_for_with_venting_takes_over_with_the_words_as_written(deps: Deps) -> None:
    outcome = say("烦死了 给我转人工！！", Snapshot(State.NEW), deps)
    assert outcome.state is State.HUMAN_QUEUE and keys(outcome)[0] == "chat.calm"
    tickets = [e for e in outcome.effects if isinstance(e, OpenTicket)]
    # The person reads the anger too, and the ticket is a complaint's by it.
    assert len(tickets) == 1 and tickets[0].category == "complaint"
    assert tickets[0].details["description"] == "烦死了 给我转人工！！"


def test_a_yes_with_an_insult_at_the_summary_submits_and_the_insult_is_answered_calmly(deps: Deps) -> None:
    # "好的，废物" confirms: the client said yes, and asking him again would only anger him more.
    outcome = say("好的，废物", confirming(), deps)
    assert outcome.state is State.TICKET_OPEN
    tickets = [e for e in outcome.effects if isinstance(e, OpenTicket)]
    assert len(tickets) == 1 and tickets[0].details["description"] == DESCRIPTION
    assert keys(outcome)[0] == "chat.calm"


def test_a_no_with_an_insult_at_the_summary_asks_what_to_change(deps: Deps) -> None:
    outcome = say("不对，一群废物", confirming(), deps)
    assert outcome.state is State.CONFIRMING and dict(outcome.slots) == FILLED
    assert not any(isinstance(e, OpenTicket) for e in outcome.effects)
    assert keys(outcome)[0] == "chat.calm" and "chat.calm" not in keys(outcome)[1:]
    assert outcome.effects[1:] == say("不对", confirming(), deps).effects


def test_venting_stays_a_score_and_a_comment_at_the_satisfaction_prompt(deps: Deps) -> None:
    snap = Snapshot(State.AWAITING_FEEDBACK, "complaint", dict(FILLED), {"turn": 8}, has_ticket=True)
    outcome = say("垃圾，一直没人理", snap, deps)
    assert [e.data["text"] for e in outcome.effects if isinstance(e, TicketNote) and "text" in e.data] == [
        "垃圾，一直没人理"
    ]
    assert "chat.calm" not in keys(outcome)


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
