"""The console's request dependencies: who is signed in (the session guard of the app's console), typed for routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from handlers.console.auth import Principal
from handlers.console.web import Guard


async def current_principal(request: Request) -> Principal:
    """The signed-in person of the request, its CSRF token checked on writes; NotSignedIn without a valid session.

    One callable for the private routers and every route, so FastAPI checks the session once a request.
    """
    guard: Guard = request.app.state.console.guard
    return await guard(request)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
