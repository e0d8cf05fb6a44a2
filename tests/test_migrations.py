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
