"""Migrations and models agree, on both databases, and `/healthz` reflects the database."""

from __future__ import annotations

import httpx
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from core.db.migrate import is_current
from core.db.models import Base
from handlers.services import Services


async def test_migrated_schema_matches_the_models(services: Services) -> None:
    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with services.db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []
    assert await is_current(services.db)


async def test_healthz(web: httpx.AsyncClient) -> None:
    response = await web.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_downgrade_to_base_and_back(services: Services) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from core.db.migrate import alembic_config, upgrade

    def down(connection: Connection) -> list[str]:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "base")
        return [t for t in inspect(connection).get_table_names() if t != "alembic_version"]

    async with services.db.engine.begin() as conn:
        assert await conn.run_sync(down) == []
    assert not await is_current(services.db)
    await upgrade(services.db)
    assert await is_current(services.db)


def test_the_revisions_read_from_the_scripts_are_alembics() -> None:
    # Readiness compares the database with code_revisions(), which reads the scripts without loading Alembic.
    from alembic.script import ScriptDirectory

    from core.db.migrate import alembic_config, code_revisions, script_heads

    scripts = ScriptDirectory.from_config(alembic_config())
    assert script_heads() == code_revisions().heads == frozenset(scripts.get_heads())
    assert code_revisions().known == frozenset(s.revision for s in scripts.walk_revisions())
