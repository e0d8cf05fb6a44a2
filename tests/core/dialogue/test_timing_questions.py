"""Clients ask how long the agency takes while their issue is taken in: answered from its targets, nothing stored."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from core.clock import as_utc
from core.db.models import Client, Conversation, Ticket
from core.dialogue.acts import Act, default_lexicon
from core.dialogue.classifier import KeywordClassifier, load_rules
from core.dialogue.forms import Forms
from core.dialogue.machine import step
from core.dialogue.model import (
    Deps,
    Event,
    EventKind,
    LeaveTicket,
    Outcome,
    Promise,
    Say,
    Snapshot,
    State,
    TicketView,
)
from core.settings import PROJECT_ROOT, DialogueSettings
from core.texts import Texts
from core.tickets.policies import format_duration
from core.wiring import Core
from tests.support.fakes import FakeChannel, inbound

CONFIG = PROJECT_ROOT / "config"
PROMISE = Promise("2 小时", "24 小时")
COMPLAINT = {
    "description": "冬季大促的信息流广告从上周开始就不跑量了",
    "project": "冬季大促-信息流",
    "since": None,
    "expected": None,
    "phone": "13800138000",
}
TIMING_QUESTIONS = [
    "要多久能处理好？",
    "要多久能处理好",
    "什么时候能给我答复",
    "多久有人联系我",
    "你们会打电话给我吗",
    "请问大概要多久能处理好？",
    "你好，请问多久能处理好",
    "btw 你们一般多久能回复？",
    "how long will this take",
    "When will someone get back to me?",
    "大概几天能搞定啊",
    "处理要几个工作日？",
    "今天能处理完吗",
    "提交之后多久能给答复？",
    "多久能有结果",
    "how many days does this usually take?",
    # What only asks around the question (see ActLexicon.asking_spans): "你们公司", "是不是", "what".
    "你们公司一般多久回复？",
    "是不是要多久才能处理好",
    "要等多久",
    "得等几天",
    "最快什么时候能好",
    "处理周期多长",
    "几天能出结果",
    "when will it be fixed?",
]


@pytest.fixture(scope="module")
def deps() -> Deps:
    return Deps(
        KeywordClassifier(load_rules(CONFIG / "keywords.yaml")),
        Forms.load(CONFIG / "forms.yaml"),
        Texts.load(CONFIG),
        DialogueSettings(),
        lexicon=default_lexicon(),
        today=date(2026, 12, 2),
    )


def say(text: str, snapshot: Snapshot, deps: Deps) -> Outcome:
    return step(snapshot, Event(EventKind.MESSAGE, text=text), deps)


def keys(outcome: Outcome) -> list[str]:
    return [e.key for e in outcome.effects if isinstance(e, Say)]


def asked_for(slot: str, **more: Any) -> Snapshot:
    """A complaint whose details up to `slot` are given, `slot` being asked."""
    names = list(COMPLAINT)
    slots = {k: v for k, v in COMPLAINT.items() if names.index(k) < names.index(slot)}
    return Snapshot(State.COLLECTING, "complaint", slots, {"asking": slot}, promise=PROMISE, **more)


@pytest.mark.parametrize("slot", ["description", "project", "since", "expected", "phone"])
@pytest.mark.parametrize("text", TIMING_QUESTIONS)
def test_a_timing_question_at_a_detail_is_answered_and_the_detail_asked_again(slot: str, text: str, deps: Deps) -> None:
    snapshot = asked_for(slot)
    outcome = say(text, snapshot, deps)
    assert outcome.state is State.COLLECTING
    assert outcome.slots == snapshot.slots, "the question is stored as no detail"
    assert outcome.context["asking"] == slot
    assert keys(outcome) == ["form.timing", "form.ask"]
    answer = next(e for e in outcome.effects if isinstance(e, Say))
    targets = "提交后，投诉类问题我们承诺在 2 小时内（工作时间）首次回复，一般在 24 小时内（工作时间）处理完毕。"
    assert answer.params == {"targets": targets}


def test_the_answer_names_the_targets_in_the_clients_words(deps: Deps) -> None:
    outcome = say("要多久能处理好？", asked_for("expected"), deps)
    shown = [deps.texts.get(e.key, "zh", **e.params) for e in outcome.effects if isinstance(e, Say)]
    assert shown[0].startswith(
        "提交后，投诉类问题我们承诺在 2 小时内（工作时间）首次回复，一般在 24 小时内（工作时间）处理完毕。"
    )
    assert shown[1] == "您希望我们如何处理？（可回复“跳过”）"
    snapshot = asked_for("expected", language="en")
    english = say("how long will this take?", replace(snapshot, promise=Promise("2 hours", "24 hours")), deps)
    shown = [deps.texts.get(e.key, "en", **e.params) for e in english.effects if isinstance(e, Say)]
    assert "first reply to this Complaint within 2 hours (business hours)" in shown[0]
    assert "resolve it within 24 hours (business hours)" in shown[0]


@pytest.mark.parametrize("text", TIMING_QUESTIONS)
def test_a_timing_question_at_the_summary_is_answered_and_the_summary_stands(text: str, deps: Deps) -> None:
    snapshot = Snapshot(State.CONFIRMING, "complaint", dict(COMPLAINT), {"summary_shown": True}, promise=PROMISE)
    outcome = say(text, snapshot, deps)
    assert outcome.state is State.CONFIRMING
    assert outcome.slots == COMPLAINT
    assert keys(outcome) == ["form.timing", "confirm.brief"]


@pytest.mark.parametrize("text", ["希望尽快处理，最好今天之内", "能不能今天处理好？"])
def test_the_outcome_wanted_by_a_time_is_the_outcome_not_a_timing_question(text: str, deps: Deps) -> None:
    outcome = say(text, asked_for("expected"), deps)
    assert "form.timing" not in keys(outcome)
    assert outcome.slots["expected"] == text


def test_a_question_of_when_about_more_than_the_handling_is_kept_with_the_issue(deps: Deps) -> None:
    outcome = say("广告什么时候能恢复？", asked_for("expected"), deps)
    assert "form.timing" not in keys(outcome)
    assert "广告什么时候能恢复？" in [*outcome.slots.values(), *outcome.context.get("side_questions", [])]


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ("退款，要多久？", "退款"),
        ("重开发票。大概多久能处理好", "重开发票"),
        ("refund please, how long will it take?", "refund please"),
    ],
)
def test_how_long_asked_beside_the_detail_is_answered_and_the_detail_kept(text: str, wanted: str, deps: Deps) -> None:
    outcome = say(text, asked_for("expected"), deps)
    assert keys(outcome)[0] == "form.timing_targets"
    assert outcome.slots["expected"] == wanted
    assert outcome.context["asking"] == "phone"


def test_how_long_asked_beside_a_change_at_the_summary_is_answered_and_the_change_made(deps: Deps) -> None:
    snapshot = Snapshot(State.CONFIRMING, "complaint", dict(COMPLAINT), {"summary_shown": True}, promise=PROMISE)
    outcome = say("电话改成13900139000，多久能有结果？", snapshot, deps)
    assert keys(outcome)[0] == "form.timing_targets"
    assert outcome.slots["phone"] == "13900139000"


def test_the_question_of_an_inquiry_is_its_answer_though_it_asks_when(deps: Deps) -> None:
    snapshot = Snapshot(State.COLLECTING, "inquiry", {"topic": "发票"}, {"asking": "question"}, promise=PROMISE)
    outcome = say("上个月的发票什么时候能开？", snapshot, deps)
    assert outcome.slots["question"] == "上个月的发票什么时候能开？"
    assert "form.timing" not in keys(outcome)


def test_how_long_a_ticket_filed_before_takes_is_its_status(deps: Deps) -> None:
    earlier = TicketView("KF-20261129-0001", "complaint", "investigating", None, "12-02 11:00", "12-04 17:00")
    outcome = say("上一个工单要多久能处理好？", asked_for("since", ticket=earlier), deps)
    assert keys(outcome) == ["progress.report", "form.ask"]
    assert outcome.slots == asked_for("since").slots


def test_asking_whether_someone_will_call_is_no_request_for_a_person(deps: Deps) -> None:
    assert say("你们会打电话给我吗", asked_for("since"), deps).state is State.COLLECTING


def test_timing_questions_are_status_questions_too() -> None:
    lexicon = default_lexicon()
    for text in TIMING_QUESTIONS:
        found = lexicon.recognize(text).found
        assert {Act.TIMING, Act.STATUS} <= found, text
        assert lexicon.only_asks_timing(text), text
    assert not lexicon.only_asks_timing("发票什么时候能开")


@pytest.mark.parametrize("text", ["要多久能处理好？", "多久有人联系我", "how long will this take"])
def test_asked_how_long_with_a_ticket_open_the_ticket_tells_both_deadlines(text: str, deps: Deps) -> None:
    view = TicketView("KF-20261202-0001", "complaint", "classified", None, "12-02 11:00", "12-07 10:30")
    snapshot = Snapshot(State.TICKET_OPEN, "complaint", dict(COMPLAINT), {"turn": 3}, has_ticket=True, ticket=view)
    outcome = say(text, snapshot, deps)
    report = next(e for e in outcome.effects if isinstance(e, Say))
    assert report.key == "progress.report"
    assert "12-02 11:00" in report.params["deadline"] and "12-07 10:30" in report.params["deadline"]
    assert not any(isinstance(e, LeaveTicket) for e in outcome.effects)
    # A question of how it is going, not how long: the next deadline only, as before.
    plain = next(e for e in say("处理得怎么样了", snapshot, deps).effects if isinstance(e, Say))
    assert "12-07 10:30" not in plain.params["deadline"]


def test_asked_how_long_once_answered_the_ticket_tells_when_and_how_long_it_is_resolved(deps: Deps) -> None:
    # The first answer given, the next deadline is the resolution's: said once, with how long resolving takes.
    view = TicketView("KF-20261202-0001", "complaint", "investigating", "小李", "12-07 10:30", "12-07 10:30", "24 小时")
    snapshot = Snapshot(State.TICKET_OPEN, "complaint", dict(COMPLAINT), {"turn": 3}, has_ticket=True, ticket=view)
    report = next(e for e in say("大概多久会有结果呢", snapshot, deps).effects if isinstance(e, Say))
    assert report.params["deadline"] == "预计在 12-07 10:30 前处理完毕（按工作时间计 24 小时内）。"


def test_business_time_is_promised_in_hours_not_days() -> None:
    # 24 hours of business time are three working days and more: "1 天（工作时间）" would read as one.
    assert format_duration(timedelta(hours=24), "zh") == "24 小时"
    assert format_duration(timedelta(hours=168), "en") == "168 hours"
    assert format_duration(timedelta(minutes=30), "zh") == "30 分钟"


# ---------------------------------------------------------------- through the engine: config/sla.yaml decides


async def test_the_answer_holds_the_targets_of_the_clients_tier_and_the_issues_category(core: Core) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    await core.engine.receive(inbound("我要投诉，你们的广告投放一直没效果", "m1"))
    await core.engine.receive(inbound("要多久能处理好？", "m2"))
    # Tier C, a complaint: P2 (config/sla.yaml), 120 minutes to the first reply and 24 hours to resolve.
    assert (
        "投诉类问题我们承诺在 2 小时内（工作时间）首次回复，一般在 24 小时内（工作时间）处理完毕" in channel.sent[-1][1]
    )
    assert "哪个广告项目" in channel.sent[-1][1], "the same question again"
    async with core.db.transaction() as session:
        (await session.execute(select(Client))).scalar_one().tier = "A"
    await core.engine.receive(inbound("什么时候能给我答复", "m3"))
    assert "30 分钟内（工作时间）首次回复，一般在 8 小时内（工作时间）处理完毕" in channel.sent[-1][1]
    async with core.db.transaction() as session:
        slots = (await session.execute(select(Conversation.slots))).scalar_one()
    assert "project" not in slots


async def test_asked_how_long_once_the_ticket_is_open_its_own_deadlines_answer(core: Core) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    messages = ["我要投诉，你们的广告投放一直没效果", "双十一活动", "跳过", "跳过", "13800138000", "1"]
    for i, text in enumerate(messages):
        await core.engine.receive(inbound(text, f"m{i}"))
    assert "已为您创建工单" in channel.sent[-1][1]
    await core.engine.receive(inbound("要多久能处理好？", "m9"))
    async with core.db.transaction() as session:
        ticket = (await session.execute(select(Ticket))).scalar_one()
    zone = ZoneInfo(core.settings.timezone)
    first, resolved = (
        as_utc(d).astimezone(zone).strftime("%m-%d %H:%M") for d in (ticket.first_response_due, ticket.resolution_due)
    )
    # Tier C, a complaint: P2, resolved within 24 hours of business time.
    told = f"我们承诺在 {first} 前答复您。预计在 {resolved} 前处理完毕（按工作时间计 24 小时内）。"
    assert told in channel.sent[-1][1]


# ---------------------------------------------------------------- before any issue is told


@pytest.mark.parametrize("text", ["你们一般多久能给答复", "多久回复啊？", "how long do you usually take to reply?"])
@pytest.mark.parametrize("state", [State.NEW, State.CLOSED])
def test_how_long_asked_before_any_issue_is_answered_and_nothing_is_opened(text: str, state: State, deps: Deps) -> None:
    outcome = say(text, Snapshot(state, promise=PROMISE), deps)
    assert outcome.state is state and outcome.category is None and not outcome.slots
    assert keys(outcome) == ["form.timing_general", "hours.anything_else"]


def test_how_long_asked_when_greeted_is_answered_and_the_menu_shown_again(deps: Deps) -> None:
    outcome = say("一般多久能处理好", Snapshot(State.GREETED, promise=PROMISE), deps)
    assert outcome.state is State.GREETED
    assert keys(outcome) == ["form.timing_general", "classify.ask"]


async def test_asked_before_any_issue_the_answer_holds_the_quickest_targets_of_the_tier(core: Core) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    await core.engine.receive(inbound("你们一般多久能给答复", "m1"))
    # Tier C: a complaint is P2 (config/sla.yaml), the quickest of its categories.
    assert "最快在 2 小时内（工作时间）首次回复、24 小时内（工作时间）处理完毕" in channel.sent[-1][1]
    async with core.db.transaction() as session:
        conversation = (await session.execute(select(Conversation))).scalar_one()
    assert conversation.state == State.NEW.value and conversation.category is None


# What happens next, asked inside the form: the targets say who answers and when.
WHAT_NEXT = ["提交以后会怎么处理？", "谁会联系我啊", "多久有结果", "what happens after I submit?", "提交後會怎麼處理"]


@pytest.mark.parametrize("slot", ["project", "since", "expected", "phone"])
@pytest.mark.parametrize("text", WHAT_NEXT)
def test_what_happens_next_asked_at_a_detail_is_answered_and_the_detail_asked_again(
    slot: str, text: str, deps: Deps
) -> None:
    snapshot = asked_for(slot)
    outcome = say(text, snapshot, deps)
    assert outcome.slots == snapshot.slots, "the question is stored as no detail"
    assert keys(outcome) == ["form.timing", "form.ask"]


@pytest.mark.parametrize("text", WHAT_NEXT)
def test_what_happens_next_asked_at_the_summary_submits_nothing(text: str, deps: Deps) -> None:
    snapshot = Snapshot(State.CONFIRMING, "complaint", dict(COMPLAINT), {"summary_shown": True}, promise=PROMISE)
    outcome = say(text, snapshot, deps)
    assert outcome.state is State.CONFIRMING
    assert keys(outcome) == ["form.timing", "confirm.brief"]
