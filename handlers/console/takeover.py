"""Working a conversation from the console: claim, reply, note, transfer, release, resolve, close."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from bots.common import db_int
from core.errors import InvalidInput
from core.lifecycle import TicketStatus, TransitionRequest
from core.takeover import HeldByOther
from handlers.console.access import ticket_for
from handlers.console.auth import Principal
from handlers.console.dependencies import CurrentPrincipal
from handlers.console.web import json_body, text_field
from handlers.ops import transition_ticket

if TYPE_CHECKING:
    from handlers.console.console import Console

MAX_TEXT = 4000


def held(exc: HeldByOther) -> JSONResponse:
    """409 that says who holds the conversation, so the page can show it."""
    return JSONResponse({"error": "held", "holder_id": exc.holder_id, "holder_name": exc.holder_name}, status_code=409)


def takeover_router(console: Console) -> APIRouter:
    router = console.private()
    services = console.services
    engine = services.engine

    async def conversation_of(principal: Principal, number: str) -> int:
        async with services.db.transaction() as session:
            _, conversation = await ticket_for(session, principal, number)
            return conversation.id

    def done(**extra: Any) -> JSONResponse:
        return JSONResponse({"status": "ok", **extra})

    @router.post("/api/tickets/{number}/claim")
    async def claim(number: str, principal: CurrentPrincipal) -> JSONResponse:
        conversation_id = await conversation_of(principal, number)
        try:
            await engine.claim(conversation_id, principal.user_id)
        except HeldByOther as exc:
            return held(exc)
        return done(holder_id=principal.user_id, holder_name=principal.display_name)

    @router.post("/api/tickets/{number}/release")
    async def release(number: str, request: Request, principal: CurrentPrincipal) -> JSONResponse:
        data = await json_body(request)
        force = data.get("force") is True and principal.sees_all
        conversation_id = await conversation_of(principal, number)
        try:
            await engine.release(conversation_id, principal.user_id, force=force)
        except HeldByOther as exc:
            return held(exc)
        return done()

    @router.post("/api/tickets/{number}/reply")
    async def reply(number: str, request: Request, principal: CurrentPrincipal) -> JSONResponse:
        data = await json_body(request)
        text = text_field(data, "text", limit=MAX_TEXT)
        await_client = data.get("await_client") is True
        conversation_id = await conversation_of(principal, number)
        try:
            result = await engine.rep_reply(conversation_id, principal.user_id, text, await_client=await_client)
        except HeldByOther as exc:
            return held(exc)
        return done(outbox_ids=result.outbox_ids)

    @router.post("/api/tickets/{number}/note")
    async def note(number: str, request: Request, principal: CurrentPrincipal) -> JSONResponse:
        text = text_field(await json_body(request), "text", limit=MAX_TEXT)
        conversation_id = await conversation_of(principal, number)
        event_id = await engine.add_note(conversation_id, principal.user_id, text)
        return done(event_id=event_id)

    @router.post("/api/tickets/{number}/transfer")
    async def transfer(number: str, request: Request, principal: CurrentPrincipal) -> JSONResponse:
        data = await json_body(request)
        department = data.get("department_code")
        to_user = data.get("to_user_id")
        if department is not None and not isinstance(department, str):
            raise InvalidInput("department_code must be a string")
        if to_user is not None and (not isinstance(to_user, int) or db_int(to_user) is None):
            raise InvalidInput("to_user_id must be a user id")
        if (department is None) == (to_user is None):
            raise InvalidInput("transfer to either a department or a rep")
        conversation_id = await conversation_of(principal, number)
        try:
            await engine.transfer(conversation_id, principal.user_id, department_code=department, to_user_id=to_user)
        except HeldByOther as exc:
            return held(exc)
        return done()

    @router.post("/api/tickets/{number}/resolve")
    async def resolve(number: str, request: Request, principal: CurrentPrincipal) -> JSONResponse:
        solution = text_field(await json_body(request), "solution", limit=MAX_TEXT)
        await conversation_of(principal, number)
        request_ = TransitionRequest(TicketStatus.RESOLVED, principal.actor, solution=solution)
        try:
            status = await transition_ticket(
                services, number, request_, by=principal.user_id, override=principal.sees_all
            )
        except HeldByOther as exc:
            return held(exc)
        return done(ticket_status=status)

    @router.post("/api/tickets/{number}/close")
    async def close(number: str, request: Request, principal: CurrentPrincipal) -> JSONResponse:
        data = await json_body(request)
        root_cause = text_field(data, "root_cause", required=False, limit=MAX_TEXT)
        improvement = text_field(data, "improvement", required=False, limit=MAX_TEXT)
        await conversation_of(principal, number)
        request_ = TransitionRequest(
            TicketStatus.CLOSED, principal.actor, root_cause=root_cause, improvement=improvement
        )
        try:
            status = await transition_ticket(
                services, number, request_, by=principal.user_id, override=principal.sees_all
            )
        except HeldByOther as exc:
            return held(exc)
        return done(ticket_status=status)

    return router
