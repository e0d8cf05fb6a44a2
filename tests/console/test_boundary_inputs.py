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
from urllib.parse import quote

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
# Streams never end; a value they accept is seen as a response that has started (status 200) in time.
STREAM_WAIT = 2.0
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


async def _status(http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> int:
    try:
        response = await asyncio.wait_for(http.request(method, url, **kwargs), STREAM_WAIT)
    except TimeoutError:
        return 200
    return response.status_code


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

        async def attempt(method: str, url: str, kwargs: dict[str, Any]) -> None:
            status = await _status(http, method, url, headers=headers | kwargs.pop("headers", {}), **kwargs)
            statuses.add(status)
            if status >= 500:
                failures.append(f"{method} {url} {kwargs}")

        # The stream's cases wait for STREAM_WAIT each when accepted: side by side, the wait is paid once.
        streams = [case for case in cases if case[1].startswith(STREAM)]
        for method, url, kwargs in cases:
            if not url.startswith(STREAM):
                await attempt(method, url, kwargs)
        await asyncio.gather(*(attempt(method, url, kwargs) for method, url, kwargs in streams))
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
