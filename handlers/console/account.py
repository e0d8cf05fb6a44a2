"""Every signed-in person's own account: the page and the API to change one's password."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse

from core.db.models import User
from core.errors import InvalidInput, NotFound
from handlers.console.bodies import Body, parsed, trimmed
from handlers.console.dependencies import CurrentPrincipal
from handlers.console.users import set_password
from handlers.console.web import client_address, page

if TYPE_CHECKING:
    from handlers.console.console import Console


class PasswordChange(Body):
    current: Annotated[str, trimmed(256)] = ""
    new: Annotated[str, trimmed(256)] = ""


def account_routes(console: Console) -> APIRouter:
    router = console.private()
    services = console.services

    @router.get("/account", include_in_schema=False)
    async def account_page(request: Request) -> HTMLResponse:
        return page(request, "account.html")

    @router.post("/api/account/password")
    async def change_password(
        request: Request, principal: CurrentPrincipal, body: Annotated[PasswordChange, Depends(parsed(PasswordChange))]
    ) -> JSONResponse:
        """The current password (throttled like a sign-in) and a new one; the person's other sessions end."""
        current, new = body.current, body.new
        if not await console.sessions.check_password(principal.user_id, current, client_address(request)):
            raise InvalidInput("the current password is not right")
        async with services.db.transaction() as session:
            user = await session.get(User, principal.user_id)
            if user is None:
                raise NotFound("no such user")
            ended = await set_password(
                session,
                user,
                new,
                now=services.clock.now(),
                actor_id=principal.user_id,
                keep_session=principal.session_id,
                min_score=console.settings.password_min_score,
            )
        return JSONResponse({"changed": True, "sessions_ended": ended})

    return router
