"""One leased work queue over a table's rows: what is claimable, the claim, the settling, and the backoff schedules.

The outbox, the follow-ups, the reps' group posts and the weekly-report deliveries share one life of a row:
pending (due at a time) → claimed with a lease (status "sending" or "running", lease_until, attempts + 1)
→ done, pending again after a backoff, or given up. A claim whose holder died is claimable again once its
lease has run out; (id, attempts) is the claim's fencing token, so a holder whose lease was taken over
settles nothing. This module builds those statements and decisions; each queue keeps its own transactions,
because they differ where it matters: the outbox settles a batch's sends and claims the next heads of
their conversations in one transaction (a statement per send would cost every reply), a follow-up is
completed inside the turn that carries its effect.

The claim is one UPDATE whose rows come from a SELECT … FOR UPDATE SKIP LOCKED: on PostgreSQL two claimers
never wait on each other's rows nor take the same row; SQLite has a single writer (BEGIN IMMEDIATE), so the
same statement (FOR UPDATE is not rendered there) is atomic too.

Not leased queues, and kept apart on purpose:
- the reps' forum topics: a claim only pushes next_attempt_at forward and the status changes when Telegram
  has made the topic, so they share the backoff schedule only;
- the notification claimers (Telegram to heads, e-mail): a notification is a courtesy copy sent at most
  once, claimed by stamping a timestamp with no lease to run out; `stamp_once` is that one claim.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Table, Update, bindparam, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from core.clock import as_utc

# How long to wait before the next attempt, from the attempts made so far and the network's retry_after.
Backoff = Callable[[int, float | None], timedelta]


def exponential(attempts: int, retry_after: float | None = None) -> timedelta:
    """Exponential backoff with jitter, capped at 10 minutes; the network's own retry_after wins when longer."""
    # Jitter spreads the retries of many rows that failed together (an API outage) over time.
    delay = min(600.0, 2.0 ** max(0, attempts - 1) * random.uniform(1.0, 1.25))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return timedelta(seconds=delay)


def linear(step: timedelta) -> Backoff:
    """`step` more for each attempt made (1, 2, 3 … steps): for work that is not talking to a rate-limited API."""

    def delay(attempts: int, retry_after: float | None = None) -> timedelta:
        return step * attempts

    return delay


@dataclass(frozen=True, slots=True)
class Verdict:
    """How a claim ends: the row's next status and attempts, when it is due again, and why it did not succeed."""

    status: str
    attempts: int
    retry_at: datetime | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class LeasedQueue:
    """A table's rows as a leased work queue: the columns that carry it, its statuses, lease and retry rule."""

    id: InstrumentedAttribute[int]
    status: InstrumentedAttribute[str]
    attempts: InstrumentedAttribute[int]
    lease_until: InstrumentedAttribute[datetime | None]
    # When a pending row is due; None: a pending row is always due (the periodic tick is the pace).
    due: InstrumentedAttribute[datetime] | None
    lease: timedelta
    max_attempts: int
    backoff: Backoff = field(default=exponential)
    pending: str = "pending"
    claimed: str = "sending"
    done: str = "sent"
    failed: str = "failed"

    def claimable(self, now: datetime) -> ColumnElement[bool]:
        """Due and unclaimed, or claimed by a holder whose lease has run out."""
        waiting = self.status == self.pending
        if self.due is not None:
            waiting = waiting & (self.due <= now)
        return or_(waiting, (self.status == self.claimed) & (self.lease_until < now))

    def is_claimable(self, status: str, due: datetime | None, lease_until: datetime | None, now: datetime) -> bool:
        """`claimable` for a row already read (the heads of the outbox's conversations, of the group's topics)."""
        if status == self.claimed:
            return lease_until is not None and as_utc(lease_until) < now
        return status == self.pending and (self.due is None or (due is not None and as_utc(due) <= now))

    def claim(
        self,
        now: datetime,
        *where: ColumnElement[bool],
        order_by: Sequence[Any] = (),
        limit: int | None = None,
    ) -> Update:
        """The UPDATE that takes claimable rows (narrowed by `where`) with a lease; add .returning(...) to read them."""
        rows = select(self.id).where(self.claimable(now), *where).order_by(*order_by)
        if limit is not None:
            rows = rows.limit(limit)
        return (
            update(self.id.class_)
            .where(self.id.in_(rows.with_for_update(skip_locked=True).scalar_subquery()))
            .values({self.status: self.claimed, self.lease_until: now + self.lease, self.attempts: self.attempts + 1})
            .execution_options(synchronize_session=False)
        )

    def succeeded(self, attempts: int) -> Verdict:
        return Verdict(self.done, attempts)

    def failed_attempt(
        self, attempts: int, error: str, now: datetime, *, retry_after: float | None = None, retry: bool = True
    ) -> Verdict:
        """Pending again after the backoff, or given up: when `retry` is False or the attempts are used up."""
        if not retry or attempts >= self.max_attempts:
            return Verdict(self.failed, attempts, error=error)
        return Verdict(self.pending, attempts, now + self.backoff(attempts, retry_after), error)

    def given_back(self, attempts: int, error: str, now: datetime, wait: float) -> Verdict:
        """Pending again in `wait` seconds without counting the attempt: being throttled is no failure."""
        return Verdict(self.pending, max(0, attempts - 1), now + timedelta(seconds=wait), error)

    def values(self, verdict: Verdict) -> dict[str, Any]:
        """The columns a verdict writes (by name): the lease ends; the due time moves only for a retry."""
        values: dict[str, Any] = {
            self.status.key: verdict.status,
            self.attempts.key: verdict.attempts,
            self.lease_until.key: None,
            "last_error": verdict.error,
        }
        if self.due is not None and verdict.retry_at is not None:
            values[self.due.key] = verdict.retry_at
        return values

    def settle(self, claims: Sequence[tuple[int, int]], verdict: Verdict, **more: Any) -> Update:
        """Write one verdict on claims (id, attempts when claimed) still ours: a claim taken over is not."""
        return self._still_ours(claims).values(self.values(verdict) | more)

    def succeed(self, claims: Sequence[tuple[int, int]], **more: Any) -> Update:
        """Mark claims (id, attempts when claimed) still ours as done, their attempts as they are; one statement."""
        return self._still_ours(claims).values(
            {self.status.key: self.done, self.lease_until.key: None, "last_error": None} | more
        )

    def settle_each(self) -> Update:
        """One UPDATE for an executemany of verdicts, each written only on its own claim still ours.

        Each parameter set names its claim (`claimed_id`, `claimed_attempts`) and the columns to write by name
        (`values(verdict)` and more): different verdicts for different rows in one statement.
        """
        table = cast(Table, self.id.class_.__table__)
        return update(table).where(
            table.c[self.id.key] == bindparam("claimed_id", type_=table.c[self.id.key].type),
            table.c[self.attempts.key] == bindparam("claimed_attempts", type_=table.c[self.attempts.key].type),
            table.c[self.status.key] == self.claimed,
        )

    def renew(self, claims: Sequence[tuple[int, int]], now: datetime) -> Update:
        """Extend the leases of claims still ours and unexpired (only an expired lease can be taken over)."""
        return self._still_ours(claims).where(self.lease_until > now).values({self.lease_until: now + self.lease})

    def _still_ours(self, claims: Sequence[tuple[int, int]]) -> Update:
        return (
            update(self.id.class_)
            .where(tuple_(self.id, self.attempts).in_(list(claims)), self.status == self.claimed)
            .execution_options(synchronize_session=False)
        )


async def stamp_once(
    session: AsyncSession, stamp: InstrumentedAttribute[datetime | None], row_id: int, now: datetime
) -> bool:
    """Claim a row for a send made at most once by stamping `stamp`; False when another process stamped it first."""
    table = stamp.class_
    result = await session.execute(
        update(table)
        .where(table.id == row_id, stamp.is_(None))
        .values({stamp: now})
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount == 1
