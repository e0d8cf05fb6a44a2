"""The dialogue evaluation's own machinery: corpus loading, re-ask counting, judging, and the driver on the engine.

These check the driver, not the product's targets: the figures themselves come from `make eval`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.dialogue_driver import (
    Driver,
    ReaskTracker,
    Run,
    TicketView,
    asked_of,
    digits,
    judge,
)
from bench.dialogue_scenarios import ScenarioError, load_scenarios, parse_scenario
from bench.eval_dialogue import figures, transcript
from core.dialogue.model import State


def _scenario(**over: object) -> dict[str, object]:
    raw: dict[str, object] = {
        "id": "t1",
        "skills": ["phone_answer"],
        "client": {"category": "complaint", "facts": {"project": "冬季大促", "phone": "13800138000"}},
        "answers": {"project": "冬季大促", "phone": "13800138000", "confirm": ["不对", "确认"]},
        "script": ["冬季大促的信息流停了"],
        "expect": {"goal": "ticket", "category": "complaint", "details": {"phone": "13800138000"}},
    }
    raw.update(over)
    return raw


def test_the_corpus_loads_with_a_held_out_third() -> None:
    dev, heldout = load_scenarios("dev"), load_scenarios("heldout")
    assert len(dev) + len(heldout) >= 150
    assert len(heldout) >= 50 and len(heldout) * 3 >= len(dev + heldout) * 0.9
    assert not {s.id for s in dev} & {s.id for s in heldout}
    assert {s.category for s in dev} == {"complaint", "inquiry", "suggestion", "other"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"answers": {"telephone": "1"}}, "unknown names"),
        ({"expect": {"goal": "happy"}}, "goal"),
        ({"script": [{"at": "phone"}]}, "exactly one"),
        ({"script": [{"at": "fax", "say": "x"}]}, "at 'fax'"),
        ({"client": {"category": "praise"}}, "client.category"),
    ],
)
def test_a_malformed_scenario_is_refused_with_its_reason(change: dict[str, object], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(_scenario(**change), "dev")


def test_the_affirmation_is_the_last_confirm_answer_unless_the_goal_is_no_ticket() -> None:
    assert parse_scenario(_scenario(), "dev").affirmation == "确认"
    cancelled = _scenario(expect={"goal": "cancelled"})
    assert parse_scenario(cancelled, "dev").affirmation is None


def test_a_detail_in_an_earlier_message_or_answer_makes_the_next_ask_a_reask() -> None:
    tracker = ReaskTracker({"project": ("冬季大促",), "phone": ("13800138000",)})
    tracker.client_said("你们那个冬季大促的信息流又停了", None)
    assert tracker.bot_asks("project") is True, "the project was in the first message"
    assert tracker.bot_asks("phone") is False
    tracker.client_said("对了，发票能先开吗？", None)
    assert tracker.bot_asks("phone") is False, "a side question does not answer the phone"
    tracker.client_said("我电话 138 0013 8000", "phone")
    assert tracker.bot_asks("phone") is True, "the number given with spaces counts as given"
    tracker.client_said("不记得了", "since")
    assert tracker.bot_asks("since") is True, "asked again after the client answered it"
    assert tracker.bot_asks("confirm") is False and tracker.bot_asks(None) is False
    assert tracker.reasks == ["project", "phone", "since"]


def test_a_detail_the_client_calls_wrong_is_no_longer_given() -> None:
    tracker = ReaskTracker({"project": ("冬季大促",)})
    tracker.client_said("冬季大促的信息流停了", None)
    tracker.client_said("不对 项目名写错了", "confirm")
    assert not tracker.bot_asks("project")
    tracker.client_said("是冬季大促-信息流", "project")
    tracker.client_said("电话不对", "confirm")
    assert tracker.bot_asks("project")
    assert tracker.reasks == ["project"]


def test_what_the_bot_asks_comes_from_the_stored_state() -> None:
    assert asked_of(State.COLLECTING, {"asking": "phone"}) == "phone"
    assert asked_of(State.CONFIRMING, {"asking": "phone"}) == "confirm"
    assert asked_of(State.AWAITING_FEEDBACK, {}) == "score"
    assert asked_of(State.TICKET_OPEN, {"asking": "phone"}) is None
    assert digits("+86 138-0013-8000") == "13800138000"


def _run(raw: dict[str, object], *tickets: TicketView, state: str = "ticket_open", reply: str | None = None) -> Run:
    run = Run(parse_scenario(raw, "dev"), state=state, tickets=list(tickets), probe_reply=reply)
    judge(run)
    return run


def _ticket(category: str = "complaint", **details: str) -> TicketView:
    return TicketView("KF-20261129-0001", category, details, "received", False, None)


def test_judging_reads_the_tickets_category_and_details() -> None:
    assert _run(_scenario(), _ticket(phone="+86 138 0013 8000")).success
    wrong = _run(_scenario(), _ticket("inquiry", phone="13800138001"))
    assert not wrong.success and wrong.category_right is False
    assert "phone" in wrong.failures[0] and "category" in wrong.failures[0]
    assert not _run(_scenario(), state="confirming").success
    swallowed = _scenario(expect={"goal": "person", "absent": {"project": "经理"}})
    handed = TicketView("KF-20261129-0002", "other", {"project": "我要跟你们经理说"}, "received", True, None)
    assert _run(swallowed, handed, state="human_queue").failures == ["project holds '我要跟你们经理说'"]


def test_a_status_reply_must_name_the_ticket_and_its_status() -> None:
    status = _scenario(expect={"goal": "answered", "reply": ["status"], "tickets": 1})
    ticket = _ticket(phone="13800138000")
    canned = "已将您的补充信息记录到工单 KF-20261129-0001，负责同事会一并处理。"
    assert not _run(status, ticket, reply=canned).success
    assert _run(status, ticket, reply="工单 KF-20261129-0001 当前状态：调查中，由小李负责").success


def test_an_sla_reply_must_say_how_long_handling_takes() -> None:
    asked = _scenario(expect={"goal": "ticket", "reply": ["sla"]})
    ticket = _ticket(phone="13800138000")
    assert not _run(asked, ticket, reply="请留下联系电话，方便负责同事及时与您沟通。").success
    assert _run(asked, ticket, reply="提交后，投诉类问题我们承诺在 2 小时内（工作时间）首次回复").success
    assert _run(asked, ticket, reply="we usually resolve it within 24 hours (business hours)").success


def test_a_no_menu_reply_offers_no_category_menu() -> None:
    asked = _scenario(expect={"goal": "nothing", "reply": ["no_menu"]})
    assert not _run(
        asked, state="greeted", reply="请选择问题类别：\n请回复数字选择：1 咨询 · 2 投诉 · 3 建议 · 4 其他"
    ).success
    assert not _run(
        asked, state="greeted", reply="Reply with a number: 1 Inquiry · 2 Complaint · 3 Suggestion · 4 Other"
    ).success
    assert _run(asked, state="new", reply="您这个账号下暂时没有查到工单，请发来工单号或提交时留的手机号。").success


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """A few dev scenarios played once through the real engine."""
    import asyncio

    wanted = {"d001", "d070", "d081"}
    scenarios = [s for s in load_scenarios("dev") if s.id in wanted]

    async def play() -> dict[str, Run]:
        async with Driver.open(Path(tmp_path_factory.mktemp("eval"))) as driver:
            return {s.id: await driver.play(s) for s in scenarios}

    return asyncio.run(play())


def test_the_client_answers_what_the_bot_asks_with_the_scenarios_answer(played: dict[str, Run]) -> None:
    run = played["d001"]
    answers = run.scenario.answers
    answered = [line for line in run.lines if line.who == "client" and not line.scripted]
    assert answered, "the bot asked for at least the phone, which the first message lacks"
    for line in answered:
        assert line.asked is not None and line.asked in answers
        assert line.text in answers[line.asked]
    assert any(line.asked == "phone" and line.text == "13800138001" for line in answered)
    assert run.lines[0].who == "client" and run.lines[0].text == "双12大促投了一周了 一个转化都没有"
    assert any(line.who == "bot" for line in run.lines), "the bot's replies are in the transcript"
    assert run.turns == sum(line.who == "client" for line in run.lines) <= 12


def test_a_scripted_step_waits_for_its_slot(played: dict[str, Run]) -> None:
    run = played["d081"]
    lines = [line for line in run.lines if line.who == "client"]
    side = [line for line in lines if line.text == "对了，发票能先开吗？"]
    assert run.skipped_steps == 1 or (side and side[0].asked == "phone" and side[0].scripted)


def test_reasks_are_counted_from_the_transcript(played: dict[str, Run]) -> None:
    for run in played.values():
        assert len(run.reasks) == sum(line.reask for line in run.lines)
        given: set[str] = set()
        for line in run.lines:
            if line.who != "client":
                continue
            if line.asked in given and line.asked != "confirm":
                assert line.reask, (run.scenario.id, line)
            for slot, markers in run.scenario.facts.items():
                if any(m in line.text or (digits(m) and digits(m) in digits(line.text)) for m in markers):
                    given.add(slot)
            if not line.scripted and line.asked:
                given.add(line.asked)
    report = figures(list(played.values()))
    assert report.rows[0] == ("scenarios", "3")
    assert "client (" in transcript(played["d070"])
