"""Live updates for the console: services.live's events as Server-Sent Events, limited to what the rep may see."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from core.db.models import Conversation, Ticket
from core.live import LiveEvent
from handlers.console.access import may_see
from handlers.console.auth import Principal

if TYPE_CHECKING:
    from handlers.console.routes import Console

log = logging.getLogger(__name__)
KEEPALIVE_SECONDS = 15.0
BUFFER = 200
# What of each event's data reaches the browser: never message texts or notes (the page fetches those).
SAFE_FIELDS: dict[str, tuple[str, ...]] = {
    "message": ("direction", "channel", "type"),
    "escalated": ("reason", "ticket_number"),
    "claimed": ("user_id", "user_name"),
    "released": ("user_id",),
    "note": ("user_id",),
    "transferred": ("department_code", "to_user_id"),
    "ticket": ("number", "status", "before"),
    "sla": ("kind", "which", "ticket_number"),
}


def event_json(event: LiveEvent, number: str | None) -> dict[str, Any]:
    fields = SAFE_FIELDS.get(event.kind, ())
    return {
        "kind": event.kind,
        "conversation_id": event.conversation_id,
        "ticket_id": event.ticket_id,
        "ticket_number": number,
        "data": {k: event.data[k] for k in fields if k in event.data},
        "at": event.at.isoformat(),
    }


def live_routes(console: Console) -> APIRouter:
    router = console.private()
    services = console.services

    async def visible(principal: Principal, event: LiveEvent) -> tuple[bool, str | None]:
        """Whether the principal may hear of the event, and the number of its ticket."""
        async with services.db.transaction() as session:
            conversation = await session.get(Conversation, event.conversation_id) if event.conversation_id else None
            ticket_id = event.ticket_id or (conversation.ticket_id if conversation else None)
            ticket = await session.get(Ticket, ticket_id) if ticket_id else None
            if ticket is None:
                return principal.sees_all, None
            if conversation is None:
                conversation = await session.get(Conversation, ticket.conversation_id)
            return may_see(principal, ticket, conversation), ticket.number

    async def stream(request: Request, principal: Principal, token: str | None) -> AsyncIterator[str]:
        queue: asyncio.Queue[LiveEvent] = asyncio.Queue(BUFFER)

        async def pump() -> None:
            async for event in services.live.subscribe():
                if queue.full():
                    # A stalled browser loses old events, not the server's memory; the page refetches anyway.
                    queue.get_nowait()
                queue.put_nowait(event)

        task = asyncio.create_task(pump())
        # One turn of the loop lets the pump subscribe, so nothing after "ready" is missed.
        await asyncio.sleep(0)
        try:
            yield "retry: 3000\n\n"
            yield "event: ready\ndata: {}\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_SECONDS)
                except TimeoutError:
                    if await request.is_disconnected() or await console.sessions.principal(token) is None:
                        return
                    yield ": keepalive\n\n"
                    continue
                allowed, number = await visible(principal, event)
                if allowed:
                    yield f"event: {event.kind}\ndata: {json.dumps(event_json(event, number), ensure_ascii=False)}\n\n"
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    @router.get("/api/events")
    async def events(request: Request, principal: Principal = Depends(console.guard)) -> StreamingResponse:
        token = request.cookies.get(console.settings.cookie_name)
        return StreamingResponse(
            stream(request, principal, token),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router
