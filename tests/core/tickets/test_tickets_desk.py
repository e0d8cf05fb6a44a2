"""Ticket desk end to end through the web chat: routing, assignment, SLA clocks, feedback, summaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from core.clock import ManualClock, as_utc
from core.db.models import Conversation, FollowUp, Notification, Ticket, TicketEvent
from core.tickets.lifecycle import TicketStatus, TransitionRequest
from handlers.services import Services
from tests.support.chat import TICKET_NO, Chat, texts_of
from tests.support.desk_setup import create_staff

# Friday 2026-12-04 16:00 in Shanghai.
FRIDAY_4PM = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


async def _open_complaint(chat: Chat) -> str:
    await chat.send("你们的信息流广告效果太差了，我要投诉")
    for answer in ("双十二开屏", "跳过", "跳过", "13800138000"):
        await chat.send(answer)
    replies = await chat.click("确认提交")
    number = TICKET_NO.search(texts_of(replies))
    assert number, texts_of(replies)
    return number.group(0)


async def _ticket(services: Services, number: str) -> Ticket:
    async with services.db.transaction() as session:
        return (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one()


async def _notifications(services: Services) -> list[tuple[int | None, str | None, str]]:
    async with services.db.transaction() as session:
        rows = await session.execute(select(Notification).order_by(Notification.id))
        return [(n.user_id, n.role, n.kind) for n in rows.scalars()]


async def _events(services: Services, ticket_id: int) -> list[str]:
    async with services.db.transaction() as session:
        rows = await session.execute(
            select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
        )
        return list(rows.scalars())


async def test_assignment_least_open_then_round_robin_and_head_notified(
    web: httpx.AsyncClient, services: Services, clock: ManualClock
) -> None:
    clock.set(FRIDAY_4PM)
    staff = await create_staff(services)
    numbers = []
    for _ in range(3):
        web.cookies.clear()
        numbers.append(await _open_complaint(Chat(web)))
    assignees = [(await _ticket(services, n)).assignee_id for n in numbers]
    # Equal load: the one assigned least recently (or never) gets the next ticket.
    assert assignees == [staff.reps[0], staff.reps[1], staff.reps[0]]
    ticket = await _ticket(services, numbers[0])
    assert ticket.status == "classified" and ticket.priority == "P2"
    notes = await _notifications(services)
    assert notes.count((staff.head, None, "new_ticket")) == 3
    assert notes.count((None, "rep", "new_ticket")) == 3


async def test_sla_warning_and_breach_across_a_weekend(
    web: httpx.AsyncClient, services: Services, clock: ManualClock
) -> None:
    clock.set(FRIDAY_4PM)
    staff = await create_staff(services)
    ticket = await _ticket(services, await _open_complaint(Chat(web)))
    # P2: 120 business minutes. Friday 16:00–18:00 uses them all: due Friday 18:00 Shanghai.
    assert ticket.first_response_due is not None
    assert as_utc(ticket.first_response_due) == datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    # Resolution: 24 business hours from Friday 16:00 → 2 h Fri, 7.5 h Mon and Tue, 7 h Wed → Wednesday 17:30.
    assert ticket.resolution_due is not None
    assert as_utc(ticket.resolution_due) == datetime(2026, 12, 9, 9, 30, tzinfo=UTC)
    clock.advance(timedelta(minutes=100))  # 17:40: 80 % of 120 min (96 min) has passed
    await services.followups.run_due()
    assert (staff.reps[0], None, "sla_warning") in await _notifications(services)
    assert "sla_breach" not in await _events(services, ticket.id)
    clock.set(datetime(2026, 12, 5, 2, 0, tzinfo=UTC))  # Saturday 10:00
    await services.followups.run_due()
    breached = await _ticket(services, ticket.number)
    assert breached.first_response_breached is True and breached.priority == "P1"
    notes = await _notifications(services)
    assert (staff.head, None, "sla_breach") in notes and (None, "supervisor", "sla_breach") in notes
    assert (await _events(services, ticket.id)).count("sla_breach") == 1
    await services.followups.run_due()
    assert (await _events(services, ticket.id)).count("sla_breach") == 1


async def test_sla_warning_comes_at_80_percent_of_the_clock_not_before(
    web: httpx.AsyncClient, services: Services, clock: ManualClock
) -> None:
    clock.set(FRIDAY_4PM)
    staff = await create_staff(services)
    ticket = await _ticket(services, await _open_complaint(Chat(web)))
    opened = clock.now()
    # P2's first response: 120 business minutes, all on Friday afternoon; 80 % of it is 96 minutes.
    for minutes in (1, 24, 30, 60, 95):
        clock.set(opened + timedelta(minutes=minutes))
        await services.followups.run_due()
        assert "sla_warning" not in await _events(services, ticket.id), f"warned after {minutes} of 120 minutes"
    assert (staff.reps[0], None, "sla_warning") not in await _notifications(services)
    clock.set(opened + timedelta(minutes=96))
    await services.followups.run_due()
    assert (await _events(services, ticket.id)).count("sla_warning") == 1
    assert (staff.reps[0], None, "sla_warning") in await _notifications(services)


async def test_first_response_stops_the_clock_and_waiting_for_the_client_pauses_it(
    web: httpx.AsyncClient, services: Services, clock: ManualClock
) -> None:
    clock.set(FRIDAY_4PM)
    staff = await create_staff(services)
    chat = Chat(web)
    ticket = await _ticket(services, await _open_complaint(chat))
    clock.advance(timedelta(minutes=30))
    await services.engine.claim(ticket.conversation_id, staff.reps[0])
    await services.engine.rep_reply(ticket.conversation_id, staff.reps[0], "请提供后台截图", await_client=True)
    assert "请提供后台截图" in texts_of(await chat.replies())
    paused = await _ticket(services, ticket.number)
    assert paused.first_response_at is not None and paused.sla_paused_at is not None
    # Monday 10:00 the client answers: the resolution clock had 23.5 business hours left.
    clock.set(datetime(2026, 12, 7, 2, 0, tzinfo=UTC))
    await chat.send("截图已发")
    resumed = await _ticket(services, ticket.number)
    assert resumed.sla_paused_at is None
    assert resumed.resolution_due is not None
    # 23.5 h from Monday 10:00: Mon 6.5 h, Tue 7.5 h, Wed 7.5 h → 2 h left on Thursday → Thursday 11:00.
    assert as_utc(resumed.resolution_due) == datetime(2026, 12, 10, 3, 0, tzinfo=UTC)
    assert {"first_response", "sla_paused", "sla_resumed"} <= set(await _events(services, ticket.id))


async def test_low_score_reopens_as_complaint_and_credits_the_resolver(
    web: httpx.AsyncClient, services: Services, clock: ManualClock
) -> None:
    clock.set(FRIDAY_4PM)
    staff = await create_staff(services)
    chat = Chat(web)
    ticket = await _ticket(services, await _open_complaint(chat))
    await services.engine.claim(ticket.conversation_id, staff.reps[0])
    await services.engine.resolve(ticket.conversation_id, "已补投 5000 次曝光", actor=f"user:{staff.reps[0]}")
    async with services.db.transaction() as session:
        row = await session.get(Ticket, ticket.id)
        assert row is not None
        row.assignee_id = staff.reps[1]  # reassigned after resolution
    await chat.replies()
    clock.advance(timedelta(minutes=31))
    await services.followups.run_due()
    assert "打分" in texts_of(await chat.replies())
    replies = await chat.send("1")
    assert "已重新打开" in texts_of(replies)
    reopened = await _ticket(services, ticket.number)
    assert reopened.status == "investigating" and reopened.category == "complaint"
    assert reopened.satisfaction == 1 and reopened.resolved_by_id == staff.reps[0]
    assert reopened.reopen_count == 1
    notes = await _notifications(services)
    assert (None, "supervisor", "low_score") in notes and (staff.reps[0], None, "low_score") in notes
    async with services.db.transaction() as session:
        conversation = await session.get(Conversation, ticket.conversation_id)
        assert conversation is not None and conversation.state == "ticket_open"


async def test_no_feedback_after_reminder_and_summary_reminder(
    web: httpx.AsyncClient, services: Services, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 12, 7, 2, 0, tzinfo=UTC))  # Monday 10:00
    staff = await create_staff(services)
    chat = Chat(web)
    ticket = await _ticket(services, await _open_complaint(chat))
    await services.engine.resolve(ticket.conversation_id, "已处理", actor=f"user:{staff.reps[1]}")
    await chat.replies()
    clock.advance(timedelta(minutes=31))
    await services.followups.run_due()
    assert "打分" in texts_of(await chat.replies())
    clock.advance(timedelta(hours=24))
    await services.followups.run_due()
    assert "满意吗" in texts_of(await chat.replies())
    assert (staff.reps[1], None, "summary_missing") in await _notifications(services)
    clock.advance(timedelta(hours=49))
    await services.followups.run_due()
    done = await _ticket(services, ticket.number)
    assert done.status == "feedback" and done.satisfaction is None
    async with services.db.transaction() as session:
        conversation = await session.get(Conversation, ticket.conversation_id)
        assert conversation is not None and conversation.state == "closed"
    # Step 6 closes it, with the summary.
    async with services.db.transaction() as session:
        row = await session.get(Ticket, ticket.id)
        assert row is not None
        request = TransitionRequest(TicketStatus.CLOSED, "user:1", root_cause="素材审核慢", improvement="提前送审")
        await services.desk.move(session, row, request, clock.now())
    assert (await _ticket(services, ticket.number)).status == "closed"


async def test_client_facing_follow_ups_wait_for_the_end_of_quiet_hours(
    web: httpx.AsyncClient, services: Services, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 12, 7, 13, 50, tzinfo=UTC))  # Monday 21:50 in Shanghai
    chat = Chat(web)
    await chat.send("我要投诉")
    async with services.db.transaction() as session:
        dues = (await session.execute(select(FollowUp.due_at, FollowUp.payload))).all()
    reminder = next(d for d, p in dues if p["timer"] == "idle_reminder")
    # Due 22:00 Shanghai (quiet) → 08:00 the next morning.
    assert as_utc(reminder) == datetime(2026, 12, 8, 0, 0, tzinfo=UTC)
    clock.advance(timedelta(minutes=30))
    await services.followups.run_due()
    assert await chat.replies() == []


async def test_sla_deadline_skips_the_national_day_holiday(
    web: httpx.AsyncClient, services: Services, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 9, 30, 9, 0, tzinfo=UTC))  # Wednesday 17:00 in Shanghai, before 国庆节
    ticket = await _ticket(services, await _open_complaint(Chat(web)))
    # P2, 120 business minutes: one hour on 30 September, then 1–7 October are days off → Thursday 8 Oct 10:00.
    assert as_utc(ticket.first_response_due) == datetime(2026, 10, 8, 2, 0, tzinfo=UTC)


async def test_one_complaint_walks_all_six_steps_of_the_agency_process(
    web: httpx.AsyncClient, services: Services, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 12, 7, 2, 0, tzinfo=UTC))  # Monday 10:00 in Shanghai
    staff = await create_staff(services)
    chat = Chat(web)
    rep = staff.reps[0]

    # 1 接收: the client's complaint becomes a ticket and the client is told its number.
    number = await _open_complaint(chat)
    ticket = await _ticket(services, number)
    assert ticket.title and "13800138000" in str(ticket.details), ticket.details

    # 2 初步判断: classified and routed, a rep assigned, the department head notified.
    assert (ticket.status, ticket.category, ticket.assignee_id) == ("classified", "complaint", rep)
    assert ticket.department_id is not None
    assert (staff.head, None, "new_ticket") in await _notifications(services)

    # 3 调查: the rep takes the conversation; the ticket is under investigation.
    await services.engine.claim(ticket.conversation_id, rep)
    assert (await _ticket(services, number)).status == "investigating"
    await chat.replies()

    # 4 处理: resolved with a solution, which the client receives.
    clock.advance(timedelta(minutes=20))
    await services.engine.resolve(ticket.conversation_id, "已补投 5000 次曝光", actor=f"user:{rep}")
    resolved = await _ticket(services, number)
    assert (resolved.status, resolved.solution) == ("resolved", "已补投 5000 次曝光")
    assert resolved.resolved_at is not None and resolved.resolved_by_id == rep
    assert "已补投 5000 次曝光" in texts_of(await chat.replies())

    # 5 反馈: the client is asked for a rating; the rating is recorded on the ticket.
    clock.advance(timedelta(minutes=31))
    await services.followups.run_due()
    assert "打分" in texts_of(await chat.replies())
    await chat.send("5")
    rated = await _ticket(services, number)
    assert (rated.status, rated.satisfaction) == ("feedback", 5) and rated.feedback_at is not None

    # 6 总结: closing needs the root cause and the improvement measure, and stores both.
    actor = f"user:{rep}"
    summary = TransitionRequest(TicketStatus.CLOSED, actor, root_cause="排期录入错误", improvement="排期双人复核")
    assert await services.engine.move_ticket(number, summary, by=rep) == "closed"
    closed = await _ticket(services, number)
    assert (closed.status, closed.root_cause, closed.improvement) == ("closed", "排期录入错误", "排期双人复核")
    assert closed.closed_at is not None

    # The ticket's history tells the six steps in the order they happened.
    assert await _events(services, ticket.id) == [
        "received",
        "classified",
        "claimed",
        "investigating",
        "resolved",
        "feedback",  # the status change
        "feedback",  # the score
        "closed",
    ]
    async with services.db.transaction() as session:
        rows = list(
            (
                await session.execute(
                    select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
                )
            ).scalars()
        )
    moves = [(e.before, e.after) for e in rows if e.before != e.after]
    assert moves == [
        (None, "received"),
        ("received", "classified"),
        ("classified", "investigating"),
        ("investigating", "resolved"),
        ("resolved", "feedback"),
        ("feedback", "closed"),
    ], moves
    score = next(e for e in rows if e.kind == "feedback" and e.before == e.after)
    assert score.data == {"rating": 5, "credited_to": rep}
    close = next(e for e in rows if e.kind == "closed")
    assert close.data["root_cause"] == "排期录入错误" and close.data["improvement"] == "排期双人复核"
