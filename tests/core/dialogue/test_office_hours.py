"""Questions about when the agency works: recognised in clients' words, answered from the business calendar at the
moment asked, alone or beside an issue, and in the middle of a form."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from core.business_hours import BusinessCalendar
from core.dialogue.acts import Act, default_lexicon
from core.dialogue.classifier import KeywordClassifier, load_rules
from core.dialogue.forms import Forms
from core.dialogue.hours import right_now, schedule
from core.dialogue.machine import step
from core.dialogue.model import Deps, Event, EventKind, OpenTicket, Outcome, Say, Snapshot, State, TicketNote
from core.settings import PROJECT_ROOT, DialogueSettings
from core.texts import Texts

CONFIG = PROJECT_ROOT / "config"
SHANGHAI = ZoneInfo("Asia/Shanghai")
# 2026-12-07 is a Monday; 2026-10-01…07 are the National Day holidays.
MONDAY_MORNING = datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI)
WEEK = "我们的工作时间是周一至周五 09:00–12:00、13:30–18:00，周六、周日及法定节假日休息。"


@pytest.fixture(scope="module")
def deps() -> Deps:
    return Deps(
        KeywordClassifier(load_rules(CONFIG / "keywords.yaml")),
        Forms.load(CONFIG / "forms.yaml"),
        Texts.load(CONFIG),
        DialogueSettings(),
        lexicon=default_lexicon(),
        calendar=BusinessCalendar.load(CONFIG / "business_hours.yaml"),
    )


def at(deps: Deps, moment: datetime) -> Deps:
    """The dependencies of a turn at `moment` (the engine's clock)."""
    return replace(deps, now=moment, today=moment.date())


def say(text: str, snapshot: Snapshot, deps: Deps, moment: datetime = MONDAY_MORNING) -> Outcome:
    return step(snapshot, Event(EventKind.MESSAGE, text=text), at(deps, moment))


def keys(outcome: Outcome) -> list[str]:
    return [e.key for e in outcome.effects if isinstance(e, Say)]


def said(outcome: Outcome, deps: Deps, lang: str = "zh") -> str:
    return "".join(deps.texts.get(e.key, lang, **e.params) for e in outcome.effects if isinstance(e, Say))


def collecting() -> Snapshot:
    return Snapshot(State.COLLECTING, "complaint", {"description": "信息流广告不跑量了"}, {"asking": "project"})


# ---------------------------------------------------------------- recognising the question


@pytest.mark.parametrize(
    "text",
    [
        "几点上班",
        "请问你们几点下班？",
        "工作时间？",
        "你们的上班时间是几点到几点",
        "你们周末上班吗",
        "周六有人吗",
        "今天上班吗",
        "节假日有人吗",
        "还在上班吗",
        "客服几点下班",
        "幾點下班",
        "office hours?",
        "What are your business hours",
        "what time do you close?",
        "What time do you open tomorrow",
        "are you open on Saturday?",
        "周六能处理吗",
        "现在还有人吗",
        "这么晚还有人吗",
        "春节放假几天啊",
        "国庆几号上班",
        "are you open on Sunday",
    ],
)
def test_questions_about_the_hours_are_recognised(text: str) -> None:
    assert Act.HOURS in default_lexicon().recognize(text)


@pytest.mark.parametrize(
    "text",
    [
        "上班时间打电话没人接",
        "你们工作时间都不回消息的吗，我要投诉",
        "during business hours nobody picks up the phone",
        "are you open to suggestions about the report?",
        "我们的广告投放到几点结束",
    ],
)
def test_hours_words_that_tell_of_an_issue_ask_nothing(text: str) -> None:
    assert Act.HOURS not in default_lexicon().recognize(text)


@pytest.mark.parametrize(
    ("text", "rest"),
    [
        ("请问你们几点下班？我下午想过来一趟", "我下午想过来一趟"),
        ("我们的发票还没开，你们几点下班？", "我们的发票还没开"),
        ("您好，请问周六有人吗", "您好"),
        ("Hi, what time do you close? Our invoice is missing", "Hi, Our invoice is missing"),
    ],
)
def test_the_rest_of_a_message_is_what_it_says_besides_the_hours(text: str, rest: str) -> None:
    assert default_lexicon().without(text, Act.HOURS) == rest


# ---------------------------------------------------------------- the answer, from the calendar and the clock


@pytest.mark.parametrize(
    ("moment", "line"),
    [
        (MONDAY_MORNING, "现在是工作时间，今天 18:00 下班。"),
        (datetime(2026, 12, 7, 12, 30, tzinfo=SHANGHAI), "现在不在工作时间，今天 13:30 开始办公。"),
        (datetime(2026, 12, 7, 19, 0, tzinfo=SHANGHAI), "今天已经下班了，下一个工作时间是明天（周二）09:00。"),
        (datetime(2026, 12, 5, 11, 0, tzinfo=SHANGHAI), "今天休息，下一个工作时间是周一 09:00。"),
        (datetime(2026, 10, 2, 11, 0, tzinfo=SHANGHAI), "今天是法定节假日，我们休息，下一个工作时间是周四 09:00。"),
        # A Sunday made a workday (调休) keeps Monday's hours.
        (datetime(2026, 9, 20, 17, 0, tzinfo=SHANGHAI), "现在是工作时间，今天 18:00 下班。"),
        # A week and more away the date is said too: the weekday alone would be read as the coming one.
        (datetime(2026, 9, 30, 19, 0, tzinfo=SHANGHAI), "今天已经下班了，下一个工作时间是10月8日（周四）09:00。"),
    ],
)
def test_whether_the_agency_is_open_is_said_at_the_moment_asked(moment: datetime, line: str, deps: Deps) -> None:
    assert right_now(deps.calendar, moment, deps.texts, "zh") == line
    assert said(say("你们几点下班", Snapshot(State.NEW), deps, moment), deps).startswith(WEEK + line)


def test_the_hours_are_said_as_the_calendar_has_them(deps: Deps) -> None:
    calendar = BusinessCalendar.from_mapping(
        {
            "hours": {day: ["09:00-18:00"] for day in ("monday", "tuesday", "wednesday", "thursday", "friday")}
            | {"saturday": ["10:00-16:00"]},
            "holiday_source": "none",
        }
    )
    assert schedule(calendar, deps.texts, "zh") == "周一至周五 09:00–18:00；周六 10:00–16:00，周日休息"
    saturday = datetime(2026, 12, 5, 11, 0, tzinfo=SHANGHAI)
    assert right_now(calendar, saturday, deps.texts, "zh") == "现在是工作时间，今天 16:00 下班。"
    assert schedule(BusinessCalendar.always_open(), deps.texts, "zh") == "周一至周日 00:00–24:00"


def test_the_answer_in_english(deps: Deps) -> None:
    outcome = say("what time do you close?", Snapshot(State.NEW, language="en"), deps)
    assert said(outcome, deps, "en").startswith(
        "Our office hours are Monday to Friday 09:00–12:00, 13:30–18:00; closed on Saturday and Sunday and on public"
        " holidays. We are open now, until 18:00 today."
    )
    saturday = datetime(2026, 12, 5, 11, 0, tzinfo=SHANGHAI)
    assert (
        right_now(deps.calendar, saturday, deps.texts, "en") == "We are closed today; we open again on Monday at 09:00."
    )


# ---------------------------------------------------------------- the question alone opens nothing


@pytest.mark.parametrize(
    "text",
    [
        "请问你们几点下班？我下午想过来一趟",
        "我下午想过来一趟，你们几点下班",
        "在吗？今天上班吗",
        "客服几点下班",
        "office hours?",
        "晚上几点还能找到人啊",
        "节假日上班吗？元旦那几天有没有人",
        "周末有没有人",
        "hey what time do you guys close today",
        "do you guys work on weekends?",
        "中午有人吗",
        "几点以后就没人了",
    ],
)
def test_the_hours_asked_alone_are_answered_and_nothing_is_opened(text: str, deps: Deps) -> None:
    for state in (State.NEW, State.CLOSED):
        outcome = say(text, Snapshot(state), deps)
        assert outcome.state is state and outcome.category is None and not outcome.slots
        assert keys(outcome) == ["hours.answer", "hours.anything_else"]
        assert not any(isinstance(e, OpenTicket) for e in outcome.effects)
        assert "first_text" not in outcome.context and "issue_text" not in outcome.context


def test_after_the_hours_the_next_message_is_a_first_one(deps: Deps) -> None:
    first = say("你们几点下班？", Snapshot(State.NEW), deps)
    issue = say("我要投诉，信息流广告不跑量了", Snapshot(first.state, context=first.context), deps)
    assert issue.category == "complaint"
    assert issue.slots["description"] == "我要投诉，信息流广告不跑量了"


# ---------------------------------------------------------------- beside an issue: answered, then the issue as ever


@pytest.mark.parametrize(
    ("text", "alone"),
    [
        ("几点下班？我们的发票还没开", "我们的发票还没开"),
        ("你们几点下班，我要投诉，信息流广告从上周开始不跑量了", "我要投诉，信息流广告从上周开始不跑量了"),
    ],
)
def test_the_hours_beside_an_issue_are_answered_and_the_issue_goes_on(text: str, alone: str, deps: Deps) -> None:
    outcome = say(text, Snapshot(State.NEW), deps)
    plain = say(alone, Snapshot(State.NEW), deps)
    assert (outcome.state, outcome.category, outcome.slots) == (plain.state, plain.category, plain.slots)
    hello = ["greeting.hello"] if keys(plain)[:1] == ["greeting.hello"] else []
    assert keys(outcome) == [*hello, "hours.answer", *keys(plain)[len(hello) :]]


# ---------------------------------------------------------------- in the middle of the form and after


def test_the_hours_asked_aside_while_a_detail_is_asked_are_answered_and_the_question_stands(deps: Deps) -> None:
    outcome = say("对了，你们几点下班？", collecting(), deps)
    assert outcome.state is State.COLLECTING
    assert dict(outcome.slots) == {"description": "信息流广告不跑量了"}
    assert outcome.context["asking"] == "project"
    assert "side_questions" not in outcome.context
    assert keys(outcome) == ["hours.answer", "form.ask"]


def test_an_answer_given_with_the_hours_question_is_taken(deps: Deps) -> None:
    outcome = say("几点下班？项目是双十一大促", collecting(), deps)
    assert outcome.slots["project"] == "双十一大促"
    assert keys(outcome)[0] == "hours.answer"


def test_the_hours_asked_at_the_summary_submit_nothing(deps: Deps) -> None:
    filled = {"description": "信息流广告不跑量了", "project": "双十一", "phone": "13800138000"}
    snapshot = Snapshot(State.CONFIRMING, "complaint", filled, {"summary_shown": True})
    outcome = say("好的，你们几点下班？", snapshot, deps)
    assert outcome.state is State.CONFIRMING
    assert keys(outcome) == ["hours.answer", "confirm.brief"]


@pytest.mark.parametrize("state", [State.TICKET_OPEN, State.HUMAN_QUEUE, State.RESOLVED])
def test_the_hours_asked_with_a_ticket_are_answered_and_kept_for_the_rep(state: State, deps: Deps) -> None:
    outcome = say("今天还有人吗？几点下班", Snapshot(state, "complaint", has_ticket=True), deps)
    assert outcome.state is state
    assert keys(outcome) == ["hours.answer"]
    assert [e.kind for e in outcome.effects if isinstance(e, TicketNote)] == ["client_message"]


def test_the_bot_stays_silent_while_a_rep_holds_the_conversation(deps: Deps) -> None:
    outcome = say("你们几点下班？", Snapshot(State.WITH_REP, "complaint", has_ticket=True), deps)
    assert keys(outcome) == []


def test_the_hours_asked_in_english_during_the_form(deps: Deps) -> None:
    snapshot = replace(collecting(), language="en")
    outcome = say("btw what are your office hours?", snapshot, deps)
    assert keys(outcome) == ["hours.answer", "form.ask"]
    assert said(outcome, deps, "en").startswith("Our office hours are Monday to Friday")
