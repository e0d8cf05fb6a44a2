"""Signing in to the console: the sign-in form and its post, and where a request without a session is sent."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from bots.common import read_limited_body
from handlers.console.csrf import LOGIN_FIELD
from handlers.console.web import PREFIX, client_address, login_page, safe_next

if TYPE_CHECKING:
    from handlers.console.console import Console


async def not_signed_in(request: Request, exc: Exception) -> Response:
    """401 for the API and for writes; a page asked for without a session goes to the sign-in form and back."""
    if request.url.path.startswith(PREFIX + "/api") or request.method != "GET":
        return JSONResponse({"error": "login_required"}, status_code=401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{PREFIX}/login?next={target}", status_code=303)


def signin_routes(console: Console) -> APIRouter:
    router = APIRouter(prefix=PREFIX)
    texts = console.services.texts
    settings = console.settings

    def login_error(request: Request, language: str, error: str, next_url: str, status: int) -> HTMLResponse:
        response = HTMLResponse("", status_code=status)
        token = console.login_tokens.issue(request, response)
        response.body = response.render(login_page(texts, language, token, error, next_url))
        response.headers["content-length"] = str(len(response.body))
        return response

    @router.get("/login", include_in_schema=False)
    async def login_form(request: Request, lang: str | None = None, next: str | None = None) -> HTMLResponse:
        response = HTMLResponse("")
        token = console.login_tokens.issue(request, response)
        page = login_page(texts, console.language(lang), token, None, safe_next(next))
        response.body = response.render(page)
        response.headers["content-length"] = str(len(response.body))
        return response

    @router.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = {
            k: v[0] for k, v in parse_qs((await read_limited_body(request, 8192)).decode("utf-8", "replace")).items()
        }
        language = console.language(form.get("lang"))
        next_url = safe_next(form.get("next"))
        if not console.login_tokens.check(request, form.get(LOGIN_FIELD, "")):
            return login_error(request, language, "expired", next_url, 403)
        result = await console.sessions.login(
            form.get("username", ""), form.get("password", ""), client_address(request)
        )
        if result.token is None:
            status = 429 if result.error in ("locked", "too_fast") else 401
            refused = login_error(request, language, result.error or "invalid", next_url, status)
            if result.retry_after:
                refused.headers["retry-after"] = str(result.retry_after)
            return refused
        response = RedirectResponse(next_url, status_code=303)
        response.set_cookie(
            settings.cookie_name,
            result.token,
            max_age=int(settings.session_hours * 3600),
            httponly=True,
            samesite="lax",
            secure=settings.cookie_secure,
            path="/",
        )
        return response

    return router
