"""Console fixtures: the real app over HTTPS (so Secure cookies flow) and signed-in people."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI

from handlers.app import create_app
from handlers.services import Services
from tests.console.helpers import Rep, add_user


@pytest.fixture
def app(services: Services) -> FastAPI:
    return create_app(services.settings, services=services, background=False)


@pytest.fixture
async def browser_factory(app: FastAPI) -> AsyncIterator[Callable[[], httpx.AsyncClient]]:
    """New cookie jars on the same app: one per person."""
    clients: list[httpx.AsyncClient] = []

    def make() -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


SignIn = Callable[..., Awaitable[Rep]]


@pytest.fixture
def signed_in(services: Services, browser_factory: Callable[[], httpx.AsyncClient]) -> SignIn:
    """Create a user and sign them in through the form: `await signed_in("ann", role="rep", departments=("cs",))`."""

    async def make(username: str, role: str = "rep", departments: tuple[str, ...] = ("cs",), name: str = "") -> Rep:
        user_id = await add_user(services, username, role, departments, name)
        return await Rep(browser_factory(), user_id).start(username)

    return make
