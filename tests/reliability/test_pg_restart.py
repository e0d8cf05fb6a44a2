"""PostgreSQL restarted in the middle of a run: kefu recovers by itself and loses no message (make soak)."""

from __future__ import annotations

import asyncio
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from core.db.models import Message, OutboxMessage
from core.db.session import Database
from tests.channels.wechat.fake_api import FakeWeChatAPI
from tests.reliability.procs import GRACEFUL, KefuProcess, eventually
from tests.reliability.test_crash import APP_ID, SCRIPT, TOKEN, Follower

pytestmark = pytest.mark.soak


def _restart_postgres() -> None:
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[0]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart", "--", "-m", "fast"],
        check=True,
        timeout=60,
    )


async def _postmaster_started(db: Database) -> object:
    async with db.transaction() as session:
        return (await session.execute(text("SELECT pg_postmaster_start_time()"))).scalar_one()


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_postgres_restart_mid_run_loses_nothing(db_url: str, tmp_path: Path) -> None:
    api = FakeWeChatAPI()
    api.start()
    env = {
        "KEFU_DATABASE_URL": db_url,
        "KEFU_ENV": "test",
        "KEFU_MEDIA_DIR": str(tmp_path / "media"),
        "KEFU_OUTBOX_POLL_SECONDS": "0.2",
        "KEFU_WECHAT_TOKEN": TOKEN,
        "KEFU_WECHAT_APP_ID": APP_ID,
        "KEFU_WECHAT_APP_SECRET": "app-secret",
        "KEFU_WECHAT_API_BASE": api.base,
        "KEFU_LOG_LEVEL": "WARNING",
    }
    server = KefuProcess(env, tmp_path / "kefu.log")
    server.start()
    await server.wait_ready()
    followers = [Follower(server, f"oPgRestart{n:03d}", 50_000 * (n + 1), SCRIPT, pause=0.3) for n in range(8)]

    async def restart_midway() -> None:
        async def writing() -> bool:
            return sum(len(f.passive) for f in followers) >= 8

        await eventually(writing, 30)
        await asyncio.to_thread(_restart_postgres)
        at_restart.append(sum(len(f.passive) for f in followers))

    at_restart: list[int] = []
    db = Database(db_url)
    try:
        started_before = await _postmaster_started(db)
        await asyncio.gather(restart_midway(), *(f.run() for f in followers))
        await server.wait_ready()  # readiness came back without anyone touching kefu

        async def settled() -> bool:
            async with db.transaction() as session:
                waiting = await session.scalar(
                    select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status != "sent")
                )
            return waiting == 0

        await eventually(settled, 60)
        async with db.transaction() as session:
            stored = Counter(
                (await session.execute(select(Message.external_id).where(Message.direction == "in"))).scalars()
            )
        assert set(stored) == {str(m) for f in followers for m in f.passive}
        assert set(stored.values()) == {1}
        assert len(stored) == len(followers) * len(SCRIPT)
        assert await _postmaster_started(db) != started_before, "PostgreSQL really restarted"
        assert at_restart and at_restart[0] < len(stored), "while the followers were still writing"
        assert server.terminate() in GRACEFUL
    finally:
        if server.running():
            server.kill()
        await db.dispose()
        api.stop()
