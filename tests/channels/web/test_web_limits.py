"""Abuse limits on the web chat: a flood of anonymous posts makes no flood of tickets; stored text is bounded."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from core.clock import ManualClock
from core.db.models import Message, Ticket
from core.settings import LimitSettings, Settings
from handlers.app import create_app
from handlers.services import Services, build_services


@pytest.fixture
async def limited(db_url: str, tmp_path: Path, clock: ManualClock) -> AsyncIterator[Services]:
    settings = Settings(
        database_url=db_url,
        env="test",
        media_dir=tmp_path / "media",
        limits=LimitSettings(messages_per_minute=5, address_messages_per_minute=60, address_conversations_per_hour=4),
    )
    built = build_services(settings, clock)
    await built.start(migrate=False)
    yield built
    await built.stop()


def web_app(services: Services) -> FastAPI:
    return create_app(services.settings, services=services, background=False)


def client_from(app: FastAPI, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 5000)), base_url="http://testserver"
    )


async def count(services: Services, model: type[Ticket] | type[Message]) -> int:
    async with services.db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def post(http: httpx.AsyncClient, text: str, cookies: httpx.Cookies | None = None) -> httpx.Response:
    body = {"client_msg_id": uuid.uuid4().hex, "text": text}
    return await http.post("/api/chat/messages", json=body, cookies=cookies)


async def test_anonymous_posts_from_one_address_open_only_the_allowed_conversations(limited: Services) -> None:
    # One app for all: the limits are kept in the services, and building an app costs more than a post.
    app = web_app(limited)

    async def anonymous() -> httpx.Response:
        # A new cookie jar for each post: a new visitor, a new conversation that could open a ticket.
        async with client_from(app, "198.51.100.20") as http:
            return await post(http, "人工")

    responses = await asyncio.gather(*(anonymous() for _ in range(40)))
    assert sum(r.status_code == 200 for r in responses) == 4
    refused = [r for r in responses if r.status_code == 429]
    assert len(refused) == 36
    assert refused[0].json()["text"].startswith("您发送得太快了") and int(refused[0].headers["retry-after"]) >= 1
    assert await count(limited, Ticket) <= 4
    async with client_from(app, "192.0.2.30") as other:
        assert (await post(other, "人工")).status_code == 200


async def test_one_visitor_may_send_so_many_messages_a_minute(limited: Services) -> None:
    async with client_from(web_app(limited), "198.51.100.21") as http:
        first = await post(http, "你好")
        assert first.status_code == 200
        statuses = [(await post(http, f"第{n}条")).status_code for n in range(8)]
    assert statuses == [200] * 4 + [429] * 4
    assert await count(limited, Message) > 0
    async with limited.db.transaction() as session:
        inbound = await session.scalar(select(func.count()).where(Message.direction == "in"))
    assert inbound == 5


async def test_stored_text_and_payload_are_bounded(services: Services, web: httpx.AsyncClient) -> None:
    limit = services.settings.max_message_chars
    response = await post(web, "a" * 100_000)
    assert response.status_code == 200
    async with services.db.transaction() as session:
        row = (await session.execute(select(Message).where(Message.direction == "in"))).scalar_one()
    assert len(row.text or "") == limit and row.payload.get("text_chars") == 100_000


async def test_the_chat_page_sends_csp_frame_rules_and_nosniff(web: httpx.AsyncClient) -> None:
    page = await web.get("/")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'self'" in csp
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "SAMEORIGIN"


async def test_in_production_the_visitor_cookie_is_secure_and_embedding_sites_are_configurable(
    services: Services,
) -> None:
    settings = services.settings.model_copy(
        update={"env": "production", "web_frame_ancestors": "https://www.example.com"}
    )
    app = create_app(settings, services=services, background=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver") as http:
        config = await http.get("/api/chat/config")
        page = await http.get("/")
    cookie = config.headers["set-cookie"].lower()
    assert "secure" in [part.strip() for part in cookie.split(";")]
    assert "frame-ancestors https://www.example.com" in page.headers["content-security-policy"]
    assert "x-frame-options" not in page.headers


async def test_a_body_that_trickles_in_is_cut_off_at_the_read_deadline(services: Services) -> None:
    app = create_app(services.settings, services=services, background=False)
    app.state.body_read_seconds = 0.5

    async def trickle() -> AsyncIterator[bytes]:
        yield b'{"client_msg_id": "slow", "text": "'
        await asyncio.sleep(30)
        yield b'"}'

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        started = asyncio.get_running_loop().time()
        response = await http.post(
            "/api/chat/messages", content=trickle(), headers={"content-type": "application/json"}
        )
        elapsed = asyncio.get_running_loop().time() - started
    assert response.status_code == 408 and elapsed < 5
