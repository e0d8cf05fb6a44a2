"""Jobs that must run in one process at a time across the deployment take a PostgreSQL advisory lock."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.session import Database


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for a job name (PostgreSQL's advisory locks take a bigint)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


@asynccontextmanager
async def singleton(db: Database, name: str) -> AsyncIterator[bool]:
    """Yields True when this process holds the job's lock; another process holding it yields False.

    On SQLite everything runs in one process, so the lock is always granted.
    """
    if db.is_sqlite:
        yield True
        return
    key = lock_key(name)
    async with db.engine.connect() as conn:
        got = bool((await conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})).scalar())
        try:
            yield got
        finally:
            if got:
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                await conn.commit()


async def serialize(session: AsyncSession, name: str) -> None:
    """Make transactions doing `name` run one after another across processes, until this one ends.

    For work that every process does at start and that must not be done twice at once (seeding an empty
    database). SQLite transactions here already begin as writers (BEGIN IMMEDIATE), one at a time.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(name)})
