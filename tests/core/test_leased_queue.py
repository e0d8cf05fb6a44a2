"""The leased work queue on its own: what is claimable, claims and their leases, fenced settling, backoff schedules."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.clock import ManualClock, as_utc
from core.db.models import FollowUp, Notification
from core.db.session import Database
from core.leased_queue import Backoff, LeasedQueue, Verdict, exponential, linear, stamp_once

LEASE = timedelta(seconds=60)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)
_KEYS = itertools.count()


def _queue(max_attempts: int = 3, *, due: bool = True, backoff: Backoff = exponential) -> LeasedQueue:
    """A queue over the follow-ups' table, as a test wants it."""
    f = FollowUp
    due_at = f.due_at if due else None
    return LeasedQueue(
        f.id, f.status, f.attempts, f.lease_until, due_at, LEASE, max_attempts, backoff, claimed="running", done="done"
    )


QUEUE = _queue()


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    yield database
    await database.dispose()


async def _add(
    db: Database, *due_at: datetime, status: str = "pending", lease_until: datetime | None = None
) -> list[int]:
    async with db.transaction() as session:
        rows = [
            FollowUp(
                kind="k",
                target_id=1,
                due_at=moment,
                status=status,
                attempts=0,
                lease_until=lease_until,
                idempotency_key=f"k-{next(_KEYS)}",
                payload={},
                created_at=T0,
            )
            for moment in due_at
        ]
        session.add_all(rows)
        await session.flush()
        return [r.id for r in rows]


async def _claim(db: Database, now: datetime, queue: LeasedQueue = QUEUE, limit: int | None = None) -> dict[int, int]:
    """The rows claimed now: id → attempts."""
    async with db.transaction() as session:
        statement = queue.claim(now, order_by=(FollowUp.id,), limit=limit).returning(FollowUp.id, FollowUp.attempts)
        return {row_id: attempts for row_id, attempts in (await session.execute(statement)).all()}


async def _row(db: Database, row_id: int) -> FollowUp:
    async with db.transaction() as session:
        row = await session.get(FollowUp, row_id)
        assert row is not None
        return row


# The schedules, without a database.


def test_the_exponential_backoff_doubles_from_one_second_with_a_quarter_of_jitter_and_stops_at_ten_minutes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("core.leased_queue.random.uniform", lambda low, high: low)
    shortest = [exponential(n).total_seconds() for n in range(0, 12)]
    assert shortest == [1, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600]
    monkeypatch.setattr("core.leased_queue.random.uniform", lambda low, high: high)
    longest = [exponential(n).total_seconds() for n in range(1, 12)]
    assert longest == [1.25, 2.5, 5, 10, 20, 40, 80, 160, 320, 600, 600]


def test_the_jitter_stays_between_the_bounds() -> None:
    for attempts in range(1, 12):
        delays = {exponential(attempts).total_seconds() for _ in range(50)}
        low = min(600.0, 2.0 ** (attempts - 1))
        assert all(low <= d <= min(600.0, low * 1.25) for d in delays)
        if low < 600:
            assert len(delays) > 1, "jitter spreads the retries of rows that failed together"


def test_a_longer_retry_after_wins_and_a_shorter_one_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("core.leased_queue.random.uniform", lambda low, high: low)
    assert exponential(3, 45.0) == timedelta(seconds=45)
    assert exponential(3, 3.0) == timedelta(seconds=4)
    assert exponential(12, 900.0) == timedelta(seconds=900), "the network's wait is not capped"


def test_the_linear_backoff_waits_one_step_more_per_attempt() -> None:
    step = linear(timedelta(minutes=1))
    assert [step(n, None) for n in (1, 2, 5)] == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=5)]
    assert step(2, 999.0) == timedelta(minutes=2), "no network asked for a wait"


# Verdicts and the columns they write.


def test_a_failed_attempt_waits_the_backoff_until_the_attempts_are_used_up() -> None:
    queue = _queue(3, backoff=linear(timedelta(seconds=10)))
    assert queue.failed_attempt(1, "e", T0) == Verdict("pending", 1, T0 + timedelta(seconds=10), "e")
    assert queue.failed_attempt(2, "e", T0, retry_after=99) == Verdict("pending", 2, T0 + timedelta(seconds=20), "e")
    assert queue.failed_attempt(3, "e", T0) == Verdict("failed", 3, None, "e")
    assert queue.failed_attempt(4, "e", T0) == Verdict("failed", 4, None, "e")
    assert queue.failed_attempt(1, "refused", T0, retry=False) == Verdict("failed", 1, None, "refused")


def test_a_longer_retry_after_of_a_failed_attempt_wins_over_the_exponential_backoff() -> None:
    assert QUEUE.failed_attempt(1, "e", T0, retry_after=45.0) == Verdict("pending", 1, T0 + timedelta(seconds=45), "e")


def test_a_given_back_attempt_is_not_counted() -> None:
    assert QUEUE.given_back(3, "slow down", T0, 7.5) == Verdict("pending", 2, T0 + timedelta(seconds=7.5), "slow down")
    assert QUEUE.given_back(0, "slow down", T0, 0.0) == Verdict("pending", 0, T0, "slow down")


def test_success_is_the_done_status_with_the_attempts_made() -> None:
    assert QUEUE.succeeded(2) == Verdict("done", 2)


def test_a_verdict_ends_the_lease_and_moves_the_due_time_only_for_a_retry() -> None:
    retry = Verdict("pending", 2, T0, "e")
    assert QUEUE.values(retry) == {
        "status": "pending",
        "attempts": 2,
        "lease_until": None,
        "last_error": "e",
        "due_at": T0,
    }
    assert QUEUE.values(Verdict("failed", 3, None, "e")) == {
        "status": "failed",
        "attempts": 3,
        "lease_until": None,
        "last_error": "e",
    }
    assert "due_at" not in _queue(due=False).values(retry), "a queue without a due column has none to move"


def test_what_is_claimable_in_a_row_already_read() -> None:
    before, after = T0 - TICK, T0 + TICK
    assert QUEUE.is_claimable("pending", before, None, T0)
    assert QUEUE.is_claimable("pending", T0, None, T0), "due now is due"
    assert not QUEUE.is_claimable("pending", after, None, T0)
    assert QUEUE.is_claimable("running", after, before, T0), "its holder's lease ran out"
    assert not QUEUE.is_claimable("running", before, T0, T0), "a lease ending now still holds"
    assert not QUEUE.is_claimable("running", before, None, T0)
    assert not QUEUE.is_claimable("done", before, None, T0)
    assert not QUEUE.is_claimable("failed", before, before, T0)
    assert not QUEUE.is_claimable("pending", None, None, T0), "a queue with due times needs one"
    always = _queue(due=False)
    assert always.is_claimable("pending", None, None, T0) and always.is_claimable("pending", after, None, T0)
    naive = T0.replace(tzinfo=None)
    assert QUEUE.is_claimable("pending", naive, None, T0), "SQLite gives naive UTC times back"


# Claims and settling on the database.


async def test_a_claim_takes_due_rows_and_lapsed_leases_and_nothing_else(db: Database) -> None:
    due, now_due, later = await _add(db, T0 - timedelta(hours=1), T0, T0 + TICK)
    (lapsed,) = await _add(db, T0 - timedelta(hours=1), status="running", lease_until=T0 - TICK)
    (held,) = await _add(db, T0 - timedelta(hours=1), status="running", lease_until=T0)
    (done,) = await _add(db, T0 - timedelta(hours=1), status="done")
    claimed = await _claim(db, T0)
    assert claimed == {due: 1, now_due: 1, lapsed: 1}
    row = await _row(db, due)
    assert row.status == "running" and as_utc(row.lease_until or T0) == T0 + LEASE
    assert (await _row(db, later)).status == "pending" and (await _row(db, done)).status == "done"
    assert as_utc((await _row(db, held)).lease_until or T0) == T0
    assert await _claim(db, T0) == {}, "a claimed row is not claimed twice"


async def test_a_claim_takes_the_oldest_first_up_to_its_limit(db: Database) -> None:
    ids = await _add(db, *(T0 - timedelta(minutes=m) for m in range(5)))
    first = await _claim(db, T0, limit=2)
    assert sorted(first) == ids[:2]
    assert sorted(await _claim(db, T0)) == ids[2:]


async def test_a_claim_narrowed_to_some_rows_takes_only_those(db: Database) -> None:
    first, second, third = await _add(db, T0, T0, T0)
    async with db.transaction() as session:
        statement = QUEUE.claim(T0, FollowUp.id.in_([first, third])).returning(FollowUp.id)
        assert sorted((await session.execute(statement)).scalars()) == [first, third]
    assert await _claim(db, T0) == {second: 1}


async def test_a_queue_without_a_due_column_claims_every_pending_row(db: Database) -> None:
    ids = await _add(db, T0 + timedelta(days=1), T0 - timedelta(days=1))
    assert sorted(await _claim(db, T0, _queue(due=False))) == ids


async def test_a_claim_whose_lease_runs_out_is_claimed_again_with_one_more_attempt(
    db: Database, clock: ManualClock
) -> None:
    clock.set(T0)
    (row_id,) = await _add(db, T0)
    assert await _claim(db, clock.now()) == {row_id: 1}
    clock.advance(LEASE)
    assert await _claim(db, clock.now()) == {}, "the lease still holds at its last moment"
    clock.advance(TICK)
    assert await _claim(db, clock.now()) == {row_id: 2}


async def test_only_the_current_holder_settles_a_claim(db: Database) -> None:
    (row_id,) = await _add(db, T0)
    await _claim(db, T0)
    taken_over = await _claim(db, T0 + LEASE + TICK)
    assert taken_over == {row_id: 2}
    async with db.transaction() as session:
        late = await session.execute(QUEUE.succeed([(row_id, 1)], done_at=T0))
        assert late.rowcount == 0  # type: ignore[attr-defined]
        stale = await session.execute(QUEUE.settle([(row_id, 1)], Verdict("failed", 1, None, "late")))
        assert stale.rowcount == 0  # type: ignore[attr-defined]
    row = await _row(db, row_id)
    assert (row.status, row.attempts, row.last_error) == ("running", 2, None)
    async with db.transaction() as session:
        await session.execute(QUEUE.succeed([(row_id, 2)], done_at=T0 + LEASE))
    row = await _row(db, row_id)
    assert (row.status, row.attempts, row.lease_until, row.last_error) == ("done", 2, None, None)
    assert as_utc(row.done_at or T0) == T0 + LEASE
    async with db.transaction() as session:
        again = await session.execute(QUEUE.succeed([(row_id, 2)], done_at=T0))
        assert again.rowcount == 0, "a settled claim is not ours any more"  # type: ignore[attr-defined]


async def test_a_retry_is_claimable_at_its_backoff_and_not_before(db: Database) -> None:
    (row_id,) = await _add(db, T0)
    queue = _queue(3, backoff=linear(timedelta(seconds=10)))
    await _claim(db, T0, queue)
    async with db.transaction() as session:
        await session.execute(queue.settle([(row_id, 1)], queue.failed_attempt(1, "timeout", T0)))
    row = await _row(db, row_id)
    assert (row.status, row.attempts, row.lease_until, row.last_error) == ("pending", 1, None, "timeout")
    assert await _claim(db, T0 + timedelta(seconds=10) - TICK, queue) == {}
    assert await _claim(db, T0 + timedelta(seconds=10), queue) == {row_id: 2}


async def test_the_backoff_schedule_counted_in_claims_with_a_fake_clock(db: Database, clock: ManualClock) -> None:
    """Every attempt fails: claims come 1, 2, 4, 8 s (+ jitter) apart, then the row has failed for good."""
    clock.set(T0)
    (row_id,) = await _add(db, T0)
    queue = _queue(5)
    claims: list[datetime] = []
    for _ in range(100):
        for attempts in (await _claim(db, clock.now(), queue)).values():
            claims.append(clock.now())
            async with db.transaction() as session:
                verdict = queue.failed_attempt(attempts, "timeout", clock.now())
                await session.execute(queue.settle([(row_id, attempts)], verdict))
        clock.advance(timedelta(milliseconds=250))
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(claims)]
    assert len(claims) == 5, "five attempts, then given up"
    for gap, shortest in zip(gaps, (1, 2, 4, 8), strict=True):
        assert shortest <= gap <= shortest * 1.25 + 0.25
    row = await _row(db, row_id)
    assert (row.status, row.attempts) == ("failed", 5)


async def test_concurrent_claimers_take_each_row_once(db: Database) -> None:
    ids = await _add(db, *(T0 - timedelta(seconds=s) for s in range(40)))
    taken = await asyncio.gather(*(_claim(db, T0, limit=7) for _ in range(8)))
    seen = [row_id for claim in taken for row_id in claim]
    assert sorted(seen) == sorted(ids), "every row once, none twice"


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_on_postgresql_a_claimer_skips_the_rows_another_is_claiming_instead_of_waiting(db: Database) -> None:
    ids = await _add(db, *(T0 - timedelta(seconds=s) for s in range(6)))
    async with db.transaction() as first:
        statement = QUEUE.claim(T0, order_by=(FollowUp.id,), limit=3).returning(FollowUp.id)
        mine = set((await first.execute(statement)).scalars())
        # The first claim's transaction is still open: its rows are locked, the rest are not.
        other = await asyncio.wait_for(_claim(db, T0), timeout=10)
    assert mine == set(sorted(ids)[:3]) and set(other) == set(sorted(ids)[3:])
    assert await _claim(db, T0) == {}


async def test_a_stamp_claims_its_row_once_and_no_other(db: Database) -> None:
    async with db.transaction() as session:
        notes = [Notification(role="admin", kind="k", text="t", data={}, created_at=T0) for _ in range(2)]
        session.add_all(notes)
        await session.flush()
        note_id, other_id = (n.id for n in notes)

    async def emailed() -> dict[int, datetime | None]:
        async with db.transaction() as session:
            rows = await session.execute(select(Notification.id, Notification.emailed_at))
            return {i: as_utc(at) if at else None for i, at in rows.all() if i in (note_id, other_id)}

    async with db.transaction() as session:
        assert await stamp_once(session, Notification.emailed_at, note_id, T0)
    assert await emailed() == {note_id: T0, other_id: None}
    async with db.transaction() as session:
        assert not await stamp_once(session, Notification.emailed_at, note_id, T0 + TICK)
        assert await stamp_once(session, Notification.telegram_sent_at, note_id, T0), "each stamp is its own"
        assert not await stamp_once(session, Notification.emailed_at, other_id + 1, T0), "no such row"
    assert await emailed() == {note_id: T0, other_id: None}
