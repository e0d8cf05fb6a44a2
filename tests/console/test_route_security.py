"""Every route of the app refuses work without a console session, except the few that have their own auth."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Mount

from core.clock import ManualClock
from core.settings import Settings
from handlers.app import create_app
from handlers.services import build_services
from tests.console.conftest import SignIn

# Public by design: sign-in, health and readiness, metrics (their own bearer token), static assets, the web
# chat (its visitor cookie), and the channel webhooks, which check WeChat's signature, WeCom's signature and
# Telegram's secret header themselves.
PUBLIC = {
    ("GET", "/console/login"),
    ("POST", "/console/login"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/"),
    ("GET", "/api/chat/config"),
    ("GET", "/api/chat/history"),
    ("POST", "/api/chat/messages"),
    ("GET", "/api/chat/events"),
    ("GET", "/wechat"),
    ("POST", "/wechat"),
    ("GET", "/wechat/{account}"),
    ("POST", "/wechat/{account}"),
    ("GET", "/wecom/kf"),
    ("POST", "/wecom/kf"),
    ("POST", "/telegram"),
}
PUBLIC_MOUNTS = {"/static/web", "/static/console"}
PARAM = re.compile(r"\{[^}]+\}")


def routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path) of every route, including those of included routers."""
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI ≥ 0.165 keeps included routers lazy

        contexts: list[Any] = list(iter_route_contexts(app.routes))
    except ImportError:
        contexts = list(app.routes)
    for route in contexts:
        path = route.path
        methods = getattr(route, "methods", None)
        if methods is None:
            assert path in PUBLIC_MOUNTS, f"unexpected mount or websocket {path}"
            continue
        for method in sorted(methods - {"HEAD"}):
            yield method, path


@pytest.fixture
async def full_app(settings: Settings, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FastAPI]:
    """The app with every channel configured, so their webhooks are among the routes."""
    monkeypatch.setenv("KEFU_WECHAT_TOKEN", "token")
    monkeypatch.setenv("KEFU_WECHAT_APP_ID", "wx0123456789abcdef")
    monkeypatch.setenv("KEFU_WECHAT_APP_SECRET", "secret")
    monkeypatch.setenv("KEFU_WECOM_CORP_ID", "ww0123456789")
    monkeypatch.setenv("KEFU_WECOM_SECRET", "secret")
    monkeypatch.setenv("KEFU_WECOM_TOKEN", "token")
    monkeypatch.setenv("KEFU_WECOM_AES_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
    monkeypatch.setenv("KEFU_TELEGRAM_TOKEN", "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi")
    monkeypatch.setenv("KEFU_TELEGRAM_SECRET", "telegram-secret")
    services = build_services(settings, clock)
    await services.start(migrate=False)
    yield create_app(settings, services=services, background=False)
    await services.stop()


def _concrete(path: str) -> str:
    return PARAM.sub("1", path)


async def test_no_route_answers_without_a_session_except_the_public_ones(full_app: FastAPI) -> None:
    found = set(routes(full_app))
    assert {("POST", "/wechat"), ("POST", "/wecom/kf"), ("POST", "/telegram")} <= found, "channels not configured"
    assert ("POST", "/console/api/tickets/{number}/claim") in found and ("GET", "/console/api/events") in found
    private = sorted(found - PUBLIC)
    assert len(private) >= 20, private
    transport = httpx.ASGITransport(app=full_app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as anonymous:
        for method, path in private:
            assert path.startswith("/console"), f"{method} {path} is neither public nor part of the console"
            response = await anonymous.request(method, _concrete(path), json={})
            if method == "GET" and not path.startswith("/console/api"):
                assert response.status_code == 303, (method, path, response.status_code)
                assert response.headers["location"].startswith("/console/login?next=")
            else:
                assert response.status_code == 401, (method, path, response.status_code, response.text)
                assert response.json() == {"error": "login_required"}
        # A forged or stale cookie is no better than none.
        anonymous.cookies.set("kefu_console", "forged-token")
        for method, path in private:
            response = await anonymous.request(method, _concrete(path), json={})
            assert response.status_code in (401, 303), (method, path, response.status_code)


async def test_interactive_docs_and_schema_are_not_served(full_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=full_app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as anonymous:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert (await anonymous.get(path)).status_code == 404


async def test_every_state_changing_console_route_needs_the_csrf_token(app: FastAPI, signed_in: SignIn) -> None:
    admin = await signed_in("root", role="admin")
    writes = [(m, p) for m, p in routes(app) if m != "GET" and (m, p) not in PUBLIC]
    assert len(writes) >= 12, writes
    for method, path in writes:
        response = await admin.http.request(method, _concrete(path), json={})
        assert response.status_code == 403 and response.json() == {"error": "csrf"}, (method, path, response.text)


async def test_console_responses_carry_a_strict_content_security_policy(signed_in: SignIn) -> None:
    ann = await signed_in("ann")
    for path in ("/console", "/console/api/me", "/static/console/console.css"):
        response = await ann.get(path)
        assert response.status_code == 200, path
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"


def test_route_list_includes_api_routes() -> None:
    # The helper must see through included routers on any FastAPI version.
    app = FastAPI()
    from fastapi import APIRouter

    router = APIRouter(prefix="/x")

    @router.get("/y")
    async def y() -> None:
        return None

    app.include_router(router)
    assert ("GET", "/x/y") in set(routes(app))
    assert all(not isinstance(r, Mount) or r.path for r in app.routes)
    assert APIRoute  # the import documents what the helper reads


def test_console_scripts_never_parse_markup() -> None:
    # Client text reaches the page only through textContent and text nodes; no script may use an HTML sink.
    from handlers.console.web import STATIC, TEMPLATES

    scripts = sorted(STATIC.glob("*.js"))
    assert len(scripts) >= 4
    for script in scripts:
        source = script.read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in source, f"{script.name} uses {sink}"
    pages = sorted(TEMPLATES.glob("*.html"))
    assert len(pages) >= 10
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert "<script>" not in html and " style=" not in html and "http" not in html.replace("http-equiv", ""), (
            page.name
        )
