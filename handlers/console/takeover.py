"""Working a conversation from the console: claim, reply, note, transfer, release, resolve, close."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import model_validator

from bots.common import db_int
from core.errors import InvalidInput
from core.tickets.lifecycle import TicketStatus, TransitionRequest
from core.tickets.takeover import TakenByOther
from handlers.console.access import ticket_for
from handlers.console.auth import Principal
from handlers.console.bodies import Body, Flag, checked, parsed, trimmed
from handlers.console.dependencies import CurrentPrincipal

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


def _department_code(value: Any, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string")
    return value


def _user_id(value: Any, name: str) -> int | None:
    if value is not None and (not isinstance(value, int) or db_int(value) is None):
        raise InvalidInput(f"{name} must be a user id")
    return value


class Transfer(Body):
    department_code: Annotated[str | None, checked(_department_code)] = None
    to_user_id: Annotated[int | None, checked(_user_id)] = None

    @model_validator(mode="after")
    def _one_target(self) -> Transfer:
        if (self.department_code is None) == (self.to_user_id is None):
            raise InvalidInput("transfer to either a department or a rep")
        return self


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
    async def transfer(
        number: str, principal: CurrentPrincipal, body: Annotated[Transfer, Depends(parsed(Transfer))]
    ) -> JSONResponse:
        department, to_user = body.department_code, body.to_user_id
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
        return await move(
            number, principal, TransitionRequest(TicketStatus.RESOLVED, principal.actor, solution=body.solution)
        )

    @router.post("/api/tickets/{number}/close")
    async def close(
        number: str, principal: CurrentPrincipal, body: Annotated[Close, Depends(parsed(Close))]
    ) -> JSONResponse:
        closing = TransitionRequest(
            TicketStatus.CLOSED, principal.actor, root_cause=body.root_cause, improvement=body.improvement
        )
        return await move(number, principal, closing)

    async def move(number: str, principal: Principal, request: TransitionRequest) -> JSONResponse:
        """Resolve or close the ticket: a supervisor or admin may do it over the holder's claim."""
        await conversation_of(principal, number)
        try:
            status = await services.engine.move_ticket(
                number, request, by=principal.user_id, override=principal.sees_all
            )
        except TakenByOther as exc:
            return taken(exc)
        return done(ticket_status=status)

    return router
