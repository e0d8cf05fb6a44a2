"""The durable follow-up runner: exactly-once firing across restarts and concurrent runners, and the cutoff."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from core import followups
from core.clock import ManualClock, as_utc
from core.db.models import FollowUp, Ticket, TicketEvent
from core.db.session import Database
from core.followups import FollowUpRunner
from core.wiring import Core, build_core
from handlers.services import Services, build_services
from tests.support.chat import TICKET_NO, Chat, texts_of


async def _schedule(db: Database, clock: ManualClock, count: int, kind: str = "count", due_in: float = -1) -> None:
    now = clock.now()
    async with db.transaction() as session:
        for i in range(count):
            await followups.schedule(
                session,
                kind=kind,
                target_id=i,
                due_at=now + timedelta(minutes=due_in),
                key=f"{kind}:{i}",
                payload={"n": i},
                now=now,
            )


def _counting_runner(db: Database, clock: ManualClock, fired: Counter[int], **kwargs: object) -> FollowUpRunner:
    async def handler(row: FollowUp) -> None:
        await asyncio.sleep(0)  # yield so concurrent runners interleave
        fired[row.target_id] += 1

    return FollowUpRunner(db, clock, {"count": handler}, **kwargs)  # type: ignore[arg-type]


async def test_idempotency_key_schedules_once(core: Core, clock: ManualClock) -> None:
    await _schedule(core.db, clock, 3)
    await _schedule(core.db, clock, 3)
    async with core.db.transaction() as session:
        assert len((await session.execute(select(FollowUp))).all()) == 3


async def test_timers_already_scheduled_are_skipped_and_the_debug_log_names_them(
    core: Core, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="core.followups")
    await _schedule(core.db, clock, 2)
    assert [r.getMessage() for r in caplog.records if r.name == "core.followups"] == []
    await _schedule(core.db, clock, 1)
    assert [r.getMessage() for r in caplog.records if r.name == "core.followups"] == [
        "some of follow-ups ['count:0'] already scheduled"
    ]


async def test_restart_with_pending_follow_ups_fires_each_once(core: Core, clock: ManualClock) -> None:
    await _schedule(core.db, clock, 20)
    await _schedule(core.db, clock, 5, kind="later", due_in=60)
    fired: Counter[int] = Counter()
    first = _counting_runner(core.db, clock, fired, batch=7)
    claimed = await first.claim(7)  # this instance dies holding 7 claims
    assert len(claimed) == 7
    await core.stop()

    again = build_core(core.settings, clock)
    try:
        runner = _counting_runner(again.db, clock, fired, batch=7)
        assert await runner.run_due() == 13  # the 7 dead claims wait for their lease
        clock.advance(timedelta(minutes=3))
        assert await runner.run_due() == 7
        assert await runner.run_due() == 0
    finally:
        await again.stop()
    assert sorted(fired) == list(range(20)) and set(fired.values()) == {1}


async def test_two_runners_fire_a_thousand_follow_ups_exactly_once(core: Core, clock: ManualClock) -> None:
    await _schedule(core.db, clock, 1000)
    other = Database(core.settings.database_url)
    fired: Counter[int] = Counter()
    try:
        runners = [
            _counting_runner(core.db, clock, fired, batch=50),
            _counting_runner(other, clock, fired, batch=50),
        ]
        counts = await asyncio.gather(*(r.run_due() for r in runners))
    finally:
        await other.dispose()
    assert sum(counts) == 1000
    assert len(fired) == 1000 and set(fired.values()) == {1}
    async with core.db.transaction() as session:
        statuses = Counter((await session.execute(select(FollowUp.status))).scalars())
    assert statuses == {"done": 1000}


async def test_failing_handler_retries_then_fails_visibly(core: Core, clock: ManualClock) -> None:
    await _schedule(core.db, clock, 1)
    calls = 0

    async def broken(row: FollowUp) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("boom")

    runner = FollowUpRunner(core.db, clock, {"count": broken})
    for _ in range(8):
        await runner.run_due()
        clock.advance(timedelta(minutes=10))
    async with core.db.transaction() as session:
        row = (await session.execute(select(FollowUp))).scalar_one()
    assert calls == followups.MAX_ATTEMPTS
    assert row.status == "failed" and row.last_error == "RuntimeError: boom"


async def test_follow_ups_past_the_cutoff_are_dropped_and_recorded(
    web: object, services: Services, clock: ManualClock
) -> None:
    import httpx

    assert isinstance(web, httpx.AsyncClient)
    chat = Chat(web)
    await chat.send("人工")  # opens a ticket in the human queue
    number = TICKET_NO.search(texts_of(await chat.history()))
    assert number
    clock.advance(timedelta(days=30))  # the service was down for a month
    await services.followups.run_due()
    cutoff = clock.now() - timedelta(hours=services.settings.followup_cutoff_hours)
    async with services.db.transaction() as session:
        rows = (await session.execute(select(FollowUp))).scalars().all()
        ticket = (await session.execute(select(Ticket).where(Ticket.number == number.group(0)))).scalar_one()
        kinds = (await session.execute(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id))).scalars()
        dropped_events = [k for k in kinds if k == "followup_dropped"]
    dropped = [r for r in rows if r.status == "dropped"]
    assert dropped and all(as_utc(r.due_at) < cutoff for r in dropped)
    assert all(as_utc(r.due_at) >= cutoff for r in rows if r.status == "pending")
    assert not [r for r in rows if r.status == "done" and as_utc(r.due_at) < cutoff], "nothing stale fired"
    assert len(dropped_events) == len(dropped), "each drop is recorded on the ticket"


class Killed(BaseException):
    """The process dies here: no handler of ours catches it, the open transaction is rolled back."""


REMINDER = "您还在吗"


async def _waiting_visitors(web: object, count: int) -> list[Chat]:
    import httpx

    assert isinstance(web, httpx.AsyncClient)
    chats = []
    for _ in range(count):
        web.cookies.clear()  # a new visitor each time
        chat = Chat(web)
        await chat.send("我要投诉")
        chats.append(chat)
    return chats


async def _reminders_per_conversation(db: Database) -> Counter[int]:
    from core.db.models import Message

    async with db.transaction() as session:
        rows = await session.execute(
            select(Message.conversation_id).where(Message.direction == "out", Message.text.contains(REMINDER))
        )
        return Counter(rows.scalars())


@pytest.mark.parametrize("boundary", ["after_claim", "before_commit", "after_commit", "after_settle"])
async def test_a_worker_killed_at_any_step_never_fires_a_reminder_twice(
    web: object, services: Services, clock: ManualClock, boundary: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _waiting_visitors(web, 6)
    clock.advance(timedelta(minutes=11))
    dying = services.followups
    if boundary == "after_claim":
        assert len(await dying.claim(dying.batch)) > 0
    else:
        if boundary == "before_commit":
            real_complete = followups.complete

            async def complete_then_die(*args: object) -> None:
                await real_complete(*args)  # type: ignore[arg-type]
                raise Killed

            monkeypatch.setattr(followups, "complete", complete_then_die)
        elif boundary == "after_commit":
            # The turns committed; the process dies before the runner records its outcomes.
            monkeypatch.setattr(dying, "_settle", _die)
        if boundary == "after_settle":
            await dying.run_due()
        else:
            with pytest.raises(Killed):
                await dying.run_due()
        monkeypatch.undo()
    # Another worker takes over once the dead one's leases have run out.
    clock.advance(followups.LEASE + timedelta(seconds=1))
    other = build_services(services.settings, clock)
    try:
        await other.followups.run_due()
    finally:
        await other.stop()
    counts = await _reminders_per_conversation(services.db)
    assert len(counts) == 6 and set(counts.values()) == {1}, counts


async def _die(*_args: object) -> None:
    raise Killed


async def test_a_late_worker_whose_claim_was_taken_over_does_not_fire_again(
    web: object, services: Services, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    await _waiting_visitors(web, 3)
    clock.advance(timedelta(minutes=11))
    slow = services.followups
    claimed = await slow.claim(slow.batch)  # then the slow worker stalls past its lease
    clock.advance(followups.LEASE + timedelta(seconds=1))
    other = build_services(services.settings, clock)
    try:
        assert await other.followups.run_due() == len(claimed)
    finally:
        await other.stop()
    # The stalled worker wakes up and fires what it had claimed: the turns roll back, nothing is sent.
    caplog.set_level(logging.WARNING, logger="core.followups")
    for row in claimed:
        assert await slow._fire(row) is not None
    lost = [f"follow-ups [{r.id}] are no longer held by this runner" for r in claimed]
    assert [r.getMessage() for r in caplog.records if r.name == "core.followups"] == [
        f"follow-up {r.id} ({r.kind}) not fired here: {why}" for r, why in zip(claimed, lost, strict=True)
    ]
    await slow._settle([(row, "late") for row in claimed])
    counts = await _reminders_per_conversation(services.db)
    assert len(counts) == 3 and set(counts.values()) == {1}, counts
    async with services.db.transaction() as session:
        statuses = set(
            (await session.execute(select(FollowUp.status).where(FollowUp.kind == "dialogue_timeout"))).scalars()
        )
    assert "running" not in statuses


async def test_a_batch_handler_gets_each_kinds_claimed_rows_in_parts_and_a_failed_part_fires_row_by_row(
    core: Core, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    await _schedule(core.db, clock, 1, kind="alone")
    await _schedule(core.db, clock, 5)
    parts: list[list[int]] = []
    singles: list[tuple[str, int]] = []

    async def single(row: FollowUp) -> None:
        singles.append((row.kind, row.target_id))

    async def in_parts(rows: list[FollowUp]) -> None:
        parts.append([r.target_id for r in rows])
        if len(parts) == 2:
            raise RuntimeError("bad part")

    runner = FollowUpRunner(
        core.db,
        clock,
        {"count": single, "alone": single},
        batch_handlers={"count": in_parts, "alone": in_parts},
        batch=4,
        part=2,
    )
    caplog.set_level(logging.ERROR, logger="core.followups")
    assert await runner.run_due() == 6
    # Claimed four at a time, the earliest first: two of a kind or more are a batch, one alone goes to its handler.
    assert parts == [[0, 1], [2], [3, 4]]
    assert sorted(singles) == [("alone", 0), ("count", 2)]
    assert [r.getMessage() for r in caplog.records if r.name == "core.followups"] == [
        "batch of 1 count follow-ups failed; firing them one by one"
    ]


async def test_the_earliest_due_follow_up_is_claimed_first_and_completing_it_records_when(
    core: Core, clock: ManualClock
) -> None:
    now = clock.now()
    async with core.db.transaction() as session:
        for key, minutes in (("later", -1), ("earlier", -5)):
            timer = followups.Timer("count", 0, now + timedelta(minutes=minutes), key, {})
            await followups.schedule_many(session, [timer], now)
    runner = FollowUpRunner(core.db, clock, {})
    [first] = await runner.claim(1)
    assert first.idempotency_key == "earlier"
    clock.advance(timedelta(seconds=5))
    async with core.db.transaction() as session:
        await followups.complete(session, [first], clock.now())
    async with core.db.transaction() as session:
        row = await session.get(FollowUp, first.id)
    assert row is not None and row.status == "done"
    assert row.done_at is not None and as_utc(row.done_at) == clock.now()


async def _rows_by_key(db: Database) -> dict[str, FollowUp]:
    async with db.transaction() as session:
        return {r.idempotency_key: r for r in (await session.execute(select(FollowUp))).scalars()}


async def _add(db: Database, clock: ManualClock, *timers: tuple[str, str, timedelta]) -> None:
    now = clock.now()
    async with db.transaction() as session:
        await followups.schedule_many(
            session, [followups.Timer(k, 0, now + due, key, {}) for k, key, due in timers], now
        )


async def test_only_pending_follow_ups_overdue_by_more_than_the_cutoff_are_dropped(
    core: Core, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    fired: Counter[int] = Counter()
    runner = _counting_runner(core.db, clock, fired, cutoff=timedelta(hours=1))
    await _add(core.db, clock, ("count", "done", timedelta(minutes=-1)))
    assert await runner.run_due() == 1
    clock.advance(timedelta(hours=2))
    await _add(
        core.db,
        clock,
        ("count", "stale", -timedelta(hours=1, seconds=1)),
        ("count", "edge", -timedelta(hours=1)),
    )
    caplog.set_level(logging.WARNING, logger="core.followups")
    assert await runner.run_due() == 1, "overdue by exactly the cutoff still fires"
    rows = await _rows_by_key(core.db)
    assert {key: r.status for key, r in rows.items()} == {"done": "done", "stale": "dropped", "edge": "done"}
    stale = rows["stale"]
    assert stale.done_at is not None and as_utc(stale.done_at) == clock.now()
    assert stale.last_error == "overdue by more than 1:00:00"
    assert [r.getMessage() for r in caplog.records if r.name == "core.followups"] == [
        f"follow-up {stale.id} (count) dropped: overdue since {stale.due_at}"
    ]


async def test_each_outcome_of_a_batch_is_recorded_and_a_kind_without_handler_fails_at_once(
    core: Core, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(row: FollowUp) -> None:
        if row.idempotency_key != "ok":
            raise RuntimeError("boom")

    minute = timedelta(minutes=-1)
    await _add(core.db, clock, ("count", "boom1", minute), ("count", "boom2", minute), ("count", "ok", minute))
    await _add(core.db, clock, ("orphan", "orphan", minute))
    caplog.set_level(logging.ERROR, logger="core.followups")
    assert await FollowUpRunner(core.db, clock, {"count": handler}).run_due() == 1
    rows = await _rows_by_key(core.db)
    outcomes = {key: (r.status, r.attempts, r.last_error) for key, r in rows.items()}
    assert outcomes == {
        "boom1": ("pending", 1, "RuntimeError: boom"),
        "boom2": ("pending", 1, "RuntimeError: boom"),
        "ok": ("done", 1, None),
        "orphan": ("failed", 1, "no handler for kind 'orphan'"),
    }
    done_at = rows["ok"].done_at
    assert done_at is not None and as_utc(done_at) == clock.now()
    assert sorted(r.getMessage() for r in caplog.records if r.name == "core.followups") == [
        f"follow-up {rows[key].id} (count) failed" for key in ("boom1", "boom2")
    ]


@pytest.mark.parametrize("count", [1, 8, 9, 12])
async def test_a_turns_timers_are_stored_once_each_however_many_and_the_statements_kept_stay_few(
    core: Core, clock: ManualClock, count: int
) -> None:
    now = clock.now()
    timers = [followups.Timer("count", i, now + timedelta(minutes=i), f"turn:{i}", {"n": i}) for i in range(count)]
    for _ in range(2):  # the same timers again: nothing new
        async with core.db.transaction() as session:
            await followups.schedule_later(session, timers, now)
    rows = await _rows_by_key(core.db)
    assert sorted(rows) == sorted(t.key for t in timers)
    for timer in timers:
        row = rows[timer.key]
        assert (row.target_id, as_utc(row.due_at), row.payload, row.status) == (
            timer.target_id,
            timer.due_at,
            {"n": timer.target_id},
            "pending",
        )
    # One statement is kept per dialect and row count, up to a bound: more timers than that take another path.
    assert all(rows_in_statement <= followups._MAX_ROWS for _, rows_in_statement in followups._SCHEDULE)
