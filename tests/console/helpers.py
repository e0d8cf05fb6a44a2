"""A signed-in console client for tests: signs in through the real form and sends the CSRF header."""

from __future__ import annotations

import re
from typing import Any

import httpx

from handlers.services import Services

PASSWORD = "correct horse battery"
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


async def add_user(
    services: Services, username: str, role: str = "rep", departments: tuple[str, ...] = ("cs",), name: str = ""
) -> int:
    from handlers.console.users import create_user

    async with services.db.transaction() as session:
        user = await create_user(
            session,
            username=username,
            display_name=name or username,
            role=role,
            password=PASSWORD,
            departments=departments if role == "rep" else (),
            now=services.clock.now(),
        )
        return user.id


def form_token(page: str) -> str:
    match = CSRF_FIELD.search(page)
    assert match, "the sign-in page has no CSRF field"
    return match.group(1)


async def sign_in(http: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    page = await http.get("/console/login")
    assert page.status_code == 200, page.text
    return await http.post(
        "/console/login",
        data={"username": username, "password": password, "csrf": form_token(page.text), "next": "/console"},
    )


class Rep:
    """One person's browser: its own cookie jar, signed in, with the session's CSRF token."""

    def __init__(self, http: httpx.AsyncClient, user_id: int) -> None:
        self.http = http
        self.user_id = user_id
        self.csrf = ""

    async def start(self, username: str) -> Rep:
        response = await sign_in(self.http, username)
        assert response.status_code == 303, response.text
        me = await self.http.get("/console/api/me")
        assert me.status_code == 200, me.text
        self.csrf = me.json()["csrf"]
        return self

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.get(path, **kwargs)

    async def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return await self.http.post(path, json=body or {}, headers={"X-CSRF-Token": self.csrf})


async def escalate(services: Services, visitor: str, text: str = "人工", channel: str = "web") -> tuple[int, str]:
    """A client who asks for a person at once: (conversation id, ticket number) of the waiting ticket."""
    import uuid

    from sqlalchemy import select

    from core.db.models import Ticket
    from core.messages import ConversationRef, InboundMessage, MessageType

    result = await services.engine.receive(
        InboundMessage(
            ref=ConversationRef(channel=channel, external_user_id=visitor),
            external_id=uuid.uuid4().hex,
            type=MessageType.TEXT,
            text=text,
        )
    )
    assert result.conversation_id is not None
    async with services.db.transaction() as session:
        number = (
            (
                await session.execute(
                    select(Ticket.number)
                    .where(Ticket.conversation_id == result.conversation_id)
                    .order_by(Ticket.id.desc())
                )
            )
            .scalars()
            .first()
        )
    assert number is not None, "no ticket was opened"
    return result.conversation_id, number


async def say(services: Services, visitor: str, text: str, channel: str = "web") -> None:
    """The same client writes again."""
    import uuid

    from core.messages import ConversationRef, InboundMessage, MessageType

    await services.engine.receive(
        InboundMessage(
            ref=ConversationRef(channel=channel, external_user_id=visitor),
            external_id=uuid.uuid4().hex,
            type=MessageType.TEXT,
            text=text,
        )
    )


async def outbound_texts(services: Services, conversation_id: int) -> list[str]:
    """What kefu sent (or queued for) the client, in order."""
    from sqlalchemy import select

    from core.db.models import Message

    async with services.db.transaction() as session:
        rows = await session.execute(
            select(Message.text)
            .where(Message.conversation_id == conversation_id, Message.direction == "out")
            .order_by(Message.id)
        )
        return list(rows.scalars())


def amr_note(frames: int = 50, seed: int = 1) -> bytes:
    """An AMR-NB file as WeChat stores voice notes: 12.2 kbit/s frames of 20 ms (the payload bits are arbitrary)."""
    import random

    rng = random.Random(seed)
    return b"#!AMR\n" + b"".join(b"\x3c" + bytes(rng.randrange(256) for _ in range(31)) for _ in range(frames))
