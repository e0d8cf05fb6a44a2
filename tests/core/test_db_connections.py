"""PostgreSQL connections handed out by the pool: dead ones replaced, live ones in steady use not pinged."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from sqlalchemy import insert, inspect, select, text

from core.db import session as db_session
from core.db.models import Client
from core.db.session import Database

pytestmark = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)


async def _backend_pid(db: Database) -> int:
    async with db.transaction() as session:
        return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


def _count_pings(db: Database, monkeypatch: pytest.MonkeyPatch, *, fail_first: bool = False) -> list[int]:
    """The pings sent from now on (one entry each); with `fail_first` the first fails as on a dropped connection."""
    dialect = db.engine.sync_engine.dialect
    real = dialect.do_ping
    pings: list[int] = []

    def ping(dbapi_connection: Any) -> bool:
        pings.append(1)
        if fail_first and len(pings) == 1:
            raise OSError("connection dropped")
        return bool(real(dbapi_connection))

    monkeypatch.setattr(dialect, "do_ping", ping)
    return pings


async def test_a_connection_the_server_closed_is_replaced_before_a_transaction_uses_it(db_url: str) -> None:
    db = Database(db_url)
    try:
        first = await _backend_pid(db)
        # What a restart of PostgreSQL does to every connection: the server ends it.
        killer = await asyncpg.connect(db_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            assert await killer.fetchval("SELECT pg_terminate_backend($1)", first)
        finally:
            await killer.close()
        await asyncio.sleep(0.2)
        # Returned to the pool a moment ago, so not pinged: known closed all the same, and replaced.
        assert await _backend_pid(db) != first
    finally:
        await db.dispose()


async def test_a_connection_in_steady_use_is_not_pinged_one_left_idle_is(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(db_url)
    try:
        pings = _count_pings(db, monkeypatch)
        first = await _backend_pid(db)
        assert len(pings) == 1, "a new connection is pinged once"
        for _ in range(3):
            assert await _backend_pid(db) == first
        assert len(pings) == 1, "back in the pool a moment ago: no ping"
        monkeypatch.setattr(db_session, "IDLE_PING_SECONDS", 0.0)
        assert await _backend_pid(db) == first
        assert len(pings) == 2, "idle past IDLE_PING_SECONDS: pinged"
    finally:
        await db.dispose()


async def test_an_idle_connection_whose_ping_fails_is_replaced(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(db_url)
    try:
        first = await _backend_pid(db)
        monkeypatch.setattr(db_session, "IDLE_PING_SECONDS", 0.0)
        pings = _count_pings(db, monkeypatch, fail_first=True)
        assert await _backend_pid(db) != first, "the connection whose ping failed was discarded"
        assert len(pings) == 2, "the new connection was pinged too"
    finally:
        await db.dispose()


async def test_a_transaction_gives_its_connection_back_whether_it_commits_fails_or_is_cancelled(db_url: str) -> None:
    db = Database(db_url)
    pool = db.engine.sync_engine.pool
    now = datetime.now(UTC)
    try:
        kept = Client(name="kept", language="zh", created_at=now)
        async with db.transaction() as session:
            session.add(kept)
        assert pool.checkedout() == 0 and inspect(kept).detached, "committed, and the session closed"
        with pytest.raises(RuntimeError, match="turn failed"):
            async with db.transaction() as session:
                session.add(Client(name="failed", language="zh", created_at=now))
                await session.flush()
                raise RuntimeError("turn failed")
        assert pool.checkedout() == 0
        held = asyncio.Event()

        async def cancelled_midway() -> None:
            async with db.transaction() as session:
                session.add(Client(name="cancelled", language="zh", created_at=now))
                await session.flush()
                held.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(cancelled_midway())
        await held.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pool.checkedout() == 0
        async with db.transaction() as session:
            written = select(Client.name).where(Client.name.in_(["kept", "failed", "cancelled"]))
            names = (await session.execute(written)).scalars().all()
        assert sorted(names) == ["kept"], "the failed and the cancelled transactions were rolled back"
    finally:
        await db.dispose()


async def test_a_statement_run_alone_has_no_begin_before_it_and_its_writes_commit(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    begins: list[str] = []
    real_start = asyncpg.transaction.Transaction.start

    async def start(self: asyncpg.transaction.Transaction) -> None:
        begins.append("BEGIN")
        await real_start(self)

    monkeypatch.setattr(asyncpg.transaction.Transaction, "start", start)
    db = Database(db_url)
    try:
        await _backend_pid(db)  # the first connection: the dialect's set-up, the checkout's ping
        begins.clear()
        now = datetime.now(UTC)
        rows = [{"name": "甲", "created_at": now}, {"name": "乙", "created_at": now}]
        written = await db.execute_alone(insert(Client), rows)
        [(name,)] = await db.execute_alone(
            text("UPDATE clients SET name = :new WHERE name = :old RETURNING name"), {"old": "乙", "new": "丙"}
        )
        assert begins == [] and written == () and name == "丙"
        async with db.transaction() as session:
            names = set(await session.scalars(select(Client.name).where(Client.name.in_(["甲", "乙", "丙"]))))
        assert names == {"甲", "丙"}
        # The connection went back to the pool in its usual mode: a transaction still begins with BEGIN.
        assert begins == ["BEGIN"]
    finally:
        await db.dispose()
