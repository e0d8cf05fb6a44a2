"""Working a conversation from the console: claim, reply, note, transfer, release, resolve, close."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from bots.common import db_int
from core.errors import InvalidInput
from core.tickets.lifecycle import TicketStatus, TransitionRequest
from core.tickets.takeover import TakenByOther
from handlers.console.access import ticket_for
from handlers.console.auth import Principal
from handlers.console.bodies import Body, Flag, parsed, trimmed
from handlers.console.dependencies import CurrentPrincipal
from handlers.console.web import json_body

if TYPE_CHECKING:
    from handlers.console.console import Console

MAX_TEXT = 4000


class Release(Body):
    # Only supervisors may force a release; for anyone else the flag is ignored.
    force: Flag = False


class Reply(Body):
    text: Annotated[str, trimmed(MAX_TEXT)] = ""
    await_client: Flag = False


class Note(Body):
    text: Annotated[str, trimmed(MAX_TEXT)] = ""


class Resolve(Body):
    solution: Annotated[str, trimmed(MAX_TEXT)] = ""


class Close(Body):
    root_cause: Annotated[str, trimmed(MAX_TEXT, required=False)] = ""
    improvement: Annotated[str, trimmed(MAX_TEXT, required=False)] = ""


def taken(exc: TakenByOther) -> JSONResponse:
    """409 that says who has taken the conversation, so the page can show it."""
    return JSONResponse({"error": "taken", "holder_id": exc.holder_id, "holder_name": exc.holder_name}, status_code=409)


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
        except TakenByOther as exc:
            return taken(exc)
        return done(holder_id=principal.user_id, holder_name=principal.display_name)

    @router.post("/api/tickets/{number}/release")
    async def release(
        number: str, principal: CurrentPrincipal, body: Annotated[Release, Depends(parsed(Release))]
    ) -> JSONResponse:
        force = body.force and principal.sees_all
        conversation_id = await conversation_of(principal, number)
        try:
            await engine.release(conversation_id, principal.user_id, force=force)
        except TakenByOther as exc:
            return taken(exc)
        return done()

    @router.post("/api/tickets/{number}/reply")
    async def reply(
        number: str, principal: CurrentPrincipal, body: Annotated[Reply, Depends(parsed(Reply))]
    ) -> JSONResponse:
        text, await_client = body.text, body.await_client
        conversation_id = await conversation_of(principal, number)
        try:
            result = await engine.rep_reply(conversation_id, principal.user_id, text, await_client=await_client)
        except TakenByOther as exc:
            return taken(exc)
        return done(outbox_ids=result.outbox_ids)

    @router.post("/api/tickets/{number}/note")
    async def note(
        number: str, principal: CurrentPrincipal, body: Annotated[Note, Depends(parsed(Note))]
    ) -> JSONResponse:
        text = body.text
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
        except TakenByOther as exc:
            return taken(exc)
        return done()

    @router.post("/api/tickets/{number}/resolve")
    async def resolve(
        number: str, principal: CurrentPrincipal, body: Annotated[Resolve, Depends(parsed(Resolve))]
    ) -> JSONResponse:
        solution = body.solution
        await conversation_of(principal, number)
        request_ = TransitionRequest(TicketStatus.RESOLVED, principal.actor, solution=solution)
        try:
            status = await services.engine.move_ticket(
                number, request_, by=principal.user_id, override=principal.sees_all
            )
        except TakenByOther as exc:
            return taken(exc)
        return done(ticket_status=status)

    @router.post("/api/tickets/{number}/close")
    async def close(
        number: str, principal: CurrentPrincipal, body: Annotated[Close, Depends(parsed(Close))]
    ) -> JSONResponse:
        root_cause, improvement = body.root_cause, body.improvement
        await conversation_of(principal, number)
        request_ = TransitionRequest(
            TicketStatus.CLOSED, principal.actor, root_cause=root_cause, improvement=improvement
        )
        try:
            status = await services.engine.move_ticket(
                number, request_, by=principal.user_id, override=principal.sees_all
            )
        except TakenByOther as exc:
            return taken(exc)
        return done(ticket_status=status)

    return router
