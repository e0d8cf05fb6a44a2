"""Apply and inspect Alembic migrations from code, on kefu's own async engine."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError, ProgrammingError

from core.db.session import Database

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str = "") -> Config:
    # Alembic (about 11 MiB with the migration scripts) is loaded only where migrations run: `kefu db upgrade`,
    # which `kefu serve` runs in a child process, and tests.
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


async def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to `revision` on a connection of `db`."""
    from alembic import command

    def _upgrade(connection: Connection) -> None:
        cfg = alembic_config(db.url)
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(_upgrade)


@cache
def script_heads() -> frozenset[str]:
    """The newest revisions of the migration scripts, read from their `revision` and `down_revision` lines.

    What Alembic's ScriptDirectory.get_heads() says, without loading Alembic: a readiness probe asks often.
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
    return frozenset(revisions - parents)


async def is_current(db: Database) -> bool:
    """Whether the database is at the newest migration."""
    async with db.engine.connect() as conn:
        try:
            rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
        except (OperationalError, ProgrammingError):
            # No version table: a database that was never migrated.
            return False
        return {str(r[0]) for r in rows} == script_heads()
