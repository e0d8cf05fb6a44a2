"""The benchmarks' databases: made fresh on the machine's PostgreSQL (or in a temporary SQLite file), dropped after."""

from __future__ import annotations

import os
import shutil
import tempfile

import asyncpg

from core.db.migrate import upgrade
from core.db.session import Database

# A connection for creating and dropping databases; benchmarks only ever talk to 127.0.0.1.
PG = os.environ.get("KEFU_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres").replace(
    "postgresql+asyncpg://", "postgresql://"
)


async def fresh_database(name: str, kind: str = "postgres", *, migrate: bool = True) -> str:
    """The URL of an empty database `name` (dropped first if a run left one), migrated unless `migrate` is False."""
    if kind == "sqlite":
        url = f"sqlite:///{tempfile.mkdtemp(prefix=f'kefu-bench-{name}-')}/{name}.db"
    else:
        conn = await asyncpg.connect(PG)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        url = PG.rsplit("/", 1)[0] + "/" + name
    if migrate:
        db = Database(url)
        await upgrade(db)
        await db.dispose()
    return url


async def drop_database(url: str) -> None:
    """Drop a database `fresh_database` made (a SQLite file goes with its directory)."""
    if url.startswith("sqlite"):
        shutil.rmtree(os.path.dirname(url.removeprefix("sqlite:///")), ignore_errors=True)
        return
    conn = await asyncpg.connect(PG)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()
