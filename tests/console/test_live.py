"""Live updates reach the console as Server-Sent Events, only for tickets the person may see, without texts."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from typing import Any

import httpx
from fastapi import FastAPI

from core.db.models import User
from handlers.services import Services
from tests.console.conftest import SignIn
from tests.console.helpers import Rep, escalate
from tests.support.app_server import serving


class Stream:
    """Collects the events of one open /console/api/events stream."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.ready = asyncio.Event()

    async def read(self, response: httpx.Response) -> None:
        kind = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                if kind == "ready":
                    self.ready.set()
                else:
                    self.events.append((kind, json.loads(line[6:])))

    def kinds(self) -> list[str]:
        return [k for k, _ in self.events]

    async def wait_for(self, kind: str, seconds: float = 5.0) -> dict[str, Any]:
        for _ in range(int(seconds / 0.05)):
            for k, data in self.events:
                if k == kind:
                    return data
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {kind} event; got {self.kinds()}")


async def _open(stack: AsyncExitStack, base: str, rep: Rep) -> Stream:
    token = rep.http.cookies.get("kefu_console")
    assert token
    http = await stack.enter_async_context(httpx.AsyncClient(base_url=base, timeout=10))
    response = await stack.enter_async_context(
        http.stream("GET", "/console/api/events", headers={"Cookie": f"kefu_console={token}"})
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    stream = Stream()
    task = asyncio.create_task(stream.read(response))
    stack.callback(task.cancel)
    await asyncio.wait_for(stream.ready.wait(), 5)
    return stream


async def test_events_reach_those_who_may_see_the_ticket(app: FastAPI, services: Services, signed_in: SignIn) -> None:
    ann = await signed_in("ann", name="安妮", departments=("cs",))
    mia = await signed_in("mia", departments=("media",))
    boss = await signed_in("sam", role="supervisor")
    async with serving(app) as base, AsyncExitStack() as stack:
        streams = {name: await _open(stack, base, rep) for name, rep in (("ann", ann), ("mia", mia), ("sam", boss))}
        conversation_id, number = await escalate(services, "v1", "我的手机号13800138000 转人工")
        escalated = await streams["ann"].wait_for("escalated")
        assert escalated["conversation_id"] == conversation_id and escalated["ticket_number"] == number
        assert escalated["data"]["reason"] == "handoff"
        await streams["sam"].wait_for("escalated")
        message = await streams["ann"].wait_for("message")
        assert "text" not in message["data"] and message["data"]["direction"] == "in"

        assert (await ann.post(f"/console/api/tickets/{number}/claim")).status_code == 200
        claimed = await streams["sam"].wait_for("claimed")
        assert claimed["data"] == {"user_id": ann.user_id, "user_name": "安妮"}
        await ann.post(f"/console/api/tickets/{number}/note", {"text": "内部：核对余额"})
        note = await streams["ann"].wait_for("note")
        assert note["data"] == {"user_id": ann.user_id}
        await asyncio.sleep(0.3)
        assert streams["mia"].events == [], streams["mia"].events
        everything = json.dumps([s.events for s in streams.values()], ensure_ascii=False)
        assert "13800138000" not in everything and "核对余额" not in everything


async def test_the_stream_needs_a_session(app: FastAPI) -> None:
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as http:
        response = await http.get("/console/api/events")
        assert response.status_code == 401


class Opened:
    """A stream whose end (the server closing it) can be awaited."""

    def __init__(self, stream: Stream, task: asyncio.Task[None]) -> None:
        self.stream = stream
        self.task = task

    async def ended_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(asyncio.shield(self.task), seconds)
        except TimeoutError:
            return False
        return True


async def _opened(stack: AsyncExitStack, base: str, rep: Rep) -> Opened:
    token = rep.http.cookies.get("kefu_console")
    http = await stack.enter_async_context(httpx.AsyncClient(base_url=base, timeout=30))
    response = await stack.enter_async_context(
        http.stream("GET", "/console/api/events", headers={"Cookie": f"kefu_console={token}"})
    )
    assert response.status_code == 200
    stream = Stream()
    task = asyncio.create_task(stream.read(response))
    stack.callback(task.cancel)
    await asyncio.wait_for(stream.ready.wait(), 5)
    return Opened(stream, task)


async def test_a_stream_ends_within_two_seconds_of_logout_disable_or_role_change(
    app: FastAPI, services: Services, signed_in: SignIn
) -> None:
    ann = await signed_in("ann", departments=("cs",))
    bob = await signed_in("bob", departments=("cs",))
    cat = await signed_in("cat", departments=("cs",))
    admin = await signed_in("root", role="admin")
    async with serving(app) as base, AsyncExitStack() as stack:
        streams = {rep: await _opened(stack, base, rep) for rep in (ann, bob, cat)}
        assert (await ann.post("/console/logout")).status_code == 200
        disabled = await admin.post(f"/console/api/admin/users/{bob.user_id}/active", {"active": False})
        assert disabled.status_code == 200, disabled.text
        async with services.db.transaction() as session:
            user = await session.get(User, cat.user_id)
            assert user is not None
            user.role = "supervisor"
        for rep, opened in streams.items():
            assert await opened.ended_within(2.0), rep.user_id


async def test_at_most_five_streams_per_session_the_oldest_closed(app: FastAPI, signed_in: SignIn) -> None:
    ann = await signed_in("ann", departments=("cs",))
    async with serving(app) as base, AsyncExitStack() as stack:
        opened = [await _opened(stack, base, ann) for _ in range(5)]
        assert not await opened[0].ended_within(0.3)
        opened.append(await _opened(stack, base, ann))
        assert await opened[0].ended_within(2.0)
        assert not any(o.task.done() for o in opened[1:])
        streams = app.state.console.live_streams
        assert len(streams.streams) == 5


async def test_one_lookup_per_event_whatever_the_number_of_streams(
    app: FastAPI, services: Services, signed_in: SignIn
) -> None:
    people = [await signed_in(f"rep{i}", departments=("cs",)) for i in range(4)]
    async with serving(app) as base, AsyncExitStack() as stack:
        opened = [await _opened(stack, base, rep) for rep in people for _ in range(5)]
        streams = app.state.console.live_streams
        before = streams.lookups
        await escalate(services, "v1")
        for o in opened:
            await o.stream.wait_for("escalated")
        await asyncio.sleep(0.5)  # the turn's later events too
        events = len(opened[0].stream.kinds())
        assert events >= 2
        # Every stream heard every event; each event was looked up once, not once per stream (20).
        assert streams.lookups - before == events, (streams.lookups - before, events)
        assert all(o.stream.kinds() == opened[0].stream.kinds() for o in opened)
