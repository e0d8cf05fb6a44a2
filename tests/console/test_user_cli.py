"""`kefu user add` creates console users with argon2id hashes; bad input is refused with a clear message."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from core.db.models import User, UserDepartment
from core.db.session import Database
from handlers.cli import app


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
