"""Passwords: guessable ones are refused, everyone can change theirs, an admin reset ends the user's sessions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest
from argon2 import PasswordHasher, extract_parameters
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from core.db.models import AuditEntry, ConsoleSession
from handlers.cli import app
from handlers.console import passwords
from handlers.console.passwords import _dummy_hash as dummy_hash
from handlers.services import Services
from tests.console.conftest import SignIn
from tests.console.helpers import PASSWORD, Rep, sign_in

GUESSABLE = ["1234567890", "aaaaaaaaaa", "dave12345678", "password123", "qwertyuiop"]


async def sessions_of(services: Services, user_id: int) -> int:
    async with services.db.transaction() as session:
        return int(await session.scalar(select(func.count()).where(ConsoleSession.user_id == user_id)) or 0)


async def test_an_unknown_name_costs_one_hash_check_like_a_wrong_password(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[str] = []

    class Recording(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # type: ignore[override]
            checked.append(str(hash))
            return bool(super().verify(hash, password))

    hasher = Recording(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(passwords, "_HASHER", hasher)
    # The module's own dummy (the suite swaps in a cheap one for every test), made with the hasher in force.
    monkeypatch.setattr(passwords, "_dummy_hash", dummy_hash)
    dummy_hash.cache_clear()
    try:
        stored = hasher.hash("plum tractor lantern")
        assert not await passwords.verify_password(None, "plum tractor lantern")
        assert not await passwords.verify_password(stored, "not the password")
        assert not await passwords.verify_password(None, "another guess")
    finally:
        dummy_hash.cache_clear()
    unknown, wrong, again = checked
    assert wrong == stored
    assert unknown == again != stored, "one dummy hash, made once"
    assert extract_parameters(unknown) == extract_parameters(stored), "checked at the same cost as a real one"


async def test_guessable_passwords_are_refused_for_new_users(signed_in: SignIn) -> None:
    admin = await signed_in("root", role="admin")
    for password in GUESSABLE:
        refused = await admin.post(
            "/console/api/admin/users",
            {"username": "dave", "name": "Dave", "role": "rep", "password": password, "departments": ["cs"]},
        )
        assert refused.status_code == 400 and "guess" in refused.json()["error"], (password, refused.text)
    created = await admin.post(
        "/console/api/admin/users",
        {"username": "dave", "name": "Dave", "role": "rep", "password": "plum tractor lantern", "departments": ["cs"]},
    )
    assert created.status_code == 201


async def test_a_rep_changes_their_password_and_their_other_sessions_end(
    services: Services, signed_in: SignIn, browser_factory: Callable[[], httpx.AsyncClient]
) -> None:
    ann = await signed_in("ann")
    laptop = await Rep(browser_factory(), ann.user_id).start("ann")
    assert (await ann.get("/console/account")).status_code == 200
    wrong = await ann.post("/console/api/account/password", {"current": "not it at all", "new": "plum tractor lantern"})
    assert wrong.status_code == 400
    weak = await ann.post("/console/api/account/password", {"current": PASSWORD, "new": "ann1234567"})
    assert weak.status_code == 400 and "guess" in weak.json()["error"]
    changed = await ann.post("/console/api/account/password", {"current": PASSWORD, "new": "plum tractor lantern"})
    assert changed.status_code == 200 and changed.json()["sessions_ended"] == 1
    assert (await ann.get("/console/api/me")).status_code == 200
    assert (await laptop.get("/console/api/me")).status_code == 401
    fresh = browser_factory()
    assert (await sign_in(fresh, "ann")).status_code == 401
    assert (await sign_in(fresh, "ann", "plum tractor lantern")).status_code == 303
    async with services.db.transaction() as session:
        actions = list((await session.execute(select(AuditEntry.action))).scalars())
    assert "password_changed" in actions


async def test_checking_the_current_password_is_throttled_like_a_sign_in(signed_in: SignIn) -> None:
    ann = await signed_in("ann")
    statuses = [
        (
            await ann.post("/console/api/account/password", {"current": f"guess {n}", "new": "plum tractor lantern"})
        ).status_code
        for n in range(5)
    ]
    assert statuses[:3] == [400, 400, 400] and statuses[3:] == [429, 429]


async def test_an_admin_reset_ends_every_session_of_the_user(services: Services, signed_in: SignIn) -> None:
    admin = await signed_in("root", role="admin")
    ann = await signed_in("ann")
    assert (
        await ann.post(f"/console/api/admin/users/{ann.user_id}/password", {"password": "x" * 12})
    ).status_code == 403
    weak = await admin.post(f"/console/api/admin/users/{ann.user_id}/password", {"password": "1234567890"})
    assert weak.status_code == 400
    reset = await admin.post(f"/console/api/admin/users/{ann.user_id}/password", {"password": "plum tractor lantern"})
    assert reset.status_code == 200 and reset.json()["sessions_ended"] == 1
    assert (await ann.get("/console/api/me")).status_code == 401
    assert await sessions_of(services, ann.user_id) == 0
    assert (await admin.get("/console/api/me")).status_code == 200
    async with services.db.transaction() as session:
        row = (await session.execute(select(AuditEntry).where(AuditEntry.action == "password_reset"))).scalar_one()
    assert row.user_id == admin.user_id and row.target == f"user:{ann.user_id}"


async def test_kefu_user_passwd_sets_the_password_and_ends_sessions(
    services: Services, signed_in: SignIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann = await signed_in("ann")
    monkeypatch.setenv("KEFU_DATABASE_URL", services.settings.database_url)
    runner = CliRunner()

    def passwd(name: str, password: str) -> Result:
        # The command runs its own event loop: in a thread, beside this test's.
        return runner.invoke(app, ["user", "passwd", name, "--password-stdin"], input=password + "\n")

    weak = await asyncio.to_thread(passwd, "ann", "aaaaaaaaaa")
    assert weak.exit_code == 2 and "guess" in weak.output
    nobody = await asyncio.to_thread(passwd, "nobody", "plum tractor lantern")
    assert nobody.exit_code == 1 and "no user" in nobody.output
    done = await asyncio.to_thread(passwd, "Ann", "plum tractor lantern")
    assert done.exit_code == 0 and "1 session(s) ended" in done.output, done.output
    assert (await ann.get("/console/api/me")).status_code == 401
