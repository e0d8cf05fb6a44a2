"""Sign-in throttling under concurrency: a burst of guesses is admitted one at a time, before any hash is checked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from core.clock import ManualClock
from core.db.models import AuditEntry, ConsoleSession, LoginThrottle
from handlers.app import create_app
from handlers.console.console import Console
from handlers.console.settings import ConsoleSettings
from handlers.services import Services
from tests.console.helpers import PASSWORD, add_user, form_token

Browser = Callable[[str], httpx.AsyncClient]


def console_app(services: Services, **overrides: int) -> FastAPI:
    app = create_app(services.settings, services=services, background=False)
    console: Console = app.state.console
    for key, value in overrides.items():
        setattr(console.settings, key, value)
    return app


@pytest.fixture
async def browsers(services: Services) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """Cookie jars on one app, each from the client address given (the app's console settings can be overridden)."""
    clients: list[httpx.AsyncClient] = []
    apps: dict[tuple[tuple[str, int], ...], FastAPI] = {}

    def make(ip: str = "203.0.113.7", **overrides: int) -> httpx.AsyncClient:
        key = tuple(sorted(overrides.items()))
        if key not in apps:
            apps[key] = console_app(services, **overrides)
        transport = httpx.ASGITransport(app=apps[key], client=(ip, 40000))
        client = httpx.AsyncClient(transport=transport, base_url="https://testserver")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def ready_form(http: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    page = await http.get("/console/login")
    return {"username": username, "password": password, "csrf": form_token(page.text), "next": "/console"}


async def burst(
    browsers: Callable[..., httpx.AsyncClient], username: str, passwords: list[str], **overrides: int
) -> list[httpx.Response]:
    """All sign-ins sent at once, each from its own browser on the same address, forms fetched beforehand."""
    clients = [browsers(**overrides) for _ in passwords]
    forms = [await ready_form(c, username, p) for c, p in zip(clients, passwords, strict=True)]
    return list(await asyncio.gather(*(c.post("/console/login", data=f) for c, f in zip(clients, forms, strict=True))))


async def audit_count(services: Services, action: str) -> int:
    async with services.db.transaction() as session:
        return int(await session.scalar(select(func.count()).where(AuditEntry.action == action)) or 0)


async def test_a_burst_of_13_wrong_and_1_right_checks_no_more_than_the_lockout_allows(
    services: Services, browsers: Callable[..., httpx.AsyncClient]
) -> None:
    await add_user(services, "ann")
    # Backoff off (it would admit even fewer): the lockout alone must hold under concurrency.
    lock_after = ConsoleSettings().lock_after
    responses = await burst(browsers, "ann", ["wrong password"] * 13, backoff_after=lock_after)
    checked = await audit_count(services, "login_failed")
    assert checked <= lock_after, f"{checked} wrong passwords were checked, the lockout is {lock_after}"
    assert sum(r.status_code == 429 for r in responses) == len(responses) - checked + 1  # the 6th says "locked"
    # The right password after the burst, from yet another browser: locked out like the guesses. (Sent within the
    # burst, it may be admitted before the sixth guess is counted, and then it rightly gets in.)
    (right,) = await burst(browsers, "ann", [PASSWORD], backoff_after=lock_after)
    assert right.status_code == 429 and "暂时锁定" in right.text
    assert await audit_count(services, "login") == 0
    async with services.db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(ConsoleSession)) == 0


async def test_with_backoff_a_burst_checks_only_the_free_attempts(
    services: Services, browsers: Callable[..., httpx.AsyncClient]
) -> None:
    await add_user(services, "ann")
    await burst(browsers, "ann", ["wrong password"] * 13)
    assert await audit_count(services, "login_failed") <= ConsoleSettings().backoff_after
    (right,) = await burst(browsers, "ann", [PASSWORD])
    assert right.status_code == 429
    assert await audit_count(services, "login") == 0


async def test_a_locked_name_still_lets_the_right_password_in_from_a_clean_address(
    services: Services, clock: ManualClock, browsers: Callable[..., httpx.AsyncClient]
) -> None:
    await add_user(services, "ann")
    settings = ConsoleSettings()
    attacker = browsers("198.51.100.9")
    for _ in range(settings.lock_after):
        clock.advance(timedelta(seconds=settings.backoff_max_seconds + 1))
        await attacker.post("/console/login", data=await ready_form(attacker, "ann", "wrong password"))
    refused = await attacker.post("/console/login", data=await ready_form(attacker, "ann", PASSWORD))
    assert refused.status_code == 429
    office = browsers("192.0.2.44")
    welcome = await office.post("/console/login", data=await ready_form(office, "ann", PASSWORD))
    assert welcome.status_code == 303


async def test_one_address_guessing_many_names_is_throttled_across_names(
    services: Services, clock: ManualClock, browsers: Callable[..., httpx.AsyncClient]
) -> None:
    await add_user(services, "ann")
    http = browsers("198.51.100.9", ip_lock_after=5)
    for n in range(5):
        clock.advance(timedelta(seconds=5))
        assert (
            await http.post("/console/login", data=await ready_form(http, f"made-up-{n}", "guess"))
        ).status_code == 401
    # Another name, even the right password of a real user: this address is locked for now.
    assert (await http.post("/console/login", data=await ready_form(http, "ann", PASSWORD))).status_code == 429
    elsewhere = browsers("192.0.2.44", ip_lock_after=5)
    assert (
        await elsewhere.post("/console/login", data=await ready_form(elsewhere, "ann", PASSWORD))
    ).status_code == 303


async def test_throttle_rows_of_made_up_names_expire(
    services: Services, clock: ManualClock, browsers: Callable[..., httpx.AsyncClient]
) -> None:
    http = browsers("198.51.100.9")
    for n in range(4):
        await http.post("/console/login", data=await ready_form(http, f"nobody-{n}", "guess"))
    async with services.db.transaction() as session:
        assert (await session.scalar(select(func.count()).select_from(LoginThrottle)) or 0) >= 4
    clock.advance(timedelta(hours=ConsoleSettings().throttle_forget_hours, minutes=1))
    other = browsers("192.0.2.44")
    await other.post("/console/login", data=await ready_form(other, "someone", "guess"))
    async with services.db.transaction() as session:
        keys = list((await session.execute(select(LoginThrottle.key))).scalars())
    assert keys and all("nobody" not in k and "198.51.100.9" not in k for k in keys), keys


async def _sign_in(http: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await http.post("/console/login", data=await ready_form(http, username, password))


async def pair_failures(services: Services, key: str) -> int:
    async with services.db.transaction() as session:
        return int(await session.scalar(select(LoginThrottle.failures).where(LoginThrottle.key == key)) or 0)


async def test_failures_under_other_spellings_of_a_name_count_toward_one_lockout(
    services: Services, browsers: Callable[..., httpx.AsyncClient]
) -> None:
    await add_user(services, "ann")
    lock_after = ConsoleSettings().lock_after
    # Backoff off: the lockout alone is under test, without waiting between attempts.
    http = browsers(backoff_after=lock_after)
    spellings = ["Ann", "ann", " ANN ", "aNn"]
    for n in range(lock_after - 1):
        assert (await _sign_in(http, spellings[n % len(spellings)], "wrong password")).status_code == 401
    # The failure that reaches the lockout says so, and then even the right password waits.
    assert (await _sign_in(http, "ANN", "wrong password")).status_code == 429
    locked = await _sign_in(http, "ann", PASSWORD)
    assert locked.status_code == 429 and "暂时锁定" in locked.text, "each spelling was counted on its own"
    assert await pair_failures(services, "pair:ann|203.0.113.7") == lock_after


async def test_a_successful_sign_in_starts_the_failure_count_afresh(
    services: Services, browsers: Callable[..., httpx.AsyncClient]
) -> None:
    await add_user(services, "ann")
    lock_after = ConsoleSettings().lock_after
    http = browsers(backoff_after=lock_after)
    for _ in range(3):
        for _ in range(lock_after - 1):
            assert (await _sign_in(http, "ann", "wrong password")).status_code == 401
        # One short of the lockout, the right password: in, and the earlier failures no longer count.
        assert (await _sign_in(http, "ann", PASSWORD)).status_code == 303
        assert await pair_failures(services, "pair:ann|203.0.113.7") == 0
    assert await audit_count(services, "login") == 3


async def test_simultaneous_failures_are_each_counted(
    services: Services, browsers: Callable[..., httpx.AsyncClient]
) -> None:
    await add_user(services, "ann")
    lock_after = ConsoleSettings().lock_after
    n = lock_after - 1
    responses = await burst(browsers, "ann", ["wrong password"] * n, backoff_after=lock_after)
    assert [r.status_code for r in responses] == [401] * n
    assert await audit_count(services, "login_failed") == n
    assert await pair_failures(services, "pair:ann|203.0.113.7") == n, "concurrent failures were lost"
    # So one more failure reaches the lockout, and then even the right password waits.
    http = browsers(backoff_after=lock_after)
    assert (await _sign_in(http, "ann", "wrong password")).status_code == 429
    locked = await _sign_in(http, "ann", PASSWORD)
    assert locked.status_code == 429 and "暂时锁定" in locked.text
