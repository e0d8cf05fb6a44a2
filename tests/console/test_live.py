"""Live updates reach the console as Server-Sent Events, only for tickets the person may see, without texts."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from typing import Any

import httpx
from fastapi import FastAPI

from handlers.services import Services
from tests.console.conftest import SignIn
from tests.console.helpers import Rep, escalate
from tests.console.server import serving


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
