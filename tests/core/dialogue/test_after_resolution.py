"""After a rep resolves the ticket: the client's score in his own words, a problem that is back, thanks, a refusal."""

from __future__ import annotations

from datetime import date

import pytest

from core.dialogue.acts import default_lexicon
from core.dialogue.classifier import KeywordClassifier, load_rules
from core.dialogue.forms import Forms
from core.dialogue.machine import step
from core.dialogue.model import (
    Deps,
    Event,
    EventKind,
    LeaveTicket,
    Outcome,
    Say,
    Schedule,
    Snapshot,
    State,
    TicketNote,
    TicketView,
    TimerKind,
)
from core.settings import PROJECT_ROOT, DialogueSettings
from core.texts import Texts
from core.yaml_files import safe_load

CONFIG = PROJECT_ROOT / "config"
FILED = {"description": "抢购活动的链接点不开", "project": "抢购活动", "phone": "13800138000"}


@pytest.fixture(scope="module")
def deps() -> Deps:
    shipped = safe_load((CONFIG / "kefu.yaml").read_text(encoding="utf-8"))["dialogue"]
    return Deps(
        KeywordClassifier(load_rules(CONFIG / "keywords.yaml")),
        Forms.load(CONFIG / "forms.yaml"),
        Texts.load(CONFIG),
        DialogueSettings.model_validate(shipped),
        lexicon=default_lexicon(),
        today=date(2026, 12, 2),
    )


def say(text: str, state: State, deps: Deps, ticket: TicketView | None = None) -> Outcome:
    snapshot = Snapshot(state, "complaint", dict(FILED), {"turn": 7}, has_ticket=True, ticket=ticket)
    return step(snapshot, Event(EventKind.MESSAGE, text=text), deps)


def keys(outcome: Outcome) -> list[str]:
    return [e.key for e in outcome.effects if isinstance(e, Say)]


def notes(outcome: Outcome) -> dict[str, dict[str, object]]:
    return {e.kind: dict(e.data) for e in outcome.effects if isinstance(e, TicketNote)}


AFTER = (State.RESOLVED, State.AWAITING_FEEDBACK)


# ---------------------------------------------------------------- scores as clients write them


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("打10分", 5),
        ("10分", 5),
        ("给你们打8分吧", 4),
        ("9/10", 5),
        ("100分！", 5),
        ("十分满意", 5),
        ("十分不满意", 1),
        ("不是很满意", 2),
        ("好评", 5),
        ("还可以", 3),
        ("meh", 3),
        ("not really happy", 2),
        ("very disappointed", 1),
        ("👍", 4),
        ("👍🏻👍🏻", 4),
    ],
)
def test_scores_as_clients_write_them(text: str, score: int) -> None:
    assert default_lexicon().recognize(text).score == score


@pytest.mark.parametrize("text", ["25分", "3.5分", "等了15分钟", "好的👍收到", "6星"])
def test_numbers_that_are_no_score(text: str) -> None:
    assert default_lexicon().recognize(text).score is None


def test_a_score_out_of_ten_is_the_rating(deps: Deps) -> None:
    outcome = say("打10分", State.AWAITING_FEEDBACK, deps)
    assert outcome.state is State.FEEDBACK_COMMENT
    assert notes(outcome)["feedback"] == {"rating": 5}


@pytest.mark.parametrize("text", ["挺满意的", "good", "非常满意！！", "五星", "3分吧", "很好，谢谢"])
def test_a_score_alone_is_no_comment(text: str, deps: Deps) -> None:
    assert "feedback_comment" not in notes(say(text, State.AWAITING_FEEDBACK, deps))


@pytest.mark.parametrize(
    "text", ["非常满意，谢谢小王", "4分，处理速度可以但是沟通不太顺", "4 stars, fast but slow to reply"]
)
def test_words_beside_a_score_are_its_comment(text: str, deps: Deps) -> None:
    assert notes(say(text, State.AWAITING_FEEDBACK, deps))["feedback_comment"] == {"text": text}


# ---------------------------------------------------------------- the problem is back


@pytest.mark.parametrize("state", [*AFTER, State.FEEDBACK_COMMENT])
@pytest.mark.parametrize(
    "text",
    [
        "问题又出现了",
        "链接还是打不开",
        "你们说解决了但是数据还是不对",
        "广告又被下架了",
        "改了还是没生效",
        "it's still broken",
        "it happened again",
        "the issue is back",
    ],
)
def test_a_problem_that_is_back_reopens_the_ticket(text: str, state: State, deps: Deps) -> None:
    outcome = say(text, state, deps)
    assert outcome.state is State.TICKET_OPEN
    assert "reopened" in notes(outcome)
    assert keys(outcome) == ["ticket.reopened"]


@pytest.mark.parametrize("state", AFTER)
def test_a_fair_score_with_the_problem_back_is_no_rating(state: State, deps: Deps) -> None:
    outcome = say("还行吧，但是数据还是不对", state, deps)
    assert outcome.state is State.TICKET_OPEN
    assert "reopened" in notes(outcome) and "feedback" not in notes(outcome)


def test_a_low_score_with_the_problem_back_stays_a_low_score(deps: Deps) -> None:
    outcome = say("1分，问题又出现了", State.AWAITING_FEEDBACK, deps)
    assert outcome.state is State.TICKET_OPEN
    assert notes(outcome)["feedback"] == {"rating": 1}


@pytest.mark.parametrize(
    "text", ["还不错", "还是很满意的，谢谢", "thanks again", "又快又好，5分", "下次还是找你们", "still, great job"]
)
def test_praise_is_no_reopening(text: str, deps: Deps) -> None:
    outcome = say(text, State.AWAITING_FEEDBACK, deps)
    assert outcome.state is not State.TICKET_OPEN
    assert "reopened" not in notes(outcome)


@pytest.mark.parametrize("state", AFTER)
def test_a_problem_back_and_a_person_asked_for_reopens_for_a_person(state: State, deps: Deps) -> None:
    outcome = say("还是不行，找你们经理", state, deps)
    assert outcome.state is State.HUMAN_QUEUE
    assert {"reopened", "handoff"} <= set(notes(outcome))


# ---------------------------------------------------------------- thanks, ok, no score


@pytest.mark.parametrize(("text", "key"), [("谢谢", "feedback.welcome_ask"), ("好的", "feedback.ok_ask")])
def test_thanks_for_the_solution_brings_the_prompt_at_once(text: str, key: str, deps: Deps) -> None:
    outcome = say(text, State.RESOLVED, deps)
    assert outcome.state is State.AWAITING_FEEDBACK
    assert keys(outcome) == [key]
    timers = {e.timer for e in outcome.effects if isinstance(e, Schedule)}
    assert timers == {TimerKind.FEEDBACK_REMINDER, TimerKind.FEEDBACK_TIMEOUT}
    assert not notes(outcome)


@pytest.mark.parametrize("text", ["谢谢，再见", "好的谢谢", "thanks!"])
def test_thanks_at_the_prompt_is_no_comment(text: str, deps: Deps) -> None:
    outcome = say(text, State.AWAITING_FEEDBACK, deps)
    assert outcome.state is State.AWAITING_FEEDBACK
    assert keys(outcome) == ["feedback.welcome_ask"]
    assert not notes(outcome)


def test_other_words_at_the_prompt_are_a_comment(deps: Deps) -> None:
    outcome = say("回复得有点慢", State.AWAITING_FEEDBACK, deps)
    assert outcome.state is State.AWAITING_FEEDBACK
    assert notes(outcome)["feedback_comment"] == {"text": "回复得有点慢"}
    assert keys(outcome) == ["feedback.ask_again"]


@pytest.mark.parametrize("text", ["4分，不过下次能快一点吗", "4 stars, but could you be quicker next time?"])
def test_a_question_beside_a_score_is_its_comment(text: str, deps: Deps) -> None:
    outcome = say(text, State.AWAITING_FEEDBACK, deps)
    assert notes(outcome) == {"feedback": {"rating": 4}, "feedback_comment": {"text": text}}
    assert outcome.state is State.FEEDBACK_COMMENT


@pytest.mark.parametrize(
    "text", ["为什么回复这么慢？", "怎么这么久才处理？", "下次能快一点吗", "could you be quicker next time?"]
)
def test_a_question_of_the_handling_at_the_prompt_is_a_comment(text: str, deps: Deps) -> None:
    outcome = say(text, State.AWAITING_FEEDBACK, deps)
    assert notes(outcome) == {"feedback_comment": {"text": text}}
    assert keys(outcome) == ["feedback.ask_again"]
    assert not any(isinstance(e, LeaveTicket) for e in outcome.effects)


RESOLVED_VIEW = TicketView("KF-20261202-0001", "complaint", "resolved")


@pytest.mark.parametrize("state", [*AFTER, State.FEEDBACK_COMMENT])
@pytest.mark.parametrize(
    "text", ["发票什么时候能开？", "报价什么时候能发给我", "你们下周能出报告吗", "when can I get the invoice?"]
)
def test_a_question_about_another_matter_after_the_resolution_is_another_issue(
    text: str, state: State, deps: Deps
) -> None:
    outcome = say(text, state, deps, ticket=RESOLVED_VIEW)
    assert any(isinstance(e, LeaveTicket) for e in outcome.effects)
    assert keys(outcome)[0] == "ticket.new_issue"
    assert "progress.report" not in keys(outcome)
    assert not {"feedback_comment", "client_message"} & set(notes(outcome))


@pytest.mark.parametrize("state", [*AFTER, State.FEEDBACK_COMMENT])
@pytest.mark.parametrize(
    "text", ["处理好了吗", "怎么样了", "什么时候能好？", "工单什么时候能处理好", "之前提交的发票问题怎么样了"]
)
def test_a_question_of_the_tickets_handling_is_told_its_status(text: str, state: State, deps: Deps) -> None:
    outcome = say(text, state, deps, ticket=RESOLVED_VIEW)
    assert keys(outcome) == ["progress.report"]
    assert outcome.state is state


def test_a_question_about_the_tickets_own_matter_is_told_its_status(deps: Deps) -> None:
    filed = {**FILED, "description": "上个月的发票还没开"}
    snapshot = Snapshot(State.AWAITING_FEEDBACK, "complaint", filed, {"turn": 7}, has_ticket=True, ticket=RESOLVED_VIEW)
    outcome = step(snapshot, Event(EventKind.MESSAGE, text="发票什么时候能开？"), deps)
    assert keys(outcome) == ["progress.report"]


def test_an_open_tickets_status_is_told_whatever_matter_the_question_names(deps: Deps) -> None:
    view = TicketView("KF-20261202-0001", "complaint", "investigating")
    outcome = say("发票什么时候能开？", State.TICKET_OPEN, deps, ticket=view)
    assert keys(outcome) == ["progress.report"]


@pytest.mark.parametrize("text", ["不用评了", "没空", "算了", "不用了，谢谢", "no thanks, don't want to rate"])
def test_declining_to_score_ends_without_one(text: str, deps: Deps) -> None:
    outcome = say(text, State.AWAITING_FEEDBACK, deps)
    assert outcome.state is State.CLOSED
    assert {"feedback_declined", "feedback_missing"} <= set(notes(outcome))
    assert "feedback" not in notes(outcome)
    assert keys(outcome) == ["feedback.declined"]


# ---------------------------------------------------------------- after the score


def test_another_issue_after_the_score_is_no_comment(deps: Deps) -> None:
    outcome = say("还有个事要投诉 元宵节的广告用错了图片", State.FEEDBACK_COMMENT, deps)
    assert any(isinstance(e, LeaveTicket) for e in outcome.effects)
    assert outcome.state in {State.COLLECTING, State.CONFIRMING}


def test_a_suggestion_after_the_score_is_its_comment(deps: Deps) -> None:
    outcome = say("建议你们以后回复快一点，多配点人手", State.FEEDBACK_COMMENT, deps)
    assert outcome.state is State.CLOSED
    assert "feedback_comment" in notes(outcome)


def test_the_status_of_a_resolved_ticket_seeks_nobody(deps: Deps) -> None:
    view = TicketView("KF-20261202-0001", "complaint", "resolved")
    outcome = say("工单进度怎么样了", State.AWAITING_FEEDBACK, deps, ticket=view)
    report = next(e for e in outcome.effects if isinstance(e, Say) and e.key == "progress.report")
    assert report.params["holder"] == ""


def test_another_issue_announced_alone_after_the_score_comes_next(deps: Deps) -> None:
    announced = say("还有个事", State.FEEDBACK_COMMENT, deps)
    assert announced.state is State.FEEDBACK_COMMENT and not notes(announced)
    context = {**announced.context, "turn": int(announced.context["turn"]) + 1}
    snapshot = Snapshot(State.FEEDBACK_COMMENT, "complaint", dict(FILED), context, has_ticket=True)
    outcome = step(snapshot, Event(EventKind.MESSAGE, text="元宵节的广告用错了图片"), deps)
    assert any(isinstance(e, LeaveTicket) for e in outcome.effects)
    assert "feedback_comment" not in notes(outcome)
