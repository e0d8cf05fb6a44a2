"""The console's live event stream route (GET /console/api/events): one Server-Sent Events stream per open page."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from handlers.console.auth import Principal
from handlers.console.dependencies import CurrentPrincipal
from handlers.console.live import KEEPALIVE_SECONDS, RECONNECT_MS, LiveStreams, event_json, lookup_scope, session_rights

if TYPE_CHECKING:
    from handlers.console.console import Console


def live_routes(console: Console) -> APIRouter:
    router = console.private()
    services = console.services
    idle = timedelta(minutes=console.settings.idle_minutes)
    streams = LiveStreams(
        services.live,
        lambda event: lookup_scope(services.db, event),
        lambda ids: session_rights(services.db, services.clock, idle, ids),
    )
    console.live_streams = streams
    services.draining.on_close(streams.close_all)

    async def stream(request: Request, principal: Principal) -> AsyncIterator[str]:
        mine = await streams.open(principal)
        try:
            yield "retry: 3000\n\n"
            yield "event: ready\ndata: {}\n\n"
            while not streams.closing:
                try:
                    item = await asyncio.wait_for(mine.queue.get(), timeout=KEEPALIVE_SECONDS)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield ": keepalive\n\n"
                    continue
                if item is None or mine.ended:
                    break
                event, scope = item
                if scope.visible_to(principal):
                    data = json.dumps(event_json(event, scope.number), ensure_ascii=False)
                    yield f"event: {event.kind}\ndata: {data}\n\n"
            if streams.closing:
                # This process is stopping: the page reconnects soon, through the proxy, to another one.
                yield f"retry: {RECONNECT_MS}\n\n"
        finally:
            streams.close(mine)

    @router.get("/api/events")
    async def events(request: Request, principal: CurrentPrincipal) -> StreamingResponse:
        return StreamingResponse(
            stream(request, principal),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router
