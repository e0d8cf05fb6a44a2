"""Apply and inspect Alembic migrations from code, on kefu's own async engine."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from core.db.session import Database
from core.singleton import lock_key

MIGRATIONS = Path(__file__).parent / "migrations"
# One process migrates at a time; the others wait for it, then find nothing left to do.
MIGRATION_LOCK = "kefu-migrations"
CURRENT, COMPATIBLE, BEHIND, AHEAD = "current", "compatible", "behind", "ahead"


def alembic_config(url: str = "") -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


async def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to `revision` on a connection of `db`, under a deployment-wide lock on PostgreSQL."""

    def _upgrade(connection: Connection) -> None:
        if connection.dialect.name == "postgresql":
            # Held until this transaction ends: processes starting together migrate one after another.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(MIGRATION_LOCK)})
        cfg = alembic_config(db.url)
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(_upgrade)


async def downgrade(db: Database, revision: str) -> None:
    """Take the schema back to `revision` (a rollback of a release whose contract migration ran)."""

    def _downgrade(connection: Connection) -> None:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(MIGRATION_LOCK)})
        cfg = alembic_config(db.url)
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(_downgrade)


@dataclass(frozen=True, slots=True)
class CodeRevisions:
    """What this code knows of the migrations: its heads and every revision up to them."""

    heads: frozenset[str]
    known: frozenset[str]


@cache
def code_revisions() -> CodeRevisions:
    """Read once per process: the scripts do not change while it runs."""
    scripts = ScriptDirectory.from_config(alembic_config())
    return CodeRevisions(frozenset(scripts.get_heads()), frozenset(s.revision for s in scripts.walk_revisions()))


async def schema_state(db: Database) -> str:
    """Current (at the code's heads), compatible (later, and its floor admits this code), behind, or ahead.

    Read with two plain SELECTs, so a readiness probe neither builds an Alembic context nor logs.
    """
    code = code_revisions()
    async with db.engine.connect() as conn:
        at = frozenset(str(r) for r in (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars())
        if at == code.heads:
            return CURRENT
        if at <= code.known:
            return BEHIND
        try:
            floor = (
                await conn.execute(text("SELECT oldest_code_revision FROM schema_floor WHERE id = 1"))
            ).scalar_one_or_none()
        except DBAPIError:
            return AHEAD
    # The database is at a revision this code does not know, i.e. a later release's. It may serve on it
    # when that release's floor is a revision this code knows: everything since then was expand-only.
    return COMPATIBLE if floor is not None and floor in code.known else AHEAD


async def is_current(db: Database) -> bool:
    """Whether the database is at the newest migration."""
    return await schema_state(db) == CURRENT


def raise_floor(revision: str) -> None:
    """In a contract migration: code older than `revision` may no longer run on the schema."""
    from alembic import op

    op.execute(text("UPDATE schema_floor SET oldest_code_revision = :r WHERE id = 1").bindparams(r=revision))
