"""Routes of the console: sign-in, pages, inbox, conversation view, ticket edits, directory, reports, users."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import select

from bots.common import PageNumber, PathId, read_limited_body
from core.audit import record
from core.db.models import Conversation, Department, Message, User
from core.errors import InvalidInput, NotFound
from core.staffing import unstaffed_departments
from handlers.console import conversation as view
from handlers.console import inbox
from handlers.console.access import require_role, ticket_for
from handlers.console.account import account_routes
from handlers.console.admin import admin_routes
from handlers.console.auth import Principal, Sessions
from handlers.console.classifier import classifier_routes
from handlers.console.client_eval import client_eval_routes
from handlers.console.clients import client_routes
from handlers.console.config_routes import config_routes
from handlers.console.csrf import LOGIN_FIELD, LoginTokens
from handlers.console.edits import reclassify, reprioritize
from handlers.console.errors import NotSignedIn
from handlers.console.keywords import keywords_routes
from handlers.console.live import LiveStreams, live_routes
from handlers.console.phone import phone_router
from handlers.console.reports import reports_routes
from handlers.console.settings import ConsoleSettings
from handlers.console.takeover import takeover_router
from handlers.console.users import STAFF
from handlers.console.voice import needs_decoding, playable_wav
from handlers.console.web import (
    PREFIX,
    STATIC,
    Guard,
    SecurityHeaders,
    client_address,
    json_body,
    login_page,
    page,
    safe_next,
    text_field,
    ui_texts,
)
from handlers.services import Services

log = logging.getLogger(__name__)
INLINE_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/gif", "image/webp", "audio/amr", "audio/mpeg", "audio/ogg", "video/mp4"}
)


class Console:
    """The console bound to one kefu's services; `install` adds its routes to the app."""

    def __init__(self, services: Services, settings: ConsoleSettings | None = None) -> None:
        self.services = services
        self.settings = settings or ConsoleSettings()
        self.sessions = Sessions(services.db, services.clock, self.settings, services.settings.language)
        self.guard = Guard(self.sessions, self.settings.cookie_name)
        # The open live streams of this process (set when the routes are installed).
        self.live_streams: LiveStreams | None = None
        self.login_tokens = LoginTokens(
            services.settings.secret_key.get_secret_value(), secure=self.settings.cookie_secure
        )

    @property
    def risk(self) -> timedelta:
        return timedelta(minutes=self.settings.sla_risk_minutes)

    def notices(self, principal: Principal) -> list[dict[str, str]]:
        """Banners over every console page: admins, who keep the settings, hear when the calendar runs out."""
        warning = self.services.calendar_warning()
        if principal.role != "admin" or warning is None:
            return []
        return [{"kind": "calendar", "text": warning.text(self.services.texts, principal.language)}]

    def estimated(self, deadline: str | None) -> bool:
        """Whether a deadline (ISO text, as the views give it) lies past the days whose holidays are known."""
        return deadline is not None and self.services.calendar.is_estimated(datetime.fromisoformat(deadline))

    def language(self, requested: str | None) -> str:
        texts = self.services.texts
        return requested if requested in texts.languages else self.services.settings.language

    def install(self, app: FastAPI) -> None:
        app.state.console = self
        app.add_middleware(SecurityHeaders)
        app.add_exception_handler(NotSignedIn, self._not_signed_in)
        app.mount("/static/console", StaticFiles(directory=STATIC), name="console-static")
        app.include_router(self.public_router())
        app.include_router(self.private_router())
        app.include_router(takeover_router(self))
        app.include_router(phone_router(self))
        app.include_router(live_routes(self))
        app.include_router(admin_routes(self))
        app.include_router(reports_routes(self))
        app.include_router(config_routes(self))
        app.include_router(client_routes(self))
        app.include_router(client_eval_routes(self))
        app.include_router(keywords_routes(self))
        app.include_router(classifier_routes(self))
        app.include_router(account_routes(self))

    async def _not_signed_in(self, request: Request, exc: Exception) -> Response:
        if request.url.path.startswith(PREFIX + "/api") or request.method != "GET":
            return JSONResponse({"error": "login_required"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{PREFIX}/login?next={target}", status_code=303)

    def private(self) -> APIRouter:
        """A router whose every route requires a signed-in session (and CSRF on writes)."""
        return APIRouter(prefix=PREFIX, dependencies=[Depends(self.guard)])

    # ------------------------------------------------------------ sign-in

    def public_router(self) -> APIRouter:
        router = APIRouter(prefix=PREFIX)
        texts = self.services.texts

        @router.get("/login", include_in_schema=False)
        async def login_form(request: Request, lang: str | None = None, next: str | None = None) -> HTMLResponse:
            response = HTMLResponse("")
            token = self.login_tokens.issue(request, response)
            page = login_page(texts, self.language(lang), token, None, safe_next(next))
            response.body = response.render(page)
            response.headers["content-length"] = str(len(response.body))
            return response

        @router.post("/login", include_in_schema=False)
        async def login(request: Request) -> Response:
            form = {
                k: v[0]
                for k, v in parse_qs((await read_limited_body(request, 8192)).decode("utf-8", "replace")).items()
            }
            language = self.language(form.get("lang"))
            next_url = safe_next(form.get("next"))
            if not self.login_tokens.check(request, form.get(LOGIN_FIELD, "")):
                return self._login_error(request, language, "expired", next_url, 403)
            result = await self.sessions.login(
                form.get("username", ""), form.get("password", ""), client_address(request)
            )
            if result.token is None:
                status = 429 if result.error in ("locked", "too_fast") else 401
                refused = self._login_error(request, language, result.error or "invalid", next_url, status)
                if result.retry_after:
                    refused.headers["retry-after"] = str(result.retry_after)
                return refused
            response = RedirectResponse(next_url, status_code=303)
            response.set_cookie(
                self.settings.cookie_name,
                result.token,
                max_age=int(self.settings.session_hours * 3600),
                httponly=True,
                samesite="lax",
                secure=self.settings.cookie_secure,
                path="/",
            )
            return response

        return router

    def _login_error(self, request: Request, language: str, error: str, next_url: str, status: int) -> HTMLResponse:
        response = HTMLResponse("", status_code=status)
        token = self.login_tokens.issue(request, response)
        response.body = response.render(login_page(self.services.texts, language, token, error, next_url))
        response.headers["content-length"] = str(len(response.body))
        return response

    # ------------------------------------------------------------ pages and read views

    def private_router(self) -> APIRouter:
        router = self.private()
        services = self.services

        @router.get("", include_in_schema=False)
        async def inbox_page(request: Request) -> HTMLResponse:
            return page(request, "inbox.html")

        @router.get("/tickets/{number}", include_in_schema=False)
        async def ticket_page(request: Request, number: str) -> HTMLResponse:
            return page(request, "ticket.html")

        @router.get("/admin", include_in_schema=False)
        async def admin_page(request: Request, principal: Principal = Depends(self.guard)) -> HTMLResponse:
            require_role(principal, "supervisor", "admin")
            return page(request, "admin.html")

        @router.post("/logout")
        async def logout(principal: Principal = Depends(self.guard)) -> JSONResponse:
            await self.sessions.logout(principal)
            response = JSONResponse({"status": "signed_out"})
            response.delete_cookie(
                self.settings.cookie_name, path="/", secure=self.settings.cookie_secure, httponly=True
            )
            return response

        @router.get("/api/me")
        async def me(principal: Principal = Depends(self.guard)) -> JSONResponse:
            return JSONResponse(
                {
                    "user": view.principal_json(principal),
                    "csrf": principal.csrf_token,
                    "languages": services.texts.languages,
                    "texts": ui_texts(services.texts, principal.language),
                    "now": services.clock.now().isoformat(),
                    "notices": self.notices(principal),
                }
            )

        @router.post("/api/language")
        async def language(request: Request, principal: Principal = Depends(self.guard)) -> JSONResponse:
            chosen = text_field(await json_body(request), "language", limit=8)
            if chosen not in services.texts.languages:
                raise InvalidInput(f"language must be one of {', '.join(services.texts.languages)}")
            await self.sessions.set_language(principal, chosen)
            return JSONResponse({"language": chosen})

        @router.get("/api/inbox")
        async def inbox_view(
            queue: str = "waiting", q: str = "", page: PageNumber = 0, principal: Principal = Depends(self.guard)
        ) -> JSONResponse:
            now = services.clock.now()
            size = self.settings.page_size
            if queue not in inbox.QUEUES:
                raise InvalidInput(f"queue must be one of {', '.join(inbox.QUEUES)}")
            async with services.db.transaction() as session:
                items = await inbox.page(
                    session,
                    principal,
                    queue=queue,
                    term=q.strip(),
                    now=now,
                    risk=self.risk,
                    offset=max(0, page) * size,
                    limit=size + 1,
                )
                counts = await inbox.counts(session, principal, now, self.risk)
                # Tickets nobody of their department sees: supervisors are the ones who can fix it.
                unstaffed = await unstaffed_departments(session) if principal.sees_all else []
            for item in items:
                item["deadline_estimated"] = self.estimated(item["deadline"])
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
        async def ticket_view(number: str, principal: Principal = Depends(self.guard)) -> JSONResponse:
            now = services.clock.now()
            async with services.db.transaction() as session:
                ticket, conversation = await ticket_for(session, principal, number)
                messages, total = await view.transcript(session, ticket)
                panel = await view.ticket_panel(session, ticket, conversation)
                client = await view.client_panel(session, ticket)
            panel["first_response_due_estimated"] = self.estimated(panel["first_response_due"])
            panel["resolution_due_estimated"] = self.estimated(panel["resolution_due"])
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
                    "held_by_me": conversation.holder_user_id == principal.user_id,
                    "now": now.isoformat(),
                }
            )

        @router.get("/api/tickets/{number}/media/{message_id}/{index}")
        async def media(
            number: str, message_id: PathId, index: PathId, play: str = "", principal: Principal = Depends(self.guard)
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
                return FileResponse(
                    playable, media_type="audio/wav", headers={"cache-control": "private, max-age=3600"}
                )
            inline = mime in INLINE_TYPES
            return FileResponse(
                path,
                media_type=mime if inline else "application/octet-stream",
                content_disposition_type="inline" if inline else "attachment",
                headers={"cache-control": "private, max-age=3600"},
            )

        @router.post("/api/tickets/{number}/reveal")
        async def reveal(number: str, principal: Principal = Depends(self.guard)) -> JSONResponse:
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

        @router.post("/api/tickets/{number}/category")
        async def category(number: str, request: Request, principal: Principal = Depends(self.guard)) -> JSONResponse:
            chosen = text_field(await json_body(request), "category", limit=16)
            async with services.db.transaction() as session:
                ticket, _ = await ticket_for(session, principal, number)
                await session.refresh(ticket, with_for_update=True)
                changed = await reclassify(session, ticket, chosen, principal.actor, services.clock.now())
            return JSONResponse({"category": chosen, "changed": changed})

        @router.post("/api/tickets/{number}/priority")
        async def priority(number: str, request: Request, principal: Principal = Depends(self.guard)) -> JSONResponse:
            chosen = text_field(await json_body(request), "priority", limit=2)
            async with services.db.transaction() as session:
                ticket, _ = await ticket_for(session, principal, number)
                await session.refresh(ticket, with_for_update=True)
                changed = reprioritize(session, ticket, chosen, principal.actor, services.clock.now())
            return JSONResponse({"priority": chosen, "changed": changed})

        @router.get("/api/directory")
        async def directory(principal: Principal = Depends(self.guard)) -> JSONResponse:
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


def install(app: FastAPI, services: Services) -> Console:
    console = Console(services)
    console.install(app)
    return console
