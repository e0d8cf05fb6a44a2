"""The console's pages and read views: inbox, ticket and admin pages, who is signed in, the inbox and a ticket's
conversation, its media, revealing contact data, ticket category and priority, the staff directory."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from sqlalchemy import select

from bots.common import PageNumber, PathId
from core.audit import record
from core.db.models import Conversation, Department, Message, User
from core.errors import InvalidInput, NotFound
from core.staffing import unstaffed_departments
from handlers.console import conversation as view
from handlers.console import inbox
from handlers.console.access import require_role, ticket_for
from handlers.console.bodies import Body, parsed, trimmed
from handlers.console.dependencies import CurrentPrincipal
from handlers.console.edits import EDITS
from handlers.console.users import STAFF
from handlers.console.voice import needs_decoding, playable_wav
from handlers.console.web import page, ui_texts

if TYPE_CHECKING:
    from handlers.console.console import Console

log = logging.getLogger(__name__)
INLINE_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/gif", "image/webp", "audio/amr", "audio/mpeg", "audio/ogg", "video/mp4"}
)


class Language(Body):
    language: Annotated[str, trimmed(8)] = ""


class Category(Body):
    category: Annotated[str, trimmed(16)] = ""


class Priority(Body):
    priority: Annotated[str, trimmed(2)] = ""


def view_routes(console: Console) -> APIRouter:
    router = console.private()
    services = console.services

    @router.get("", include_in_schema=False)
    async def inbox_page(request: Request) -> HTMLResponse:
        return page(request, "inbox.html")

    @router.get("/tickets/{number}", include_in_schema=False)
    async def ticket_page(request: Request, number: str) -> HTMLResponse:
        return page(request, "ticket.html")

    @router.get("/admin", include_in_schema=False)
    async def admin_page(request: Request, principal: CurrentPrincipal) -> HTMLResponse:
        require_role(principal, "supervisor", "admin")
        return page(request, "admin.html")

    @router.post("/logout")
    async def logout(principal: CurrentPrincipal) -> JSONResponse:
        await console.sessions.logout(principal)
        response = JSONResponse({"status": "signed_out"})
        response.delete_cookie(
            console.settings.cookie_name, path="/", secure=console.settings.cookie_secure, httponly=True
        )
        return response

    @router.get("/api/me")
    async def me(principal: CurrentPrincipal) -> JSONResponse:
        return JSONResponse(
            {
                "user": view.principal_json(principal),
                "csrf": principal.csrf_token,
                "languages": services.texts.languages,
                "texts": ui_texts(services.texts, principal.language),
                "now": services.clock.now().isoformat(),
                "notices": console.notices(principal),
            }
        )

    @router.post("/api/language")
    async def language(
        principal: CurrentPrincipal, body: Annotated[Language, Depends(parsed(Language))]
    ) -> JSONResponse:
        chosen = body.language
        if chosen not in services.texts.languages:
            raise InvalidInput(f"language must be one of {', '.join(services.texts.languages)}")
        await console.sessions.set_language(principal, chosen)
        return JSONResponse({"language": chosen})

    @router.get("/api/inbox")
    async def inbox_view(
        principal: CurrentPrincipal, queue: str = "waiting", q: str = "", page: PageNumber = 0
    ) -> JSONResponse:
        now = services.clock.now()
        size = console.settings.page_size
        if queue not in inbox.QUEUES:
            raise InvalidInput(f"queue must be one of {', '.join(inbox.QUEUES)}")
        async with services.db.transaction() as session:
            items = await inbox.page(
                session,
                principal,
                queue=queue,
                term=q.strip(),
                now=now,
                risk=console.risk,
                offset=max(0, page) * size,
                limit=size + 1,
            )
            counts = await inbox.counts(session, principal, now, console.risk)
            # Tickets nobody of their department sees: supervisors are the ones who can fix it.
            unstaffed = await unstaffed_departments(session) if principal.sees_all else []
        for item in items:
            item["deadline_estimated"] = console.estimated(item["deadline"])
        return JSONResponse(
            {
                "unstaffed": [{"code": d.code, "name": d.name, "open_tickets": d.open_tickets} for d in unstaffed],
                "queue": queue,
                "q": q.strip(),
                "page": max(0, page),
                "more": len(items) > size,
                "items": items[:size],
                "counts": counts,
                "now": now.isoformat(),
            }
        )

    @router.get("/api/tickets/{number}")
    async def ticket_view(number: str, principal: CurrentPrincipal) -> JSONResponse:
        now = services.clock.now()
        async with services.db.transaction() as session:
            ticket, conversation = await ticket_for(session, principal, number)
            messages, total = await view.transcript(session, ticket)
            panel = await view.ticket_panel(session, ticket, conversation)
            client = await view.client_panel(session, ticket)
        panel["first_response_due_estimated"] = console.estimated(panel["first_response_due"])
        panel["resolution_due_estimated"] = console.estimated(panel["resolution_due"])
        canned = services.canned.render(
            conversation.language, client_name=client["name"] or "", ticket_no=ticket.number
        )
        return JSONResponse(
            {
                "ticket": panel,
                "client": client,
                "messages": messages,
                "message_count": total,
                "window": view.reply_window(services.registry, conversation, now),
                "canned": canned,
                "conversation_id": conversation.id,
                "taken_by_me": conversation.holder_user_id == principal.user_id,
                "now": now.isoformat(),
            }
        )

    @router.get("/api/tickets/{number}/media/{message_id}/{index}")
    async def media(
        number: str, message_id: PathId, index: PathId, principal: CurrentPrincipal, play: str = ""
    ) -> Response:
        async with services.db.transaction() as session:
            ticket, _ = await ticket_for(session, principal, number)
            message = await session.get(Message, message_id)
            owner = await session.get(Conversation, message.conversation_id) if message else None
            if message is None or owner is None or owner.client_id != ticket.client_id:
                raise NotFound("no such media")
            attachments = (message.payload or {}).get("attachments", [])
        if not 0 <= index < len(attachments) or not attachments[index].get("local_path"):
            raise NotFound("no such media")
        path = await asyncio.to_thread(
            _stored_file, Path(attachments[index]["local_path"]), services.settings.media_dir
        )
        mime = str(attachments[index].get("mime_type") or "application/octet-stream")
        if play == "wav" and needs_decoding(mime):
            playable = await asyncio.to_thread(playable_wav, path, services.settings.media_dir)
            return FileResponse(playable, media_type="audio/wav", headers={"cache-control": "private, max-age=3600"})
        inline = mime in INLINE_TYPES
        return FileResponse(
            path,
            media_type=mime if inline else "application/octet-stream",
            content_disposition_type="inline" if inline else "attachment",
            headers={"cache-control": "private, max-age=3600"},
        )

    @router.post("/api/tickets/{number}/reveal")
    async def reveal(number: str, principal: CurrentPrincipal) -> JSONResponse:
        now = services.clock.now()
        async with services.db.transaction() as session:
            ticket, _ = await ticket_for(session, principal, number)
            shown = await view.reveal(session, ticket)
            record(
                session,
                principal.user_id,
                "pii_revealed",
                f"client:{ticket.client_id}",
                now,
                {"ticket": ticket.number},
            )
        log.info("user %s revealed the contact data of ticket %s", principal.user_id, number)
        return JSONResponse(shown)

    def ticket_edit(field: str, model: type[Body]) -> None:
        """The route that sets one field of a ticket (category, priority): the body's `field` is the new value."""
        edit = EDITS[field]

        # A default rather than Annotated: the model is this function's argument, which a string annotation
        # (from __future__ import annotations) could not name.
        @router.post(f"/api/tickets/{{number}}/{field}", name=field)
        async def set_field(
            number: str, principal: CurrentPrincipal, body: Body = Depends(parsed(model))
        ) -> JSONResponse:
            chosen: str = getattr(body, field)
            async with services.db.transaction() as session:
                ticket, _ = await ticket_for(session, principal, number)
                await session.refresh(ticket, with_for_update=True)
                changed = await edit(session, ticket, chosen, principal.actor, services.clock.now())
            return JSONResponse({field: chosen, "changed": changed})

    for field, model in (("category", Category), ("priority", Priority)):
        ticket_edit(field, model)

    @router.get("/api/directory")
    async def directory(principal: CurrentPrincipal) -> JSONResponse:
        async with services.db.transaction() as session:
            departments = (await session.execute(select(Department).order_by(Department.code))).scalars()
            users = (
                await session.execute(
                    select(User).where(User.active.is_(True), User.role.in_(STAFF)).order_by(User.display_name)
                )
            ).scalars()
            return JSONResponse(
                {
                    "departments": [{"code": d.code, "name": d.name} for d in departments],
                    "users": [
                        {"id": u.id, "name": u.display_name, "role": u.role, "on_duty": u.on_duty} for u in users
                    ],
                }
            )

    return router


def _stored_file(path: Path, media_dir: Path) -> Path:
    """The file if it lies inside the media store; a record pointing elsewhere is not followed."""
    resolved = path.resolve()
    if not resolved.is_relative_to(media_dir.resolve()) or not resolved.is_file():
        raise NotFound("media file missing")
    return resolved
