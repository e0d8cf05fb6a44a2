"""JSON columns keep what the standard library's json would keep, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import pytest
from sqlalchemy import insert, select

from core.db.models import ChannelState
from core.db.session import Database, json_text

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


class Step(StrEnum):
    ASK = "ask"


VALUE: dict[Any, Any] = {
    "城市": '上海 "引号" \\ 反斜杠 \u2028 😀',
    "slots": {"phone": "13800138000", "budget": 5.5, "count": 2**62, "none": None, "yes": True},
    "order": [3, "二", [], {}],
    7: "a number as a key",
    Step.ASK: Step.ASK,
}
# What json.dumps makes of it, read back: keys become strings, an enum its value.
EXPECTED = json.loads(json.dumps(VALUE))


def test_the_text_reads_back_as_the_standard_librarys_would() -> None:
    assert json.loads(json_text(VALUE)) == EXPECTED
    assert "上海" in json_text(VALUE)  # written as characters, not \u escapes


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    yield database
    await database.dispose()


async def test_a_json_column_written_and_read_back_through_the_orm(db: Database) -> None:
    async with db.transaction() as session:
        session.add(ChannelState(key="a:1", value=VALUE, updated_at=NOW))
    async with db.transaction() as session:
        await session.execute(insert(ChannelState).values(key="a:2", value=VALUE, updated_at=NOW))
    async with db.transaction() as session:
        stored = (await session.execute(select(ChannelState.key, ChannelState.value).order_by(ChannelState.key))).all()
    assert stored == [("a:1", EXPECTED), ("a:2", EXPECTED)]
