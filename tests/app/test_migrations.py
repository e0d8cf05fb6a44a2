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


async def test_0019_renames_the_reps_group_posts_held_status_to_waiting_and_back(services: Services) -> None:
    from sqlalchemy import text

    from core.db.migrate import downgrade, upgrade
    from tests.support.fakes import FakeChannel, inbound

    services.registry.register(FakeChannel())
    conversation_id = (await services.engine.receive(inbound("你好", "m1"))).conversation_id
    await downgrade(services.db, "0018")
    now = services.clock.now()
    async with services.db.engine.begin() as conn:
        topic_id = (
            await conn.execute(
                text(
                    "INSERT INTO telegram_topics (chat_id, conversation_id, ticket_key, reason, name, status,"
                    " mirrored_message_id, attempts, next_attempt_at, created_at, updated_at)"
                    " VALUES (-100, :c, '', 'handoff', '', 'open', 0, 0, :now, :now, :now) RETURNING id"
                ),
                {"c": conversation_id, "now": now},
            )
        ).scalar_one()
        for key, status in (("rep:1", "held"), ("rep:2", "sent"), ("summary", "pending")):
            await conn.execute(
                text(
                    "INSERT INTO telegram_posts (topic_id, key, text, status, attempts, next_attempt_at, created_at)"
                    " VALUES (:t, :k, '', :s, 0, :now, :now)"
                ),
                {"t": topic_id, "k": key, "s": status, "now": now},
            )

    async def state() -> tuple[dict[str, str], str]:
        async with services.db.engine.begin() as conn:
            posts = await conn.execute(
                text("SELECT key, status FROM telegram_posts WHERE topic_id = :t"), {"t": topic_id}
            )
            floor = await conn.execute(text("SELECT oldest_code_revision FROM schema_floor"))
            return {str(k): str(s) for k, s in posts.all()}, str(floor.scalar_one())

    await upgrade(services.db, "0019")
    assert await state() == ({"rep:1": "waiting", "rep:2": "sent", "summary": "pending"}, "0019")
    await downgrade(services.db, "0018")
    assert await state() == ({"rep:1": "held", "rep:2": "sent", "summary": "pending"}, "0015")
    await upgrade(services.db)
    assert await is_current(services.db)
