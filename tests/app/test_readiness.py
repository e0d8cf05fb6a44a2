"""/readyz during a rolling upgrade: ready at the code's revision or at a later one whose floor admits the code."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy import text

from core.db.migrate import AHEAD, BEHIND, COMPATIBLE, CURRENT, downgrade, schema_state, upgrade
from handlers.services import Services


async def _at(services: Services, revision: str, floor: str | None = None) -> None:
    """Pretend a later release migrated: its revision in alembic_version, its floor in schema_floor."""
    async with services.db.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
        if floor is not None:
            await conn.execute(text("UPDATE schema_floor SET oldest_code_revision = :f"), {"f": floor})


async def test_ready_at_the_codes_revision_and_at_a_later_expand_only_one(
    web: httpx.AsyncClient, services: Services
) -> None:
    assert await schema_state(services.db) == CURRENT
    assert (await web.get("/readyz")).status_code == 200

    # The next release added a column (expand): its floor still names a revision this code knows.
    await _at(services, "0099", floor="0017")
    assert await schema_state(services.db) == COMPATIBLE
    ready = await web.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["migrations"] == COMPATIBLE

    # A contract migration raised the floor past this code: out of rotation.
    await _at(services, "0100", floor="0100")
    refused = await web.get("/readyz")
    assert refused.status_code == 503 and refused.json()["checks"]["migrations"] == AHEAD


async def test_not_ready_on_an_older_schema(web: httpx.AsyncClient, services: Services) -> None:
    await downgrade(services.db, "0015")
    assert await schema_state(services.db) == BEHIND
    assert (await web.get("/readyz")).status_code == 503
    await upgrade(services.db)
    assert (await web.get("/readyz")).status_code == 200


async def test_readiness_probes_write_no_log_lines(web: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        for _ in range(3):
            assert (await web.get("/readyz")).status_code == 200
    assert [r.getMessage() for r in caplog.records if r.name.startswith("alembic")] == []
