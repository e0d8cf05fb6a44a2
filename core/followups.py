"""Durable timers: FollowUp rows claimed atomically in batches and fired once, surviving restarts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Insert, Table, bindparam, literal, select, true, union_all
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock, as_utc
from core.db.models import FollowUp
from core.db.session import Database, carry
from core.leased_queue import LeasedQueue, linear

log = logging.getLogger(__name__)

FOLLOWUPS = cast(Table, FollowUp.__table__)
PENDING, RUNNING, DONE, FAILED, DROPPED = "pending", "running", "done", "failed", "dropped"
LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 5
RETRY_DELAY = timedelta(minutes=1)
# Due at due_at, claimed as "running"; a failed handler is retried 1, 2, 3 … minutes later.
QUEUE = LeasedQueue(
    FollowUp.id,
    FollowUp.status,
    FollowUp.attempts,
    FollowUp.lease_until,
    FollowUp.due_at,
    LEASE,
    MAX_ATTEMPTS,
    linear(RETRY_DELAY),
    claimed=RUNNING,
    done=DONE,
)

Handler = Callable[[FollowUp], Awaitable[None]]
BatchHandler = Callable[[list[FollowUp]], Awaitable[None]]
DropHook = Callable[[AsyncSession, FollowUp, datetime], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Timer:
    """One follow-up to schedule: fired once at `due_at`, unless one with the same key already exists."""

    kind: str
    target_id: int
    due_at: datetime
    key: str
    payload: Mapping[str, Any]


async def schedule(
    session: AsyncSession,
    *,
    kind: str,
    target_id: int,
    due_at: datetime,
    key: str,
    payload: Mapping[str, Any],
    now: datetime,
) -> None:
    """Add a follow-up unless one with the same idempotency key exists."""
    await schedule_many(session, [Timer(kind, target_id, due_at, key, payload)], now)


async def schedule_many(session: AsyncSession, timers: Sequence[Timer], now: datetime) -> None:
    """Add follow-ups, each unless one with its idempotency key exists, in one statement per 8 timers.

    The unique key decides (INSERT … ON CONFLICT DO NOTHING, on SQLite and PostgreSQL alike), so a turn's
    timers (an idle reminder and its timeout) cost one round trip together.
    """
    dialect = session.get_bind().dialect.name
    for start in range(0, len(timers), _MAX_ROWS):
        chunk = timers[start : start + _MAX_ROWS]
        result = await session.execute(_schedule_statement(dialect, len(chunk)), _schedule_params(chunk, now))
        if getattr(result, "rowcount", len(chunk)) != len(chunk):
            log.debug("some of follow-ups %s already scheduled", [t.key for t in chunk])


def _schedule_params(timers: Sequence[Timer], now: datetime) -> dict[str, Any]:
    params: dict[str, Any] = {"now": now}
    for i, timer in enumerate(timers):
        params.update(
            {
                f"kind_{i}": timer.kind,
                f"target_id_{i}": timer.target_id,
                f"due_at_{i}": timer.due_at,
                f"key_{i}": timer.key,
                f"payload_{i}": dict(timer.payload),
            }
        )
    return params


async def schedule_later(session: AsyncSession, timers: Sequence[Timer], now: datetime) -> None:
    """`schedule_many` for a turn, whose timers nothing reads before it commits: carried by its next write."""
    if not timers or len(timers) > _MAX_ROWS:
        await schedule_many(session, timers, now)
        return
    dialect = session.get_bind().dialect.name
    await carry(session, _schedule_statement(dialect, len(timers)), _schedule_params(timers, now))


# Every dialogue turn schedules its timers: the statement is built once per dialect and row count, not per call.
# Its rows come from a SELECT of parameters (INSERT … SELECT … UNION ALL SELECT …), not a multi-row VALUES:
# SQLAlchemy does not cache the compiled form of a multi-row VALUES, and compiling it cost more than running it.
_MAX_ROWS = 8
_SCHEDULE: dict[tuple[str, int], Insert] = {}
_SCHEDULED = ("kind", "target_id", "due_at", "status", "attempts", "idempotency_key", "payload", "created_at")


def _schedule_statement(dialect: str, rows: int) -> Insert:
    statement = _SCHEDULE.get((dialect, rows))
    if statement is None:
        insert = sqlite_insert if dialect == "sqlite" else pg_insert
        c = FOLLOWUPS.c
        now = bindparam("now", type_=c.created_at.type)
        status, attempts = literal(PENDING, c.status.type), literal(0, c.attempts.type)
        selects = [
            select(
                bindparam(f"kind_{i}", type_=c.kind.type),
                bindparam(f"target_id_{i}", type_=c.target_id.type),
                bindparam(f"due_at_{i}", type_=c.due_at.type),
                status,
                attempts,
                bindparam(f"key_{i}", type_=c.idempotency_key.type),
                bindparam(f"payload_{i}", type_=c.payload.type),
                now,
            )
            # SQLite reads "ON CONFLICT" after a SELECT as part of it unless the SELECT has a WHERE.
            .where(true())
            for i in range(rows)
        ]
        rows_selected = selects[0] if rows == 1 else union_all(*selects)
        statement = _SCHEDULE[(dialect, rows)] = (
            insert(FOLLOWUPS)
            .from_select(list(_SCHEDULED), rows_selected)
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
        )
    return statement


class LeaseLost(Exception):
    """Another runner took a follow-up over after this one's lease ran out: this turn must not commit."""


async def complete(session: AsyncSession, rows: Sequence[FollowUp], now: datetime) -> None:
    """Mark claimed follow-ups done in the transaction that carries their effect (the reminder's turn).

    One commit holds both, so a process killed at any moment leaves either neither (the row is claimed
    again once its lease ends) or both (nothing fires twice). (id, attempts) is the claim's fencing token:
    if a row was taken over meanwhile, LeaseLost rolls the whole turn back and the new holder fires it.
    """
    if not rows:
        return
    result = await session.execute(QUEUE.succeed([(r.id, r.attempts) for r in rows], done_at=now))
    if getattr(result, "rowcount", len(rows)) != len(rows):
        raise LeaseLost(f"follow-ups {[r.id for r in rows]} are no longer held by this runner")


def _by_kind(rows: list[FollowUp]) -> dict[str, list[FollowUp]]:
    grouped: dict[str, list[FollowUp]] = {}
    for row in rows:
        grouped.setdefault(row.kind, []).append(row)
    return grouped


class FollowUpRunner:
    """Claims due follow-ups and fires them through handlers by kind; jobs carry ids, never objects."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        handlers: Mapping[str, Handler],
        *,
        cutoff: timedelta = timedelta(hours=72),
        batch_handlers: Mapping[str, BatchHandler] | None = None,
        on_drop: DropHook | None = None,
        batch: int = 500,
        part: int = 100,
        concurrency: int = 8,
    ) -> None:
        self.db = db
        self.clock = clock
        self.handlers = dict(handlers)
        self.batch_handlers = dict(batch_handlers or {})
        self.cutoff = cutoff
        self.on_drop = on_drop
        self.batch = batch
        self.part = part
        self.concurrency = concurrency

    async def run_due(self) -> int:
        """Fire everything due now, batch by batch; returns how many fired successfully."""
        fired = 0
        gate = asyncio.Semaphore(self.concurrency)

        async def fire(row: FollowUp) -> tuple[FollowUp, str | None]:
            async with gate:
                return row, await self._fire(row)

        while True:
            claimed = await self.claim(self.batch)
            if not claimed:
                return fired
            outcomes: list[tuple[FollowUp, str | None]] = []
            singles: list[FollowUp] = []
            for kind, rows in _by_kind(claimed).items():
                if kind not in self.batch_handlers or len(rows) < 2:
                    singles.extend(rows)
                    continue
                # Handed over in parts: a part's turns commit (and send) together, so a smaller part holds
                # the process's live turns up for less time at each step, at a few statements more.
                for start in range(0, len(rows), self.part):
                    part = rows[start : start + self.part]
                    try:
                        await self.batch_handlers[kind](part)
                        outcomes.extend((row, None) for row in part)
                    except Exception:
                        # One bad row must not hold back the rest: retry the part row by row.
                        log.exception("batch of %s %s follow-ups failed; firing them one by one", len(part), kind)
                        singles.extend(part)
            outcomes.extend(await asyncio.gather(*(fire(row) for row in singles)))
            await self._settle(outcomes)
            fired += sum(1 for _, error in outcomes if error is None)
            if len(claimed) < self.batch:
                return fired

    async def claim(self, limit: int) -> list[FollowUp]:
        """Atomically take up to `limit` due rows: two runners never receive the same row.

        On PostgreSQL the inner SELECT skips rows another transaction has locked; SQLite has a
        single writer (BEGIN IMMEDIATE), so the same statement is atomic there too. Rows overdue
        past the cutoff are dropped instead: a long outage must not flood clients with stale reminders.
        """
        now = self.clock.now()
        async with self.db.transaction() as session:
            await self._drop_stale(session, now)
            rows = await session.execute(
                QUEUE.claim(now, order_by=(FollowUp.due_at, FollowUp.id), limit=limit).returning(FollowUp)
            )
            claimed = list(rows.scalars())
            for row in claimed:
                session.expunge(row)
        claimed.sort(key=lambda r: (as_utc(r.due_at), r.id))
        return claimed

    async def _drop_stale(self, session: AsyncSession, now: datetime) -> None:
        stale = (
            await session.execute(
                select(FollowUp)
                .where(FollowUp.status == PENDING, FollowUp.due_at < now - self.cutoff)
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            )
        ).scalars()
        for row in stale:
            row.status = DROPPED
            row.done_at = now
            row.last_error = f"overdue by more than {self.cutoff}"
            log.warning("follow-up %s (%s) dropped: overdue since %s", row.id, row.kind, row.due_at)
            if self.on_drop is not None:
                await self.on_drop(session, row, now)

    async def _fire(self, row: FollowUp) -> str | None:
        """Run the handler; the error text, or None on success."""
        handler = self.handlers.get(row.kind)
        if handler is None:
            return f"no handler for kind {row.kind!r}"
        try:
            await handler(row)
        except LeaseLost as exc:
            log.warning("follow-up %s (%s) not fired here: %s", row.id, row.kind, exc)
            return str(exc)
        except Exception as exc:
            log.exception("follow-up %s (%s) failed", row.id, row.kind)
            return f"{type(exc).__name__}: {exc}"
        return None

    async def _settle(self, outcomes: list[tuple[FollowUp, str | None]]) -> None:
        """Record a batch's outcomes in one transaction; only the holder of a claim may settle it.

        The handlers kefu registers mark their rows done in their own turn (`complete`); for them the
        success update here finds nothing left to do.
        """
        now = self.clock.now()
        done = [(row.id, row.attempts) for row, error in outcomes if error is None]
        async with self.db.transaction() as session:
            if done:
                await session.execute(QUEUE.succeed(done, done_at=now))
            for row, error in outcomes:
                if error is None:
                    continue
                verdict = QUEUE.failed_attempt(row.attempts, error, now, retry=row.kind in self.handlers)
                await session.execute(QUEUE.settle([(row.id, row.attempts)], verdict))
