"""Durable timers: FollowUp rows claimed atomically and fired once, surviving restarts."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.db.models import FollowUp
from core.db.session import Database

log = logging.getLogger(__name__)

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 5

Handler = Callable[[FollowUp], Awaitable[None]]


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
    exists = await session.execute(select(FollowUp.id).where(FollowUp.idempotency_key == key))
    if exists.scalar_one_or_none() is not None:
        return
    try:
        async with session.begin_nested():
            session.add(
                FollowUp(
                    kind=kind,
                    target_id=target_id,
                    due_at=due_at,
                    status=PENDING,
                    attempts=0,
                    idempotency_key=key,
                    payload=dict(payload),
                    created_at=now,
                )
            )
    except IntegrityError:
        log.debug("follow-up %s already scheduled", key)


class FollowUpRunner:
    """Fires due follow-ups through handlers by kind; jobs carry ids, never objects."""

    def __init__(self, db: Database, clock: Clock, handlers: Mapping[str, Handler]) -> None:
        self.db = db
        self.clock = clock
        self.handlers = dict(handlers)

    async def run_due(self, limit: int = 100) -> int:
        now = self.clock.now()
        async with self.db.transaction() as session:
            due = (
                (
                    await session.execute(
                        select(FollowUp.id)
                        .where(
                            ((FollowUp.status == PENDING) & (FollowUp.due_at <= now))
                            | ((FollowUp.status == RUNNING) & (FollowUp.lease_until < now))
                        )
                        .order_by(FollowUp.due_at, FollowUp.id)
                        .limit(limit)
                    )
                )
                .scalars()
                .all()
            )
        fired = 0
        for followup_id in due:
            if await self._run_one(followup_id):
                fired += 1
        return fired

    async def _run_one(self, followup_id: int) -> bool:
        now = self.clock.now()
        async with self.db.transaction() as session:
            row = await session.get(FollowUp, followup_id)
            if row is None or row.status not in (PENDING, RUNNING):
                return False
            claimed = await session.execute(
                update(FollowUp)
                .where(FollowUp.id == followup_id)
                .where(FollowUp.status == row.status)
                .where(FollowUp.attempts == row.attempts)
                .values(status=RUNNING, lease_until=now + LEASE, attempts=row.attempts + 1)
                .execution_options(synchronize_session=False)
            )
            if getattr(claimed, "rowcount", 0) != 1:
                return False
            session.expunge(row)
        handler = self.handlers.get(row.kind)
        status, error = DONE, None
        if handler is None:
            status, error = FAILED, f"no handler for kind {row.kind!r}"
        else:
            try:
                await handler(row)
            except Exception as exc:
                log.exception("follow-up %s (%s) failed", followup_id, row.kind)
                error = f"{type(exc).__name__}: {exc}"
                status = FAILED if row.attempts + 1 >= MAX_ATTEMPTS else PENDING
        async with self.db.transaction() as session:
            await session.execute(
                update(FollowUp)
                .where(FollowUp.id == followup_id)
                .values(
                    status=status,
                    lease_until=None,
                    last_error=error,
                    done_at=self.clock.now() if status == DONE else None,
                    due_at=row.due_at if status != PENDING else self.clock.now() + timedelta(minutes=1),
                )
            )
        return status == DONE
