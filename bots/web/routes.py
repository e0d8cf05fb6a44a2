"""HTTP interface of the web chat: the page, history, sending, and a Server-Sent Events stream."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from itsdangerous import BadSignature, URLSafeSerializer

from bots.common import BadPayload, QueryId, db_int, parse_json_object, read_limited_body
from bots.web.channel import CHANNEL, KEEPALIVE, LiveHub
from core.db.session import Database
from core.engine import Engine
from core.inbound_limits import InboundLimits
from core.messages import ConversationRef, InboundMessage, MessageType
from core.settings import Settings
from core.texts import Texts
from core.transcript import client_view, conversation_of, message_json

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
UI_KEYS = ("title", "subtitle", "placeholder", "send", "connecting", "offline", "you", "bot", "language", "failed")
MAX_CLIENT_ID = 64
# How soon a browser whose stream ended because this process is stopping tries again.
RECONNECT_MS = 500


class Visitors:
    """Signed visitor ids in an HttpOnly cookie: the web chat's notion of who the client is."""

    def __init__(self, settings: Settings) -> None:
        self._signer = URLSafeSerializer(settings.secret_key.get_secret_value(), salt="kefu-web-visitor")
        self._cookie = settings.web_cookie_name
        self._secure = settings.web_cookie_secure or settings.env == "production"

    def read(self, request: Request) -> str | None:
        raw = request.cookies.get(self._cookie)
        if not raw:
            return None
        try:
            value = self._signer.loads(raw)
        except BadSignature:
            return None
        return value if isinstance(value, str) else None

    def ensure(self, request: Request, response: Response) -> str:
        visitor = self.read(request)
        if visitor is None:
            visitor = uuid.uuid4().hex
            response.set_cookie(
                self._cookie,
                self._signer.dumps(visitor),
                max_age=365 * 24 * 3600,
                httponly=True,
                samesite="lax",
                secure=self._secure,
            )
        return visitor


# The body is read by hand (bounded, with clear errors); this tells the OpenAPI schema what it looks like.
MESSAGE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["client_msg_id"],
                    "properties": {
                        "client_msg_id": {"type": "string", "minLength": 1, "maxLength": MAX_CLIENT_ID},
                        "text": {"type": "string"},
                        "button_id": {"type": ["string", "null"]},
                        "lang": {"type": "string"},
                    },
                }
            }
        },
    }
}


def security_headers(frame_ancestors: str) -> dict[str, str]:
    """The chat page loads only its own files; the sites that may frame it (to embed the widget) are a setting."""
    ancestors = frame_ancestors.strip() or "'none'"
    headers = {
        "content-security-policy": (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
            f"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}"
        ),
        "x-content-type-options": "nosniff",
        "referrer-policy": "same-origin",
    }
    # X-Frame-Options knows only DENY and SAMEORIGIN; for a list of sites, frame-ancestors alone decides.
    if ancestors in ("'none'", "'self'"):
        headers["x-frame-options"] = "DENY" if ancestors == "'none'" else "SAMEORIGIN"
    return headers


def build_router(
    *, engine: Engine, db: Database, texts: Texts, settings: Settings, hub: LiveHub, limits: InboundLimits
) -> APIRouter:
    """Routes of the web chat, bound to the engine and hub the composition root made."""
    router = APIRouter()
    visitors = Visitors(settings)
    page_headers = security_headers(settings.web_frame_ancestors)

    async def over_limit(request: Request, visitor: str) -> int:
        """Seconds to wait when this visitor or address sends too much; 0 when the message may go in."""
        address = request.client.host if request.client else ""
        wait = await limits.message(CHANNEL, visitor, address)
        if wait:
            return wait
        async with db.transaction() as session:
            known = await conversation_of(session, CHANNEL, "default", visitor)
        # A new visitor is a new conversation, and so a possible new ticket: these are counted per address.
        return 0 if known else await limits.new_conversation(CHANNEL, address)

    @router.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8", headers=page_headers)

    @router.get("/api/chat/config")
    async def config(request: Request, lang: str | None = None) -> JSONResponse:
        chosen = lang if lang in texts.languages else settings.language
        response = JSONResponse(
            {
                "lang": chosen,
                "languages": texts.languages,
                "texts": {k: texts.get(f"web.{k}", chosen) for k in UI_KEYS},
            }
        )
        visitors.ensure(request, response)
        return response

    @router.get("/api/chat/history")
    async def history(request: Request) -> JSONResponse:
        response = JSONResponse({"messages": []})
        visitor = visitors.ensure(request, response)
        async with db.transaction() as session:
            conversation_id = await conversation_of(session, CHANNEL, "default", visitor)
            messages = await client_view(session, conversation_id, 0, 500) if conversation_id else []
        response.body = response.render({"messages": [message_json(m) for m in messages]})
        response.headers["content-length"] = str(len(response.body))
        return response

    @router.post("/api/chat/messages", openapi_extra=MESSAGE_BODY)
    async def post_message(request: Request) -> JSONResponse:
        if not request.headers.get("content-type", "").startswith("application/json"):
            return JSONResponse({"error": "Content-Type must be application/json"}, status_code=415)
        data = parse_json_object(await read_limited_body(request, settings.max_body_bytes))
        client_msg_id = data.get("client_msg_id")
        text = data.get("text", "")
        button_id = data.get("button_id")
        lang = data.get("lang")
        if not isinstance(client_msg_id, str) or not 1 <= len(client_msg_id) <= MAX_CLIENT_ID:
            raise BadPayload("client_msg_id must be a string of 1 to 64 characters")
        if not isinstance(text, str) or (button_id is not None and not isinstance(button_id, str)):
            raise BadPayload("text and button_id must be strings")
        response = JSONResponse({})
        visitor = visitors.ensure(request, response)
        wait = await over_limit(request, visitor)
        if wait:
            # Refused before the engine: not stored, not answered by the dialogue, never a ticket.
            language = lang if isinstance(lang, str) and lang in texts.languages else settings.language
            refused = JSONResponse(
                {"error": "slow_down", "text": texts.get("input.slow_down", language), "retry_after": wait},
                status_code=429,
                headers={"retry-after": str(wait)},
            )
            for cookie in response.headers.getlist("set-cookie"):
                refused.headers.append("set-cookie", cookie)
            return refused
        inbound = InboundMessage(
            ref=ConversationRef(channel=CHANNEL, external_user_id=visitor),
            # The id is scoped to the visitor so one visitor cannot collide with another's ids.
            external_id=f"{visitor}:{client_msg_id}",
            type=MessageType.BUTTON if button_id else MessageType.TEXT,
            text=text,
            button_id=button_id or None,
            language=lang if isinstance(lang, str) and lang in texts.languages else None,
        )
        result = await engine.receive(inbound)
        hub.wake(visitor)
        body: dict[str, Any] = {"status": result.status, "message_id": result.message_id}
        response.body = response.render(body)
        response.headers["content-length"] = str(len(response.body))
        return response

    @router.get("/api/chat/events")
    async def events(request: Request, after: QueryId = 0) -> Response:
        visitor = visitors.read(request)
        if visitor is None:
            return JSONResponse({"error": "no visitor cookie; load /api/chat/config first"}, status_code=401)
        # The browser resends the last id it saw; anything that is not a message id starts from `after`.
        last_event = db_int(request.headers.get("last-event-id", ""))
        if last_event is not None:
            after = max(after, last_event)
        return StreamingResponse(
            _stream(request, db, hub, visitor, after),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router


async def _stream(request: Request, db: Database, hub: LiveHub, visitor: str, after: int) -> AsyncIterator[str]:
    wake = hub.subscribe(visitor)
    try:
        yield "retry: 2000\n\n"
        while not await request.is_disconnected():
            if hub.closing:
                # This process is stopping: come back soon, through the proxy, to another one.
                yield f"retry: {RECONNECT_MS}\n\n"
                return
            wake.clear()
            async with db.transaction() as session:
                conversation_id = await conversation_of(session, CHANNEL, "default", visitor)
                messages = await client_view(session, conversation_id, after) if conversation_id else []
            for message in messages:
                after = message.id
                data = json.dumps(message_json(message), ensure_ascii=False)
                yield f"id: {message.id}\nevent: message\ndata: {data}\n\n"
            try:
                await asyncio.wait_for(wake.wait(), timeout=KEEPALIVE.total_seconds())
            except TimeoutError:
                yield ": keepalive\n\n"
    finally:
        hub.unsubscribe(visitor, wake)
