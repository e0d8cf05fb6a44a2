"""Request plumbing of the console: the session guard, JSON bodies, security headers, the pages and sign-in page."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bots.common import BadPayload, parse_json_object, read_limited_body, refuse_nul
from core.texts import Texts
from handlers.console.auth import Principal, Sessions
from handlers.console.csrf import check_session_token
from handlers.console.errors import NotSignedIn

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates

STATIC = Path(__file__).parent / "static"
# The pages: one base document (head, header), each page extending it; rendered with every value escaped.
TEMPLATES = Path(__file__).parent / "templates"
PREFIX = "/console"
MAX_JSON = 64 * 1024
# Nothing but kefu's own files: no inline script, no inline style, no other origin.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class Guard:
    """The dependency of every console route but sign-in: a valid session, and the CSRF token when writing."""

    def __init__(self, sessions: Sessions, cookie_name: str) -> None:
        self.sessions = sessions
        self.cookie_name = cookie_name

    async def __call__(self, request: Request) -> Principal:
        principal = await self.sessions.principal(request.cookies.get(self.cookie_name))
        if principal is None:
            raise NotSignedIn("login_required")
        check_session_token(request, principal.csrf_token)
        return principal


def client_address(request: Request) -> str:
    """The peer's address (behind a reverse proxy, uvicorn's proxy headers put the client's here)."""
    return request.client.host if request.client else ""


@cache
def templates() -> Jinja2Templates:
    """The pages' templates, loaded with the first page: a process serving only bots has no Jinja2 (about 2 MiB)."""
    import jinja2
    from fastapi.templating import Jinja2Templates

    return Jinja2Templates(
        env=jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            undefined=jinja2.StrictUndefined,
        )
    )


def page(request: Request, name: str) -> HTMLResponse:
    """A console page: fixed HTML that its script fills in; never cached, since it is only served signed in."""
    return templates().TemplateResponse(request, name, headers={"cache-control": "no-store"})


async def json_body(request: Request, limit: int = MAX_JSON) -> dict[str, Any]:
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise BadPayload("Content-Type must be application/json")
    data = parse_json_object(await read_limited_body(request, limit))
    refuse_nul(data)
    return data


def text_field(data: dict[str, Any], name: str, *, required: bool = True, limit: int = 4000) -> str:
    value = data.get(name, "")
    if not isinstance(value, str):
        raise BadPayload(f"{name} must be a string")
    value = value.strip()
    if required and not value:
        raise BadPayload(f"{name} is required")
    if len(value) > limit:
        raise BadPayload(f"{name} is longer than {limit} characters")
    return value


def ui_texts(texts: Texts, language: str) -> dict[str, str]:
    """The console's strings (texts under console.) and the category names, for the page scripts."""
    keys = [k for k in texts.keys(language) if k.startswith(("console.", "category."))]
    return {k: texts.get(k, language) for k in sorted(keys)}


def login_page(texts: Texts, language: str, token: str, error: str | None, next_url: str) -> str:
    """The sign-in page, filled in on the server (every value escaped) so it works before any session exists."""
    other = "en" if language == "zh" else "zh"
    values = {
        "lang": "zh-CN" if language == "zh" else "en",
        "title": texts.get("console.login.title", language),
        "heading": texts.get("console.login.heading", language),
        "username": texts.get("console.login.username", language),
        "password": texts.get("console.login.password", language),
        "submit": texts.get("console.login.submit", language),
        "switch": texts.get("console.language", other),
        "switch_href": f"{PREFIX}/login?lang={other}",
        "error": texts.get(f"console.login.error_{error}", language) if error else "",
        "error_hidden": "" if error else "hidden",
        "csrf": token,
        "next": next_url,
        "ui_lang": language,
    }
    return templates().get_template("login.html").render(values)


def safe_next(value: str | None) -> str:
    """Only paths inside the console: a sign-in link cannot send anyone elsewhere."""
    if value and value.startswith(PREFIX) and not value.startswith("//") and "\\" not in value:
        return value
    return PREFIX


class SecurityHeaders:
    """Adds CSP and friends to every console response (pages, API, assets); plain ASGI so streams stay streams."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path.startswith(PREFIX) or path.startswith("/static/console")):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                ]
                if path.startswith(PREFIX + "/api"):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
