"""`kefu user`: `add` creates console users with argon2id hashes, `link-telegram` links one to a Telegram account;
bad input is refused with a clear message."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from core.db.models import User, UserDepartment
from core.db.session import Database
from core.settings import Settings
from handlers.cli import app
from handlers.services import build_services
from tests.support.cli import run_kefu
from tests.support.desk_setup import create_staff


async def _users(url: str) -> dict[str, tuple[User, list[int]]]:
    db = Database(url)
    try:
        async with db.transaction() as session:
            users = list((await session.execute(select(User))).scalars())
            extra = list((await session.execute(select(UserDepartment))).scalars())
            return {u.username: (u, [e.department_id for e in extra if e.user_id == u.id]) for u in users}
    finally:
        await db.dispose()


def test_user_add_creates_the_first_admin_and_reps(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEFU_DATABASE_URL", db_url)
    runner = CliRunner()
    admin = runner.invoke(
        app, ["user", "add", "Root", "--role", "admin", "--name", "管理员"], input="s3cret-password\n" * 2
    )
    assert admin.exit_code == 0, admin.output
    assert "user root (admin) created" in admin.output and "s3cret" not in admin.output
    rep = runner.invoke(
        app,
        ["user", "add", "li.na", "--role", "rep", "--department", "cs", "--department", "media", "--password-stdin"],
        input="another-password\n",
    )
    assert rep.exit_code == 0, rep.output
    users = asyncio.run(_users(db_url))
    root, _ = users["root"]
    assert root.role == "admin" and root.display_name == "管理员"
    assert root.password_hash is not None and root.password_hash.startswith("$argon2id$")
    li, extra = users["li.na"]
    assert li.department_id is not None and len(extra) == 1 and extra[0] != li.department_id

    for args, message in (
        (["user", "add", "root", "--role", "admin"], "exists already"),
        (["user", "add", "x", "--role", "rep", "--department", "cs"], "user name"),
        (["user", "add", "bob", "--role", "boss"], "role must be one of"),
        (["user", "add", "bob", "--role", "rep"], "at least one department"),
        (["user", "add", "bob", "--role", "rep", "--department", "nowhere"], "no department nowhere"),
    ):
        result = runner.invoke(app, [*args, "--password-stdin"], input="long enough password\n")
        assert result.exit_code == 2 and message in result.output, (args, result.output)
    short = runner.invoke(app, ["user", "add", "bob", "--role", "supervisor", "--password-stdin"], input="short\n")
    assert short.exit_code == 2 and "at least 10 characters" in short.output
    assert set(asyncio.run(_users(db_url))) == {"root", "li.na"}


def test_link_telegram(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    kefu = partial(run_kefu, env={"KEFU_DATABASE_URL": url})

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
