"""The console's request dependencies: who is signed in (the session guard of the app's console), typed for routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from handlers.console.access import require_role
from handlers.console.auth import Principal
from handlers.console.web import Guard


async def current_principal(request: Request) -> Principal:
    """The signed-in person of the request, its CSRF token checked on writes; NotSignedIn without a valid session.

    One callable for the private routers and every route, so FastAPI checks the session once a request.
    """
    guard: Guard = request.app.state.console.guard
    return await guard(request)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def admin_principal(principal: CurrentPrincipal) -> Principal:
    """The signed-in admin; Forbidden (403) for anyone else.

    A dependency rather than a check in the route, so that it runs before the route's body is parsed: a
    caller without the role is told so before anything about what they sent.
    """
    require_role(principal, "admin")
    return principal


AdminPrincipal = Annotated[Principal, Depends(admin_principal)]
