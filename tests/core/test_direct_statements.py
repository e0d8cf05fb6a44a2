"""Statements run on the driver's connection directly: the session's transaction, SQLAlchemy's types and errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from sqlalchemy import Table, bindparam, event, insert, select
from sqlalchemy.exc import IntegrityError

from core.db import direct
from core.db.models import ChannelState
from core.db.session import Database

_STATE = cast(Table, ChannelState.__table__)
# `lock_holder` is a literal: a parameter of the statement's own, not one the caller gives.
_PUT = (
    insert(_STATE)
    .values(key=bindparam("k"), value=bindparam("v"), updated_at=bindparam("at"), lock_holder="direct")
    .returning(_STATE.c.key, _STATE.c.value, _STATE.c.lock_holder)
)
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    yield database
    await database.dispose()


async def _keys(db: Database) -> dict[str, Any]:
    async with db.transaction() as session:
        rows = (await session.execute(select(_STATE.c.key, _STATE.c.value).where(_STATE.c.key.like("d:%")))).all()
    return {key: value for key, value in rows}


async def test_rows_come_back_with_sqlalchemys_types_in_the_sessions_transaction(db: Database) -> None:
    async with db.transaction() as session:
        # The first statement of the transaction: it begins the transaction, as SQLAlchemy's own would.
        rows = await direct.fetch(session, _PUT, {"k": "d:1", "v": {"城市": "上海", "n": [1, 2]}, "at": NOW})
        assert [tuple(row) for row in rows] == [("d:1", {"城市": "上海", "n": [1, 2]}, "direct")]
        # The same transaction: SQLAlchemy's next statement sees the row before the commit.
        seen = (await session.execute(select(_STATE.c.value).where(_STATE.c.key == "d:1"))).scalar_one()
        assert seen == {"城市": "上海", "n": [1, 2]}
    with pytest.raises(RuntimeError, match="undone"):
        async with db.transaction() as session:
            await direct.fetch(session, _PUT, {"k": "d:2", "v": {}, "at": NOW})
            raise RuntimeError("undone")
    assert await _keys(db) == {"d:1": {"城市": "上海", "n": [1, 2]}}


async def test_a_unique_violation_is_sqlalchemys_integrity_error_and_the_transaction_rolls_back(db: Database) -> None:
    async with db.transaction() as session:
        await direct.fetch(session, _PUT, {"k": "d:1", "v": {"a": 1}, "at": NOW})
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            await direct.fetch(session, _PUT, {"k": "d:3", "v": {}, "at": NOW})
            await direct.fetch(session, _PUT, {"k": "d:1", "v": {"a": 2}, "at": NOW})
    # The connection is fine for the next transaction, and nothing of the failed one stayed.
    async with db.transaction() as session:
        await direct.fetch(session, _PUT, {"k": "d:4", "v": {}, "at": NOW})
    assert await _keys(db) == {"d:1": {"a": 1}, "d:4": {}}


async def test_a_missing_parameter_is_refused_before_anything_is_sent(db: Database) -> None:
    with pytest.raises(ValueError, match="'at'"):
        async with db.transaction() as session:
            await direct.fetch(session, _PUT, {"k": "d:5", "v": {}})
    assert await _keys(db) == {}


async def test_statement_listeners_see_the_statement(db: Database) -> None:
    seen: list[str] = []

    def on_execute(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", on_execute)
    try:
        async with db.transaction() as session:
            rows = await direct.fetch(session, _PUT, {"k": "d:6", "v": {"b": 1}, "at": NOW})
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", on_execute)
    assert [tuple(row) for row in rows] == [("d:6", {"b": 1}, "direct")]
    assert [s for s in seen if "INSERT INTO channel_state" in s]


async def test_writes_given_before_a_statement_run_first_in_its_transaction(db: Database) -> None:
    async with db.transaction() as session:
        before = [(_PUT, {"k": "d:7", "v": {"n": 7}, "at": NOW}), (_PUT, {"k": "d:8", "v": {"n": 8}, "at": NOW})]
        rows = await direct.fetch(session, _PUT, {"k": "d:9", "v": {"n": 9}, "at": NOW}, before=before)
        assert [tuple(row) for row in rows] == [("d:9", {"n": 9}, "direct")]
    assert await _keys(db) == {"d:7": {"n": 7}, "d:8": {"n": 8}, "d:9": {"n": 9}}
    # A write before that fails fails the statement, as SQLAlchemy's error, and the transaction rolls back.
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            clash = [(_PUT, {"k": "d:10", "v": {}, "at": NOW}), (_PUT, {"k": "d:7", "v": {}, "at": NOW})]
            await direct.fetch(session, _PUT, {"k": "d:11", "v": {}, "at": NOW}, before=clash)
    assert set(await _keys(db)) == {"d:7", "d:8", "d:9"}
