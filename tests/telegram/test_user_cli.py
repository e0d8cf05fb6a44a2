"""`kefu user link-telegram`: links a kefu user to a Telegram account, with clear refusals."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

from sqlalchemy import select

from core.db.models import User
from core.settings import PROJECT_ROOT, Settings
from handlers.services import build_services
from tests.desk_setup import create_staff
from tests.test_cli import KEFU


def test_link_telegram(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    env = {**os.environ, "KEFU_DATABASE_URL": url}

    async def setup() -> None:
        services = build_services(Settings(database_url=url))
        await services.start()
        try:
            await create_staff(services)
        finally:
            await services.stop()

    async def linked() -> dict[str, int | None]:
        services = build_services(Settings(database_url=url))
        try:
            async with services.db.transaction() as session:
                rows = await session.execute(select(User.username, User.telegram_user_id))
                return {name: tg for name, tg in rows.all()}
        finally:
            await services.stop()

    asyncio.run(setup())

    def kefu(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(KEFU), *args], capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=60)

    done = kefu("user", "link-telegram", "rep0", "7001")
    assert done.returncode == 0, done.stderr
    assert "rep0 (客服0) is linked to Telegram user 7001" in done.stdout
    taken = kefu("user", "link-telegram", "rep1", "7001")
    assert taken.returncode == 1 and "already linked to 'rep0'" in taken.stderr
    missing = kefu("user", "link-telegram", "nobody", "7002")
    assert missing.returncode == 1 and "no user 'nobody'" in missing.stderr
    bad = kefu("user", "link-telegram", "rep1", "-5")
    assert bad.returncode != 0
    not_a_number = kefu("user", "link-telegram", "rep1", "@rep_one")
    assert not_a_number.returncode == 2
    # Linking again moves the same user to a new account.
    assert kefu("user", "link-telegram", "rep0", "7003").returncode == 0
    people = asyncio.run(linked())
    assert people["rep0"] == 7003 and people["rep1"] is None
