"""Sign-in, sessions, CSRF, throttling and roles of the console, through the real HTTP routes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
from sqlalchemy import select

from core.clock import ManualClock
from core.db.models import AuditEntry, ConsoleSession, User
from handlers.services import Services
from tests.console.conftest import SignIn
from tests.console.helpers import PASSWORD, add_user, form_token, sign_in


async def test_sign_in_sets_a_secure_http_only_same_site_cookie_and_stores_only_its_hash(
    services: Services, browser_factory: Callable[[], httpx.AsyncClient]
) -> None:
    await add_user(services, "ann")
    http = browser_factory()
    response = await sign_in(http, "Ann")  # names are case-insensitive
    assert response.status_code == 303 and response.headers["location"] == "/console"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("kefu_console="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "secure", "samesite"} <= attributes
    assert "samesite=lax" in cookie.lower()
    token = cookie.split(";")[0].split("=", 1)[1]
    async with services.db.transaction() as session:
        rows = list((await session.execute(select(ConsoleSession))).scalars())
        user = (await session.execute(select(User).where(User.username == "ann"))).scalar_one()
    assert len(rows) == 1 and rows[0].id != token and token not in rows[0].id
    assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")
    me = await http.get("/console/api/me")
    assert me.status_code == 200 and me.json()["user"]["username"] == "ann"
    assert me.json()["texts"]["console.title"] == "客服工作台"


async def test_wrong_password_and_unknown_user_are_refused_alike(
    services: Services, browser_factory: Callable[[], httpx.AsyncClient]
) -> None:
    await add_user(services, "ann")
    http = browser_factory()
    wrong = await sign_in(http, "ann", "not the password")
    nobody = await sign_in(http, "nobody", "not the password")
    assert wrong.status_code == nobody.status_code == 401
    assert "用户名或密码不正确" in wrong.text and "用户名或密码不正确" in nobody.text
    assert "kefu_console=" not in wrong.headers.get("set-cookie", "")
    assert (await http.get("/console/api/me")).status_code == 401


async def test_backoff_then_lockout_then_release_after_the_lock_time(
    services: Services, clock: ManualClock, browser_factory: Callable[[], httpx.AsyncClient]
) -> None:
    await add_user(services, "ann")
    http = browser_factory()
    for _ in range(3):
        assert (await sign_in(http, "ann", "wrong password")).status_code == 401
    # Three failures: the next attempt must wait, even with the right password.
    early = await sign_in(http, "ann")
    assert early.status_code == 429 and int(early.headers["retry-after"]) >= 1
    assert "尝试过于频繁" in early.text
    for _ in range(3):
        clock.advance(timedelta(seconds=61))
        await sign_in(http, "ann", "wrong password")
    locked = await sign_in(http, "ann")
    assert locked.status_code == 429 and "暂时锁定" in locked.text
    clock.advance(timedelta(minutes=14))
    assert (await sign_in(http, "ann")).status_code == 429
    clock.advance(timedelta(minutes=2))
    assert (await sign_in(http, "ann")).status_code == 303
    async with services.db.transaction() as session:
        actions = [a.action for a in (await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars()]
    assert actions.count("login_failed") == 6 and actions[-1] == "login"


async def test_sign_in_form_needs_its_csrf_token_and_next_stays_inside_the_console(
    services: Services, browser_factory: Callable[[], httpx.AsyncClient]
) -> None:
    await add_user(services, "ann")
    http = browser_factory()
    page = await http.get("/console/login")
    forged = await http.post("/console/login", data={"username": "ann", "password": PASSWORD, "csrf": "guess"})
    assert forged.status_code == 403
    bare = browser_factory()  # no sign-in cookie at all, as from another site's form
    assert (
        await bare.post("/console/login", data={"username": "ann", "password": PASSWORD, "csrf": form_token(page.text)})
    ).status_code == 403
    page = await http.get("/console/login")
    away = await http.post(
        "/console/login",
        data={"username": "ann", "password": PASSWORD, "csrf": form_token(page.text), "next": "https://evil.example/"},
    )
    assert away.status_code == 303 and away.headers["location"] == "/console"


async def test_state_changing_requests_need_the_session_csrf_token(signed_in: SignIn) -> None:
    ann = await signed_in("ann")
    none = await ann.http.post("/console/api/language", json={"language": "en"})
    wrong = await ann.http.post("/console/api/language", json={"language": "en"}, headers={"X-CSRF-Token": "x" * 43})
    assert none.status_code == wrong.status_code == 403
    ok = await ann.post("/console/api/language", {"language": "en"})
    assert ok.status_code == 200
    me = (await ann.get("/console/api/me")).json()
    assert me["user"]["language"] == "en" and me["texts"]["console.title"] == "Rep console"


async def test_logout_idle_timeout_and_disabled_users_end_sessions(
    services: Services, clock: ManualClock, signed_in: SignIn
) -> None:
    ann = await signed_in("ann")
    assert (await ann.post("/console/logout")).status_code == 200
    assert (await ann.get("/console/api/me")).status_code == 401
    page = await ann.get("/console")
    assert page.status_code == 303 and page.headers["location"].startswith("/console/login")

    bob = await signed_in("bob")
    clock.advance(timedelta(minutes=119))
    assert (await bob.get("/console/api/me")).status_code == 200  # activity keeps it alive
    clock.advance(timedelta(minutes=119))
    assert (await bob.get("/console/api/me")).status_code == 200
    clock.advance(timedelta(minutes=121))
    assert (await bob.get("/console/api/me")).status_code == 401

    carol = await signed_in("carol")
    async with services.db.transaction() as session:
        user = await session.get(User, carol.user_id)
        assert user is not None
        user.active = False
    assert (await carol.get("/console/api/me")).status_code == 401


async def test_roles_reports_for_supervisors_users_for_admins(signed_in: SignIn) -> None:
    rep = await signed_in("rep1")
    supervisor = await signed_in("sup1", role="supervisor")
    admin = await signed_in("root", role="admin")
    assert (await rep.get("/console/api/reports")).status_code == 403
    assert (await rep.get("/console/admin")).status_code == 403
    assert (await supervisor.get("/console/api/reports")).status_code == 200
    assert (await supervisor.get("/console/api/admin/users")).status_code == 403
    assert (await rep.post("/console/api/admin/users", {})).status_code == 403
    created = await admin.post(
        "/console/api/admin/users",
        {"username": "dave", "name": "小戴", "role": "rep", "password": "a long password", "departments": ["media"]},
    )
    assert created.status_code == 201, created.text
    listed = (await admin.get("/console/api/admin/users")).json()["users"]
    assert {"username": "dave", "role": "rep", "department": "media"}.items() <= next(
        u for u in listed if u["username"] == "dave"
    ).items()
    bad = await admin.post("/console/api/admin/users", {"username": "x y", "name": "n", "role": "rep", "password": "p"})
    assert bad.status_code == 400
    disabled = await admin.post(f"/console/api/admin/users/{rep.user_id}/active", {"active": False})
    assert disabled.status_code == 200
    assert (await rep.get("/console/api/me")).status_code == 401
