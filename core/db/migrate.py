"""Apply and inspect Alembic migrations from code, on kefu's own async engine."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from core.db.session import Database
from core.singleton import lock_key

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# One process migrates at a time; the others wait for it, then find nothing left to do.
MIGRATION_LOCK = "kefu-migrations"
CURRENT, COMPATIBLE, BEHIND, AHEAD = "current", "compatible", "behind", "ahead"


def alembic_config(url: str = "") -> Config:
    # Alembic (about 11 MiB with the migration scripts) is loaded only where migrations run: `kefu db upgrade`,
    # which `kefu serve` runs in a child process, and tests.
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


async def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to `revision` on a connection of `db`, under a deployment-wide lock on PostgreSQL."""
    from alembic import command

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
    from alembic import command

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
    """The scripts' revisions, read from their `revision` and `down_revision` lines once per process.

    What Alembic's ScriptDirectory says, without loading Alembic: a readiness probe asks often.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        values: dict[str, object] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            target: ast.expr
            if isinstance(node, ast.AnnAssign) and node.value is not None:
                target, value = node.target, node.value
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            else:
                continue
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                values[target.id] = ast.literal_eval(value)
        if isinstance(values.get("revision"), str):
            revisions.add(str(values["revision"]))
            down = values.get("down_revision")
            parents.update([down] if isinstance(down, str) else list(down) if isinstance(down, tuple | list) else [])
    return CodeRevisions(frozenset(revisions - parents), frozenset(revisions))


def script_heads() -> frozenset[str]:
    """The newest revisions of the migration scripts."""
    return code_revisions().heads


async def schema_state(db: Database) -> str:
    """Current (at the code's heads), compatible (later, and its floor admits this code), behind, or ahead.

    Read with two plain SELECTs, so a readiness probe neither builds an Alembic context nor logs.
    """
    code = code_revisions()
    async with db.engine.connect() as conn:
        try:
            rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
        except DBAPIError:
            # No version table: a database that was never migrated.
            return BEHIND
        at = frozenset(str(r) for r in rows.scalars())
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
