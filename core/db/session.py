"""Database engine and transactions, with the per-dialect settings that make SQLite behave."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import orjson
from sqlalchemy import Row, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.sql import Executable, Select
from sqlalchemy.sql.dml import UpdateBase

from core.db import direct
from core.live import LiveBus, staged


def normalize_url(url: str) -> str:
    """Accept plain postgresql:// and sqlite:// URLs and pick the async drivers kefu uses."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url.split("://", 1)[1]
    return url


UNWRITTEN = "kefu.outgoing"
CARRIED = "kefu.carried"
# As long as SQLite's busy timeout and the pool's own wait: a transaction waits this long for its turn.
LINE_WAIT_SECONDS = 30
# PostgreSQL connections kept open; the overflow serves transactions opened inside others and tools.
POOL_SIZE = 10
# Places only urgent transactions may take on PostgreSQL (kept open beside the pool's): a send's result is
# recorded while every other place is held by turns. SQLite has one writer, so there urgent ones go first.
URGENT_PLACES = 2
# A PostgreSQL connection back in the pool for longer than this is pinged before it is used again.
IDLE_PING_SECONDS = 10.0
_CHECKED_IN = "kefu.checked_in"


def json_text(value: Any) -> str:
    """A JSON column's value as text, as `json.dumps` writes it but compact and with characters unescaped.

    Keys that are not strings (numbers, enums) become strings, as `json.dumps` makes them.
    """
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


class Database:
    """One engine and its session factory; created by the composition root, never at import time."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        # orjson for the JSON columns (a conversation's state is one, read and written by every turn): it reads and
        # writes the same values as the standard library's json, several times faster.
        kwargs: dict[str, Any] = {"echo": echo, "json_serializer": json_text, "json_deserializer": orjson.loads}
        if self.is_sqlite:
            database = make_url(self.url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": LINE_WAIT_SECONDS}
        else:
            # No pre-ping: `_check_on_checkout` lets the pool survive a PostgreSQL restart at less cost.
            kwargs.update(pool_size=POOL_SIZE + URGENT_PLACES, max_overflow=10)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        else:
            _check_on_checkout(self.engine)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # The same pool without BEGIN and COMMIT, for a statement that is a transaction by itself (`execute_alone`).
        # SQLite is left out: every transaction there begins IMMEDIATE (its `begin` hook), which autocommit skips.
        self._autocommit = None if self.is_sqlite else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.live = LiveBus()
        # Transactions of this process wait for their turn in line, first come, first served. SQLite has
        # one writer at a time (every transaction here begins as one, BEGIN IMMEDIATE), and its busy handler
        # polls with growing sleeps; the pool hands a returned connection to whoever asks first, so a
        # waiter can be passed over again and again. Both give a few unlucky turns most of the waiting.
        self._places = (1, 0) if self.is_sqlite else (POOL_SIZE, URGENT_PLACES)
        self._line: tuple[asyncio.AbstractEventLoop, Line] | None = None
        self._holders: set[asyncio.Task[Any]] = set()

    @asynccontextmanager
    async def transaction(self, *, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on any error.

        Live events staged in the session are published once the commit has succeeded, never before.
        `urgent`: ahead of every other waiting transaction, with places of its own on PostgreSQL; for short
        writes that must not wait behind turns (a send's result: until it commits, a crash repeats the send).
        """
        async with self._in_line(urgent):
            session = self.sessions()
            sync = session.sync_session
            try:
                # Beginning is bookkeeping (the connection is taken by the first statement): it needs no greenlet,
                # where `session.begin()` spends one.
                sync.begin()
                yield session
                if session.info.get(UNWRITTEN):
                    # Replies queued outside the engine's turn would be lost silently: refuse to commit.
                    raise RuntimeError("outbound messages were queued but not written before commit")
                await write_carried(session)
                await session.commit()
            except BaseException:
                # Rolled back and closed, to its end even if this task is cancelled meanwhile (`async with session`).
                await session.__aexit__(None, None, None)
                raise
            # Committed: the connection is back in the pool and the close only lets go of the session's rows, with
            # no I/O that a cancellation could cut short, so it needs neither a task of its own (what `async with
            # session` spends on every transaction: a task created, scheduled and awaited through a shield) nor a
            # greenlet. A transaction begun again after the commit (a statement run after an inner commit) has a
            # connection to give back: that close is awaited.
            if sync.in_transaction():
                await session.close()
            else:
                sync.close()
            events = staged(session)
        if events:
            await self.live.publish_all(events)

    async def execute_alone(
        self,
        statement: Executable,
        params: list[dict[str, Any]] | dict[str, Any] | None = None,
        *,
        urgent: bool = False,
    ) -> Sequence[Row[*tuple[Any, ...]]]:
        """Run one statement that needs no transaction around it, and return its rows (none for a plain write).

        On PostgreSQL it runs in autocommit: two round trips (BEGIN, COMMIT) fewer than `transaction`, and each round
        trip costs this process a socket write and the database a wake-up. For a write whose atomicity is the
        statement's own, as a claim (UPDATE … RETURNING) or the rows of an executemany that each stand alone.
        `urgent` as for `transaction`.
        """
        if self._autocommit is None:
            async with self.transaction(urgent=urgent) as session:
                # On the session's connection, so the statement runs as Core as it does below.
                result = await (await session.connection()).execute(statement, params)
                return result.all() if result.returns_rows else ()
        async with self._in_line(urgent), self._autocommit.connect() as connection:
            result = await connection.execute(statement, params)
            return result.all() if result.returns_rows else ()

    @asynccontextmanager
    async def _in_line(self, urgent: bool) -> AsyncIterator[None]:
        """Wait for a place among the transactions that may run at once (one on SQLite, the pool's on PostgreSQL)."""
        task = asyncio.current_task()
        if task is None or task in self._holders:
            # A transaction opened inside another of the same task does not queue behind itself.
            yield
            return
        loop = asyncio.get_running_loop()
        if self._line is None or self._line[0] is not loop:
            self._line = (loop, Line(*self._places))
        line = self._line[1]
        if not line.take(urgent):
            try:
                async with asyncio.timeout(LINE_WAIT_SECONDS):
                    await line.acquire(urgent)
            except TimeoutError:
                raise RuntimeError(f"database busy: no transaction could start within {LINE_WAIT_SECONDS} s") from None
        self._holders.add(task)
        try:
            yield
        finally:
            self._holders.discard(task)
            line.release()

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()


class Line:
    """Places for transactions, given first come, first served; urgent waiters go before all others.

    `places` are open to every transaction, `reserved` more to urgent ones only.
    """

    def __init__(self, places: int, reserved: int = 0) -> None:
        self.places = places
        self.reserved = reserved
        self.taken = 0
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._urgent: deque[asyncio.Future[None]] = deque()

    def take(self, urgent: bool = False) -> bool:
        """A place taken at once, if one is free and no one waits for it (then no wait needs a deadline)."""
        queue = self._urgent if urgent else self._waiting
        if not self._urgent and not queue and self.taken < self._limit(urgent):
            self.taken += 1
            return True
        return False

    async def acquire(self, urgent: bool = False) -> None:
        if self.take(urgent):
            return
        queue = self._urgent if urgent else self._waiting
        waiter = asyncio.get_running_loop().create_future()
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # The place was handed over as the wait was cancelled: give it to the next one.
                self.release()
            elif waiter in queue:
                queue.remove(waiter)
            raise

    def release(self) -> None:
        self.taken -= 1
        for queue, urgent in ((self._urgent, True), (self._waiting, False)):
            while queue and self.taken < self._limit(urgent):
                waiter = queue.popleft()
                if not waiter.done():
                    self.taken += 1
                    waiter.set_result(None)

    def _limit(self, urgent: bool) -> int:
        return self.places + (self.reserved if urgent else 0)


def _check_on_checkout(engine: AsyncEngine) -> None:
    """Hand out only live PostgreSQL connections, without a round trip for those in steady use.

    SQLAlchemy's pre-ping costs three round trips per checkout on asyncpg (BEGIN, a query, ROLLBACK): eight
    round trips for a known client's turn of five. A connection the server has closed (a restart, an administrator's
    terminate) is known closed once the event loop has read its end, at no cost; a connection left idle longer
    than IDLE_PING_SECONDS (where a firewall or NAT may have dropped it without a word) is pinged as before.
    Either failing, the pool discards the connection and opens another.
    """
    dialect = engine.sync_engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise DisconnectionError("the server closed the connection")
        returned = record.info.get(_CHECKED_IN)
        if returned is None or time.monotonic() - returned > IDLE_PING_SECONDS:
            try:
                dialect.do_ping(dbapi_connection)
            except Exception as exc:
                raise DisconnectionError(f"ping failed: {type(exc).__name__}") from exc


def _configure_sqlite(engine: AsyncEngine) -> None:
    """Make SQLite transactional in the way kefu relies on.

    pysqlite defers BEGIN until the first write, which lets two transactions read the same
    conversation and then collide; BEGIN IMMEDIATE takes the write lock up front, so turns
    serialize (the busy timeout makes the second one wait rather than fail).
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


# What carries the writes: an INSERT (UPDATE…) or a SELECT, each with room for WITH clauses.
Carrying = UpdateBase | Select[Any]


async def carry(session: AsyncSession, statement: UpdateBase, params: dict[str, Any]) -> None:
    """A write whose result the transaction does not need: it goes with the next `execute_carrying` statement (or at
    commit), saving a round trip: on PostgreSQL in its WITH, on SQLite in the same trip to the driver's thread.

    Nothing may read what it writes before then, in the same transaction.
    """
    if session.get_bind().dialect.name not in ("postgresql", "sqlite"):
        await session.execute(statement, params)
        return
    session.info.setdefault(CARRIED, []).append((statement, params))


async def execute_carrying(
    session: AsyncSession, statement: Carrying, params: dict[str, Any]
) -> Sequence[Sequence[Any]]:
    """The rows of `statement`, executed with the writes carried so far in its WITH (PostgreSQL: data-modifying
    CTEs, and the statement run on the driver's connection directly: it is on every turn's path)."""
    if session.get_bind().dialect.name != "postgresql":
        # SQLite: the carried writes run first, in the same trip to the driver's thread.
        return await direct.fetch(session, statement, params, before=session.info.pop(CARRIED, []))
    carried: list[tuple[UpdateBase, dict[str, Any]]] = session.info.pop(CARRIED, [])
    riding: list[UpdateBase] = []
    merged = dict(params)
    for write, values in carried:
        if merged.keys() & values.keys():
            # Parameters of the same name would collide in one statement: this one goes alone.
            await session.execute(write, values)
            continue
        riding.append(write)
        merged.update(values)
    if not riding:
        return await direct.fetch(session, statement, params)
    return await direct.fetch(session, _with_carried(statement, riding), merged)


async def write_carried(session: AsyncSession) -> None:
    """Run the writes still carried, each on its own (before a commit)."""
    for write, values in session.info.pop(CARRIED, []):
        await session.execute(write, values)


# Statements with what they carry, built once per combination: a turn carries the same few every time.
_CARRYING: dict[tuple[int, ...], tuple[tuple[Carrying, ...], Carrying]] = {}


def _with_carried(statement: Carrying, riding: list[UpdateBase]) -> Carrying:
    parts = (statement, *riding)
    key = tuple(id(part) for part in parts)
    built = _CARRYING.get(key)
    if built is None or any(a is not b for a, b in zip(built[0], parts, strict=True)):
        ctes = [cast(Any, write).cte(f"carried_{i}") for i, write in enumerate(riding)]
        built = _CARRYING[key] = (parts, statement.add_cte(*ctes))
    return built[1]
