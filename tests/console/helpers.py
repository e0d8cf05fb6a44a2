"""A signed-in console client for tests: signs in through the real form and sends the CSRF header."""

from __future__ import annotations

import re
from typing import Any

import httpx

from handlers.services import Services

PASSWORD = "correct horse battery"
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


async def add_user(
    services: Services, username: str, role: str = "rep", departments: tuple[str, ...] = ("cs",), name: str = ""
) -> int:
    from handlers.console.users import create_user

    async with services.db.transaction() as session:
        user = await create_user(
            session,
            username=username,
            display_name=name or username,
            role=role,
            password=PASSWORD,
            departments=departments if role == "rep" else (),
            now=services.clock.now(),
        )
        return user.id


def form_token(page: str) -> str:
    match = CSRF_FIELD.search(page)
    assert match, "the sign-in page has no CSRF field"
    return match.group(1)


async def sign_in(http: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    page = await http.get("/console/login")
    assert page.status_code == 200, page.text
    return await http.post(
        "/console/login",
        data={"username": username, "password": password, "csrf": form_token(page.text), "next": "/console"},
    )


class Rep:
    """One person's browser: its own cookie jar, signed in, with the session's CSRF token."""

    def __init__(self, http: httpx.AsyncClient, user_id: int) -> None:
        self.http = http
        self.user_id = user_id
        self.csrf = ""

    async def start(self, username: str) -> Rep:
        response = await sign_in(self.http, username)
        assert response.status_code == 303, response.text
        me = await self.http.get("/console/api/me")
        assert me.status_code == 200, me.text
        self.csrf = me.json()["csrf"]
        return self

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.get(path, **kwargs)

    async def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return await self.http.post(path, json=body or {}, headers={"X-CSRF-Token": self.csrf})
