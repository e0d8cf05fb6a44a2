"""Rows read as plain columns and adopted into a session behave as the objects an ORM query loads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import String, event, insert, select, type_coerce
from sqlalchemy.types import TypeDecorator

from core.db import direct
from core.db.adopted import Adoptable, loaded
from core.db.models import ChannelState
from core.db.session import Database

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
STATE = Adoptable.of(ChannelState)
ROW = select(*STATE.columns).where(ChannelState.key == "a:1")


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    async with database.transaction() as session:
        await session.execute(insert(ChannelState).values(key="a:1", value={"城市": "上海"}, updated_at=NOW))
    yield database
    await database.dispose()


def _count(db: Database) -> list[str]:
    seen: list[str] = []
    event.listen(db.engine.sync_engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


async def test_an_adopted_row_is_the_sessions_loaded_object_and_its_changes_are_written(db: Database) -> None:
    async with db.transaction() as session:
        row = (await session.execute(ROW)).one()
        state = STATE.adopt(session, row)
        assert state.value == {"城市": "上海"} and state.lock_holder is None
        seen = _count(db)
        # The identity map holds it: getting it again costs no statement and gives the same object.
        assert await session.get(ChannelState, "a:1") is state and seen == []
        assert not session.dirty
        state.value = {"城市": "北京"}
        state.lock_holder = "me"
    async with db.transaction() as session:
        stored = await session.get(ChannelState, "a:1")
    assert stored is not None and stored.value == {"城市": "北京"} and stored.lock_holder == "me"


async def test_an_object_the_session_holds_is_told_from_its_map_and_a_missing_or_expired_one_is_read(
    db: Database,
) -> None:
    async with db.transaction() as session:
        assert await loaded(session, ChannelState, "a:2") is None
        state = await loaded(session, ChannelState, "a:1")
        assert state is not None
        seen = _count(db)
        assert await loaded(session, ChannelState, "a:1") is state and seen == []
        await session.execute(ChannelState.__table__.update().values(lock_holder="other"))
        session.expire(state)
        again = await loaded(session, ChannelState, "a:1")
        assert again is state and state.lock_holder == "other" and seen


class _Shouted(TypeDecorator[str]):
    """A type with a result processor: what asyncpg gives is not what the column's type makes of it."""

    impl = String
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else str(value).upper()


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_rows_fetched_directly_go_through_their_columns_result_processors(db: Database) -> None:
    statement = select(type_coerce(ChannelState.key, _Shouted()), ChannelState.value)
    async with db.transaction() as session:
        assert await direct.fetch(session, statement, {}) == [("A:1", {"城市": "上海"})]


async def test_a_row_the_session_holds_is_placed_as_held_or_refreshed_as_asked(db: Database) -> None:
    async with db.transaction() as session:
        row = (await session.execute(ROW)).one()
        state = await STATE.placed(session, row)
        await session.execute(ChannelState.__table__.update().values(lock_holder="other"))
        # As an ORM select gives it: the object the session holds, as it holds it, with no statement run.
        seen = _count(db)
        assert await STATE.placed(session, row) is state and state.lock_holder is None and seen == []
        # Refreshed: read again, as with populate_existing.
        assert await STATE.placed(session, row, refresh=True) is state and state.lock_holder == "other" and seen
