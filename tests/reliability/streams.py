"""Checks that readers of kefu's event streams hear what another process did: a web visitor and a console."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select

from core.db.models import OutboxMessage
from core.db.session import Database
from tests.console.helpers import PASSWORD, form_token
from tests.reliability.procs import eventually
from tests.support.chat import TICKET_NO

# As bots/web/static/chat.js: tries after the first, for an answer of 500 or more.
SEND_RETRIES = 4

# What the issue asks of a reply made in any process: on the visitor's screen within a second.
MAX_LAG_SECONDS = 1.0


class Visitor:
    """A web-chat visitor whose event stream is open on one base URL while it posts through another."""

    def __init__(self, stream_base: str, post_base: str, *, verify: bool = True) -> None:
        self.stream = httpx.AsyncClient(base_url=stream_base, timeout=httpx.Timeout(10, read=None), verify=verify)
        self.poster = httpx.AsyncClient(base_url=post_base, timeout=10, verify=verify)
        # (message, wall-clock second it arrived on the stream)
        self.heard: list[tuple[dict[str, Any], float]] = []
        self.connected = asyncio.Event()
        self.ended = asyncio.Event()
        self.retry_hints: list[int] = []
        self.upstream: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        response = await self.stream.get("/api/chat/config")
        assert response.status_code == 200, response.text
        # The same visitor cookie on both sides, as one browser behind a balancing proxy has.
        self.poster.cookies.update(self.stream.cookies)
        self._task = asyncio.create_task(self._read())
        await asyncio.wait_for(self.connected.wait(), 10)

    async def reopen(self) -> None:
        """What the browser does after its stream ended: connect again, from the last message it saw."""
        self.connected, self.ended = asyncio.Event(), asyncio.Event()
        self._task = asyncio.create_task(self._read())
        await asyncio.wait_for(self.connected.wait(), 10)

    async def _read(self) -> None:
        seen = max((m["id"] for m, _ in self.heard), default=0)
        try:
            async with self.stream.stream("GET", "/api/chat/events", params={"after": seen}) as events:
                assert events.status_code == 200
                # Set by the test's nginx: which web process holds this stream.
                self.upstream = events.headers.get("x-upstream")
                async for line in events.aiter_lines():
                    if line.startswith("retry: "):
                        self.retry_hints.append(int(line[7:]))
                        self.connected.set()
                    elif line.startswith("data: "):
                        self.heard.append((json.loads(line[6:]), time.time()))
        finally:
            self.ended.set()

    async def say(self, text: str) -> None:
        """Post as the web chat's script does: a 5xx (a proxy that found its web process stopping) is tried again
        with the same client_msg_id, which kefu stores once."""
        body = {"client_msg_id": uuid.uuid4().hex, "text": text}
        for attempt in range(SEND_RETRIES + 1):
            response = await self.poster.post("/api/chat/messages", json=body)
            if response.status_code < 500 or attempt == SEND_RETRIES:
                break
            await asyncio.sleep(0.5 * 2**attempt)
        assert response.status_code == 200, response.text

    def replies(self) -> list[dict[str, Any]]:
        return [m for m, _ in self.heard if m["direction"] == "out"]

    async def wait_for(self, fragment: str, seconds: float = 15) -> dict[str, Any]:
        async def arrived() -> bool:
            return any(fragment in m["text"] for m in self.replies())

        await eventually(arrived, seconds)
        return next(m for m in self.replies() if fragment in m["text"])

    async def lags(self, db: Database) -> dict[str, float]:
        """For each reply heard: seconds between its row being recorded as sent and the stream delivering it."""
        ids = {m["id"]: at for m, at in self.heard if m["direction"] == "out"}
        async with db.transaction() as session:
            rows = (
                await session.execute(
                    select(OutboxMessage.message_id, OutboxMessage.sent_at).where(OutboxMessage.message_id.in_(ids))
                )
            ).all()
        texts = {m["id"]: m["text"] for m, _ in self.heard}
        return {texts[mid]: ids[mid] - _utc(sent_at).timestamp() for mid, sent_at in rows}

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.stream.aclose()
        await self.poster.aclose()


class ConsoleWatcher:
    """A supervisor's console reading its live stream on one base URL."""

    def __init__(self, base: str, *, verify: bool = True) -> None:
        self.http = httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(10, read=None), verify=verify)
        self.events: list[dict[str, Any]] = []
        self.connected = asyncio.Event()
        self.ended = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def sign_in(self, username: str) -> None:
        page = await self.http.get("/console/login")
        response = await self.http.post(
            "/console/login",
            data={"username": username, "password": PASSWORD, "csrf": form_token(page.text), "next": "/console"},
        )
        assert response.status_code == 303, response.text

    async def csrf(self) -> str:
        me = await self.http.get("/console/api/me")
        assert me.status_code == 200, me.text
        return str(me.json()["csrf"])

    async def open(self) -> None:
        self._task = asyncio.create_task(self._read())
        await asyncio.wait_for(self.connected.wait(), 10)

    async def _read(self) -> None:
        try:
            async with self.http.stream("GET", "/console/api/events") as stream:
                assert stream.status_code == 200
                async for line in stream.aiter_lines():
                    if line.startswith("event: ready"):
                        self.connected.set()
                    elif line.startswith("data: "):
                        self.events.append(json.loads(line[6:]))
        finally:
            self.ended.set()

    def escalated(self) -> set[str]:
        return {e["ticket_number"] for e in self.events if e.get("kind") == "escalated" and e.get("ticket_number")}

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.http.aclose()


async def web_chat_hears_every_process(
    db: Database, stream_base: str, post_base: str, console_base: str, *, verify: bool = True
) -> float:
    """A bot turn, a rep's console reply and a worker's reminder each reach a stream within MAX_LAG_SECONDS.

    The stream is read on `stream_base`, messages are posted on `post_base`, the rep works on `console_base`;
    returns the largest lag seen. Needs a supervisor "sup" and reminders due at once (idle minutes 0).
    """
    handoff = Visitor(stream_base, post_base, verify=verify)
    waiting = Visitor(stream_base, post_base, verify=verify)
    rep = ConsoleWatcher(console_base, verify=verify)
    try:
        await handoff.open()
        await waiting.open()
        await handoff.say("人工")  # a bot turn on the posting process: the ticket number comes back
        ticket = await handoff.wait_for("KF-")
        number = _ticket_number(ticket)
        await rep.sign_in("sup")
        csrf = await rep.csrf()
        headers = {"X-CSRF-Token": csrf}
        claimed = await rep.http.post(f"/console/api/tickets/{number}/claim", json={}, headers=headers)
        assert claimed.status_code == 200, claimed.text
        said = await rep.http.post(
            f"/console/api/tickets/{number}/reply", json={"text": "您好，我是客服小王"}, headers=headers
        )
        assert said.status_code == 200, said.text
        await handoff.wait_for("客服小王")
        await waiting.say("我要投诉")  # the bot asks a question; the worker's reminder follows
        await waiting.wait_for("您还在吗")
        lags = {**await handoff.lags(db), **await waiting.lags(db)}
        assert len(lags) >= 4, lags
        slow = {text[:20]: round(lag, 3) for text, lag in lags.items() if lag >= MAX_LAG_SECONDS}
        assert not slow, f"replies heard late: {slow}"
        return max(lags.values())
    finally:
        for closing in (handoff, waiting, rep):
            await closing.close()


async def console_hears_every_process(
    watch_base: str, post_base: str, username: str = "sup", *, verify: bool = True
) -> None:
    """An escalation made through `post_base` shows on a console stream read through `watch_base`."""
    watcher = ConsoleWatcher(watch_base, verify=verify)
    visitor = Visitor(post_base, post_base, verify=verify)
    try:
        await watcher.sign_in(username)
        await watcher.open()
        await visitor.open()
        await visitor.say("人工")
        ticket = await visitor.wait_for("KF-")
        number = _ticket_number(ticket)

        async def seen() -> bool:
            return number in watcher.escalated()

        await eventually(seen, 10)
    finally:
        await visitor.close()
        await watcher.close()


def _ticket_number(message: dict[str, Any]) -> str:
    found = TICKET_NO.search(message["text"])
    assert found, message["text"]
    return found.group(0)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
