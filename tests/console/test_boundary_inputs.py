"""Boundary values (0, −1, 2^63, 10^200, NUL, 9999-12-31) in parameters and body fields: 4xx, never 500.

Every path and query parameter of the published schema gets every value; JSON bodies get every value in
every field at once and in the fields each route reads. KEFU_BOUNDARY_FULL=1 tries every field of every
body alone (about 7,400 requests per database).
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from core.db.models import Client
from handlers.services import Services
from tests.console.conftest import SignIn
from tests.console.helpers import escalate

INTS: list[int] = [0, -1, 2**63, 10**200]
STRINGS = ["\x00", "a\x00b", "9999-12-31"]
BOUNDARIES: list[Any] = [*INTS, *STRINGS]
# Fields the console and the web chat read from JSON bodies.
BODY_FIELDS = [
    "to_user_id",
    "head_user_id",
    "user_id",
    "department_code",
    "departments",
    "text",
    "solution",
    "root_cause",
    "improvement",
    "name",
    "code",
    "username",
    "password",
    "role",
    "phone",
    "company",
    "tier",
    "note",
    "limit",
    "version",
    "revision",
    "publish",
    "force",
    "category",
    "priority",
    "language",
    "phrase",
    "weight",
    "match",
    "yaml",
    "replies",
    "body",
    "button_id",
    "client_msg_id",
    "lang",
    "await_client",
    "active",
]
# The fields one route reads, tried alone (a route stops at its first bad field, hiding the others).
READS = {
    "/transfer": ("to_user_id", "department_code"),
    "/reply": ("text",),
    "/note": ("text",),
    "/resolve": ("solution",),
    "/close": ("root_cause", "improvement"),
    "/category": ("category",),
    "/priority": ("priority",),
    "/admin/departments": ("head_user_id", "code", "name"),
    "/admin/users": ("username", "name", "role", "departments", "password"),
    "/keywords/rules": ("phrase", "category", "weight", "match", "note"),
    "/keywords/publish": ("note",),
    "/keywords/replay": ("limit",),
    "/admin/config/": ("revision", "body"),
    "/admin/clients/": ("name", "company", "phone", "tier"),
    "/active": ("active",),
}
FULL = os.environ.get("KEFU_BOUNDARY_FULL", "") not in ("", "0")
# The longest wait for a stream's response to start and, once its client has left, to end.
STREAM_WAIT = 10.0
STREAM = "/api/chat/events"

Case = tuple[str, str, dict[str, Any]]


def _operations(app: FastAPI) -> list[tuple[str, str, list[dict[str, Any]]]]:
    return [
        (method.upper(), path, list(op.get("parameters", [])))
        for path, ops in app.openapi()["paths"].items()
        for method, op in ops.items()
    ]


def _fill(path: str, params: list[dict[str, Any]], number: str, override: tuple[str, Any] | None) -> str:
    defaults = {"number": number, "table": "summary", "name": "canned_replies", "code": "cs"}
    for p in params:
        if p["in"] != "path":
            continue
        value = defaults.get(p["name"], 1) if p["schema"].get("type") != "integer" else 1
        if override and override[0] == p["name"]:
            value = override[1]
        path = path.replace("{" + p["name"] + "}", quote(str(value), safe=""))
    return path


def _fields(path: str) -> tuple[str, ...]:
    if FULL:
        return tuple(BODY_FIELDS)
    return tuple(dict.fromkeys(f for suffix, fields in READS.items() if suffix in path for f in fields))


def _cases(operations: list[tuple[str, str, list[dict[str, Any]]]], number: str) -> list[Case]:
    cases: list[Case] = []
    for method, path, params in operations:
        if path == "/console/logout":
            continue
        for p in params:
            for value in BOUNDARIES:
                if p["in"] == "path":
                    cases.append((method, _fill(path, params, number, (p["name"], value)), {}))
                elif p["in"] == "query":
                    cases.append((method, _fill(path, params, number, None), {"params": {p["name"]: str(value)}}))
        if path == "/api/chat/events":
            cases.extend((method, path, {"headers": {"last-event-id": str(v)}}) for v in BOUNDARIES)
        if method == "POST":
            target = _fill(path, params, number, None)
            for value in BOUNDARIES:
                cases.append((method, target, {"content": json.dumps(dict.fromkeys(BODY_FIELDS, value))}))
                for field in _fields(path):
                    cases.append((method, target, {"content": json.dumps({field: value})}))
    return cases


async def _stream_status(app: FastAPI, method: str, url: str, headers: dict[str, str], params: dict[str, str]) -> int:
    """The status of a stream's response, read at its start; then the client leaves, as a browser's tab closes.

    Called through ASGI directly: httpx's in-process transport waits for the whole body, which a stream never
    ends, and cancelling that wait can leave the app's task group waiting forever.
    """
    status: list[int] = []
    started = asyncio.Event()
    asked = False

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await started.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
            started.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": url,
        "raw_path": url.encode(),
        "root_path": "",
        "query_string": urlencode(params).encode(),
        "headers": [(b"host", b"testserver"), *((k.lower().encode(), v.encode()) for k, v in headers.items())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 443),
    }
    await asyncio.wait_for(app(scope, receive, send), STREAM_WAIT)
    return status[0]


async def test_boundary_values_never_give_a_server_error(services: Services, signed_in: SignIn, app: FastAPI) -> None:
    admin = await signed_in("root", role="admin")
    _, number = await escalate(services, "v1")
    headers = {"X-CSRF-Token": admin.csrf, "content-type": "application/json"}
    cases = _cases(_operations(app), number)
    failures: list[str] = []
    statuses: set[int] = set()
    # The app's exceptions become the 500 a browser would get, not a failure raised into the test.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        http.cookies = admin.http.cookies
        # The web chat's stream needs its visitor cookie.
        assert (await http.get("/api/chat/config")).status_code == 200

        def record(status: int, method: str, url: str, kwargs: dict[str, Any]) -> None:
            statuses.add(status)
            if status >= 500:
                failures.append(f"{method} {url} {kwargs}")

        for method, url, kwargs in cases:
            if not url.startswith(STREAM):
                sent = headers | kwargs.pop("headers", {})
                record((await http.request(method, url, headers=sent, **kwargs)).status_code, method, url, kwargs)
        cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies.jar)
        for method, url, kwargs in cases:
            if url.startswith(STREAM):
                sent = headers | {"cookie": cookie} | kwargs.pop("headers", {})
                status = await _stream_status(app, method, url, sent, kwargs.pop("params", {}))
                record(status, method, url, kwargs)
    print(f"boundary inputs: {len(cases)}, giving 5xx: {len(failures)}")
    assert not failures, "\n".join(failures[:80])
    assert {400, 422} <= statuses and 200 in statuses, statuses


async def test_the_web_chat_stream_refuses_ids_beyond_64_bits(web: httpx.AsyncClient) -> None:
    assert (await web.get("/api/chat/config")).status_code == 200
    for after in (2**63, 10**200, -1):
        assert (await web.get("/api/chat/events", params={"after": after})).status_code == 422, after


async def test_a_csv_with_nul_is_skipped_in_the_preview_and_the_commit_writes_the_rest(
    services: Services, signed_in: SignIn
) -> None:
    admin = await signed_in("root", role="admin")
    raw = "name,phone,tier\n张\x00三,13800138000,A\n李四,13900139000,B\n".encode()
    headers = {"X-CSRF-Token": admin.csrf, "content-type": "text/csv; charset=utf-8"}
    preview = await admin.http.post("/console/api/admin/clients-import/preview", content=raw, headers=headers)
    assert preview.status_code == 200, preview.text
    rows = preview.json()["rows"]
    assert [r["action"] for r in rows] == ["skip", "create"]
    assert rows[0]["errors"] == [{"code": "bad_character", "value": "name"}]
    commit = await admin.http.post(
        "/console/api/admin/clients-import/commit",
        content=raw,
        headers=headers,
        params={"digest": preview.json()["digest"]},
    )
    assert commit.status_code == 200, commit.text
    async with services.db.transaction() as session:
        assert await session.scalar(select(func.count(Client.id))) == 1


async def test_canned_replies_and_text_overrides_take_only_bare_placeholders(signed_in: SignIn) -> None:
    admin = await signed_in("root", role="admin")
    base = "/console/api/admin/config/"
    for name, body in (
        ("canned_replies", {"replies": [{"id": "x", "title": {"zh": "x"}, "text": {"zh": "{client_name:>3000000}"}}]}),
        ("canned_replies", {"replies": [{"id": "x", "title": {"zh": "x"}, "text": {"zh": "{client_name!r}"}}]}),
        ("texts", {"overrides": {"zh": {"ticket.appended": "{ticket_no:>3000000}"}}}),
    ):
        revision = (await admin.get(base + name)).json()["revision"]
        saved = await admin.post(base + name, {"revision": revision, "body": body})
        assert saved.status_code == 400 and "bare" in saved.text, (name, saved.text)
