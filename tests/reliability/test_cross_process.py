"""Two web processes and a worker behind no sticky routing: every reader hears what any process did."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.db.session import Database
from handlers.console.users import create_user
from tests.console.helpers import PASSWORD
from tests.reliability.procs import GRACEFUL, KefuProcess
from tests.reliability.streams import console_hears_every_process, web_chat_hears_every_process


def cluster_env(db_url: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    """Settings of a small deployment whose reminders are due at once, so a worker produces one in seconds."""
    return {
        "KEFU_DATABASE_URL": db_url,
        "KEFU_ENV": "test",
        "KEFU_MEDIA_DIR": str(tmp_path / "media"),
        "KEFU_REDIS_URL": redis_url,
        "KEFU_REDIS_PREFIX": f"kefu-cross-{uuid.uuid4().hex[:8]}",
        "KEFU_OUTBOX_POLL_SECONDS": "0.2",
        "KEFU_FOLLOWUP_POLL_SECONDS": "0.2",
        "KEFU_DIALOGUE__IDLE_REMINDER_MINUTES": "0",
        "KEFU_DIALOGUE__QUIET_HOURS_START": "00:00",
        "KEFU_DIALOGUE__QUIET_HOURS_END": "00:00",
        "KEFU_CONSOLE_COOKIE_SECURE": "false",
        "KEFU_PRESTOP_SECONDS": "0",
        "KEFU_LOG_LEVEL": "WARNING",
    }


async def start_cluster(env: dict[str, str], tmp_path: Path, ports: tuple[int, ...] = ()) -> list[KefuProcess]:
    """Web, web, worker: the first migrates and seeds alone, the others start once it is ready."""
    roles = ("web", "web", "worker")
    processes = [
        KefuProcess(env, tmp_path / f"{role}{i}.log", role=role, port=ports[i] if i < len(ports) else None)
        for i, role in enumerate(roles)
    ]
    try:
        processes[0].start()
        await processes[0].wait_ready()
        for process in processes[1:]:
            process.start()
        for process in processes[1:]:
            await process.wait_ready()
    except BaseException:
        for process in processes:
            if process.running():
                process.kill()
        raise
    return processes


async def add_supervisor(db_url: str) -> None:
    db = Database(db_url)
    try:
        async with db.transaction() as session:
            now = datetime.now(UTC)
            await create_user(
                session, username="sup", display_name="主管", role="supervisor", password=PASSWORD, now=now
            )
    finally:
        await db.dispose()


@pytest.fixture
async def cluster(db_url: str, redis_url: str, tmp_path: Path) -> AsyncIterator[list[KefuProcess]]:
    processes = await start_cluster(cluster_env(db_url, redis_url, tmp_path), tmp_path)
    await add_supervisor(db_url)
    try:
        yield processes
    finally:
        for process in processes:
            if process.running():
                assert process.terminate() in GRACEFUL


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_web_chat_stream_hears_replies_made_in_other_processes_within_a_second(
    db_url: str, cluster: list[KefuProcess]
) -> None:
    web_a, web_b, _worker = cluster
    db = Database(db_url)
    try:
        # The stream is on A; the bot turn and the rep's reply happen on B, the reminder on the worker.
        worst = await web_chat_hears_every_process(db, web_a.url, web_b.url, web_b.url)
        print(f"slowest reply reached the other process's stream in {worst:.3f} s")
        await console_hears_every_process(web_a.url, web_b.url)
    finally:
        await db.dispose()
