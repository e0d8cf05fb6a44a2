"""Admin-edited config documents: revisions, stale saves refused, every watcher applies each revision once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.clock import ManualClock
from core.config_store import ConfigWatcher, read_document, write_document
from core.db.models import Department, KeywordVersion
from core.errors import Conflict
from core.settings import Settings
from core.wiring import Core
from handlers.services import build_services
from tests.conftest import NO_LIMITS


async def test_revisions_count_up_and_stale_saves_are_refused(core: Core, clock: ManualClock) -> None:
    async with core.db.transaction() as session:
        assert await write_document(session, "sla", {"a": 1}, user_id=None, now=clock.now()) == 1
    async with core.db.transaction() as session:
        assert await write_document(session, "sla", {"a": 2}, user_id=None, now=clock.now(), expected_revision=1) == 2
    with pytest.raises(Conflict):
        async with core.db.transaction() as session:
            await write_document(session, "sla", {"a": 3}, user_id=None, now=clock.now(), expected_revision=1)
    async with core.db.transaction() as session:
        doc = await read_document(session, "sla")
        assert doc is not None and doc.body == {"a": 2} and doc.revision == 2


async def test_two_watchers_apply_each_revision_once_and_survive_a_failing_one(core: Core, clock: ManualClock) -> None:
    seen: dict[str, list[Any]] = {"first": [], "second": []}

    def watcher(tag: str) -> ConfigWatcher:
        w = ConfigWatcher(core.db)

        async def apply(body: dict[str, Any]) -> None:
            if body.get("broken"):
                raise ValueError("broken on purpose")
            seen[tag].append(body["v"])

        w.on("texts", apply)
        return w

    first, second = watcher("first"), watcher("second")
    assert await first.check() == []
    async with core.db.transaction() as session:
        await write_document(session, "texts", {"v": 1}, user_id=None, now=clock.now())
    assert await first.check() == ["texts"]
    assert await first.check() == []
    assert await second.check() == ["texts"]
    async with core.db.transaction() as session:
        await write_document(session, "texts", {"broken": True}, user_id=None, now=clock.now())
    assert await first.check() == ["texts"]  # logged, not raised, and not retried on every poll
    assert await first.check() == []
    async with core.db.transaction() as session:
        await write_document(session, "texts", {"v": 3}, user_id=None, now=clock.now())
    await first.check()
    await second.check()
    assert seen == {"first": [1, 3], "second": [1, 3]}
    assert first.applied("texts") == 3


async def test_processes_starting_together_on_an_empty_database_seed_it_once(empty_db_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=empty_db_url, env="test", media_dir=tmp_path / "media", limits=NO_LIMITS)
    first, second = build_services(settings), build_services(settings)
    try:
        async with first.db.transaction() as session:
            assert await session.scalar(select(func.count()).select_from(Department)) == 0
        await asyncio.gather(first.start(migrate=False), second.start(migrate=False))
        async with first.db.transaction() as session:
            departments = await session.scalar(select(func.count()).select_from(Department))
            versions = await session.scalar(select(func.count()).select_from(KeywordVersion))
        assert departments == len(first.policies.departments)
        assert versions == 1
        assert first.classifier.current.classify("我要投诉").category == "complaint"
        assert second.classifier.current.classify("我要投诉").category == "complaint"
    finally:
        await first.stop()
        await second.stop()
