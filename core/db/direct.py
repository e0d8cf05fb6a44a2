"""A turn's hot statements run on the asyncpg connection itself: compiled once, with SQLAlchemy's own parameter
processing, without its per-execution layer (compiled-cache lookup, execution context, result set-up)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy.engine import Connection, CursorResult, Dialect, Result
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement, Executable


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement's SQL for asyncpg and, per $n placeholder, the parameter's key, default and type processor."""

    sql: str
    positions: tuple[tuple[str, Any, Callable[[Any], Any] | None], ...]
    # Per result column, its type's processor of the value asyncpg gives; None where no column has one.
    results: tuple[Callable[[Any], Any] | None, ...] | None = None

    def arguments(self, values: dict[str, Any]) -> list[Any]:
        out = []
        for key, default, process in self.positions:
            value = values.get(key, default)
            if value is _REQUIRED:
                raise ValueError(f"a value is required for the parameter {key!r}")
            out.append(value if process is None else process(value))
        return out


# The default of a parameter without one: its value must be given.
_REQUIRED = object()
# Keyed by the statement object: kefu's hot statements are built once at import (or once per combination).
# Per dialect too: one process may hold databases of both kinds (the tests do).
_COMPILED: dict[tuple[int, str], tuple[Executable, _Compiled]] = {}


def _compiled(statement: Executable, dialect: Dialect) -> _Compiled:
    key = (id(statement), dialect.name)
    held = _COMPILED.get(key)
    if held is not None and held[0] is statement:
        return held[1]
    compiled: Any = cast(ClauseElement, statement).compile(dialect=dialect)
    if compiled.literal_execute_params or compiled.post_compile_params:
        raise ValueError("a statement with parameters expanded at execution cannot run directly")
    processors = compiled._bind_processors
    positions = []
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        positions.append((bind.key, _REQUIRED if bind.required else bind.effective_value, processors.get(name)))
    results = tuple(column.type._cached_result_processor(dialect, None) for column in compiled._result_columns)
    built = _Compiled(compiled.string, tuple(positions), results if any(results) else None)
    _COMPILED[key] = (statement, built)
    return built


# The drivers whose connections `fetch` runs statements on itself.
_DRIVERS = frozenset({"asyncpg", "aiosqlite"})
# The session's transaction and its connection, as `_connection` last found them.
_HELD = "direct.connection"


async def _connection(session: AsyncSession) -> Connection:
    """The session's connection: taken from its transaction directly once it has one (most calls), else connected.

    `AsyncSession.connection` runs each call in a new greenlet even when the connection is already there.
    """
    transaction = session.sync_session.get_transaction()
    held: tuple[object, Connection] | None = session.info.get(_HELD)
    if held is not None and held[0] is transaction and not held[1].closed:
        return held[1]
    if transaction is not None and transaction._connections:
        connection = session.sync_session.connection()
    else:
        connection = cast(Connection, (await session.connection()).sync_connection)
    # Kept for the transaction's next statements: asking the session again walks its state machinery each time.
    session.info[_HELD] = (session.sync_session.get_transaction(), connection)
    return connection


def _run_in_order(driver: Any, statements: list[tuple[str, list[Any]]]) -> list[Any]:
    """In aiosqlite's thread, on its sqlite3 connection: each statement in turn, and the rows of the last."""
    connection = driver._conn
    for sql, arguments in statements[:-1]:
        connection.execute(sql, arguments)
    sql, arguments = statements[-1]
    return list(connection.execute(sql, arguments).fetchall())


def _watched(connection: Connection) -> bool:
    """Whether listeners watch the statements run on this connection (any other kind of listener does not count)."""
    return bool(
        connection.dispatch.before_cursor_execute
        or connection.dispatch.after_cursor_execute
        or connection.engine.dispatch.before_cursor_execute
        or connection.engine.dispatch.after_cursor_execute
    )


def rows_of(result: Result[Any]) -> Sequence[Sequence[Any]]:
    """A result's rows as `fetch` gives them (none for a statement without RETURNING)."""
    # A DML statement without RETURNING has no rows to give (`all` would raise); a select's result always has.
    if isinstance(result, CursorResult) and not result.returns_rows:
        return []
    return result.all()


async def fetch(
    session: AsyncSession,
    statement: Executable,
    values: dict[str, Any],
    before: Sequence[tuple[Executable, dict[str, Any]]] = (),
) -> Sequence[Sequence[Any]]:
    """The rows `statement` returns, run in the session's transaction; errors are SQLAlchemy's, as from `execute`.

    PostgreSQL (asyncpg) and SQLite (aiosqlite: the statement and its rows in one trip to the driver's thread, where
    SQLAlchemy's cursor takes three or four). `before`: writes to run first, in the same trip on SQLite. Where event
    listeners watch the engine's statements (statement counts in tests and benchmarks), the statements go through
    SQLAlchemy instead, with the same SQL, so they see them.
    """
    sync = await _connection(session)
    dialect = sync.dialect
    if dialect.driver not in _DRIVERS or _watched(sync) or (before and dialect.driver != "aiosqlite"):
        for write, params in before:
            await session.execute(write, params)
        return rows_of(await session.execute(statement, values))
    compiled = _compiled(statement, dialect)
    arguments = compiled.arguments(values)
    writes = [(c.sql, c.arguments(params)) for c, params in ((_compiled(w, dialect), p) for w, p in before)]
    # SQLAlchemy's adapter of the asyncpg connection: its mutex, its transaction (begun on its first statement) and
    # its error translation are used as its own cursor uses them.
    adapted: Any = sync.connection.dbapi_connection
    async with adapted._execute_mutex:
        try:
            if dialect.driver == "aiosqlite":
                # The transaction was begun (BEGIN IMMEDIATE) when the session took the connection.
                driver = adapted._connection
                rows = await driver._execute(_run_in_order, driver, [*writes, (compiled.sql, arguments)])
            else:
                if adapted._transaction is None:
                    await adapted._start_transaction()
                rows = await adapted._connection.fetch(compiled.sql, *arguments)
        except Exception as error:
            try:
                adapted._handle_exception(error)
            except adapted.dbapi.Error as translated:
                raise DBAPIError.instance(
                    compiled.sql, arguments, translated, adapted.dbapi.Error, dialect=dialect
                ) from error
            raise
    processors = compiled.results
    if processors is None:
        return list(rows)
    return [tuple(v if p is None else p(v) for p, v in zip(processors, row, strict=True)) for row in rows]
