"""新建工单 for a call: reps find the caller (phone, name or company) and log the call as a ticket."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import ColumnElement, or_, select

from bots.common import BadPayload, db_int
from core.db.models import Client
from core.dialogue.forms import CATEGORIES, normalize_phone
from core.masking import mask_phone
from core.phone_intake import PHONE, Call, CallNotValid, NewClient, record_call
from core.tickets.lifecycle import TicketStatus
from handlers.console.access import ticket_for
from handlers.console.bodies import ABSENT, Body, checked, parsed
from handlers.console.dependencies import CurrentPrincipal
from handlers.console.web import json_body, page, text_field

if TYPE_CHECKING:
    from handlers.console.console import Console

SEARCH_LIMIT = 20


def _caller(client: Client) -> dict[str, Any]:
    # Masked as everywhere in the console: the rep has the number on the phone already.
    return {
        "id": client.id,
        "name": client.name,
        "company": client.company,
        "tier": client.tier,
        "phone": mask_phone(client.phone),
    }


def _score(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 5:
        raise BadPayload(f"{name} must be a whole number from 1 to 5")
    return value


class Score(Body):
    score: Annotated[int, checked(_score)] = ABSENT


def _details(value: object) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise BadPayload("details must be an object of strings")
    if len(value) > 50 or any(len(v) > 4000 for v in value.values()):
        raise BadPayload("details are too long")
    return dict(value)


def phone_router(console: Console) -> APIRouter:
    router = console.private()
    services = console.services

    @router.get("/phone", include_in_schema=False)
    async def phone_page(request: Request) -> HTMLResponse:
        return page(request, "phone.html")

    @router.get("/api/phone/form")
    async def form(principal: CurrentPrincipal) -> JSONResponse:
        """The bot's details form of every category, as the page draws it (labels in the rep's language)."""
        language = principal.language
        texts = services.texts
        categories = []
        for category in CATEGORIES:
            slots = []
            for spec in services.forms.slots(category):
                key = f"slots.{category}.{spec.name}"
                choices = [texts.get(f"{key}.choices.{c}", language) for c in spec.choices]
                slots.append(
                    {
                        "name": spec.name,
                        "label": texts.get(f"{key}.label", language),
                        "required": spec.required,
                        "phone": spec.validator == "phone",
                        "choices": choices,
                    }
                )
            categories.append({"id": category, "label": texts.get(f"category.{category}", language), "slots": slots})
        return JSONResponse({"categories": categories})

    @router.get("/api/phone/callers")
    async def callers(_: CurrentPrincipal, q: str = "") -> JSONResponse:
        """Clients whose phone (whole number or its digits), name or company match."""
        term = q.strip()[:64]
        if not term:
            return JSONResponse({"clients": []})
        like = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        matches: list[ColumnElement[bool]] = [
            Client.name.like(like, escape="\\"),
            Client.company.like(like, escape="\\"),
        ]
        digits = normalize_phone(term)
        matches.append(Client.phone == digits if digits else Client.phone.like(like, escape="\\"))
        query = select(Client).where(or_(*matches)).order_by(Client.id.desc()).limit(SEARCH_LIMIT)
        async with services.db.transaction() as session:
            rows = (await session.execute(query)).scalars().all()
            return JSONResponse({"clients": [_caller(c) for c in rows]})

    @router.post("/api/phone/calls")
    async def log_call(request: Request, principal: CurrentPrincipal) -> JSONResponse:
        data = await json_body(request)
        client_id: int | None = None
        new_client: NewClient | None = None
        if data.get("client_id") is not None:
            client_id = db_int(data.get("client_id"))
            if client_id is None:
                raise BadPayload("client_id must be a client's id")
        else:
            raw = data.get("new_client")
            if not isinstance(raw, dict):
                raise BadPayload("client_id or new_client is required")
            new_client = NewClient(
                name=text_field(raw, "name", required=False, limit=128),
                company=text_field(raw, "company", required=False, limit=200),
                phone=text_field(raw, "phone", required=False, limit=32),
            )
        call = Call(
            category=text_field(data, "category", limit=16),
            details=_details(data.get("details", {})),
            notes=text_field(data, "notes", required=False),
            client_id=client_id,
            new_client=new_client,
        )
        language = services.settings.language
        try:
            async with services.db.transaction() as session:
                recorded = await record_call(
                    session,
                    call,
                    rep_id=principal.user_id,
                    forms=services.forms,
                    desk=services.desk,
                    texts=services.texts,
                    skip_words=services.settings.dialogue.skip_words,
                    language=language,
                    now=services.clock.now(),
                )
                number, conversation_ids = recorded.ticket.number, [o.conversation_id for o in recorded.outgoing]
        except CallNotValid as exc:
            problems = {k: services.texts.get(v, language) for k, v in exc.problems.items()}
            return JSONResponse({"error": "invalid", "problems": problems}, status_code=422)
        for conversation_id in conversation_ids:
            await services.dispatcher.deliver_conversation(conversation_id)
        return JSONResponse({"status": "ok", "number": number, "told_on": recorded.told_on}, status_code=201)

    @router.post("/api/phone/tickets/{number}/satisfaction")
    async def satisfaction(
        number: str, principal: CurrentPrincipal, body: Annotated[Score, Depends(parsed(Score))]
    ) -> JSONResponse:
        """The score a client gave on the call-back (回访) of a phone ticket: step 5, as the bot records it."""
        score = body.score
        async with services.db.transaction() as session:
            ticket, _ = await ticket_for(session, principal, number)
            if ticket.channel != PHONE:
                raise BadPayload("only phone tickets take a score from the console; clients score the others")
            if TicketStatus(ticket.status) is not TicketStatus.RESOLVED:
                raise BadPayload("the ticket is not resolved")
            await services.desk.record_feedback(
                session, ticket, score, f"user:{principal.user_id}", services.clock.now()
            )
        return JSONResponse({"status": "ok"})

    return router
