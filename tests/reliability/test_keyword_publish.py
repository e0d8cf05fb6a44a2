"""A version published in one kefu process is used by another process on the same PostgreSQL within 5 seconds."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from core.db.session import Database
from handlers.console.users import create_user
from tests.console.helpers import PASSWORD, form_token
from tests.reliability.procs import GRACEFUL, KefuProcess


async def _admin(base: str) -> tuple[httpx.AsyncClient, str]:
    http = httpx.AsyncClient(base_url=base, timeout=10)
    page = await http.get("/console/login")
    response = await http.post(
        "/console/login",
        data={"username": "adm", "password": PASSWORD, "csrf": form_token(page.text), "next": "/console"},
    )
    assert response.status_code == 303, response.text
    return http, (await http.get("/console/api/me")).json()["csrf"]


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_publish_reaches_the_other_process_within_5_seconds(db_url: str, tmp_path: Path) -> None:
    env = {
        "KEFU_DATABASE_URL": db_url,
        "KEFU_ENV": "test",
        "KEFU_MEDIA_DIR": str(tmp_path / "media"),
        "KEFU_CONSOLE_COOKIE_SECURE": "false",
        "KEFU_LOG_LEVEL": "WARNING",
    }
    first, second = KefuProcess(env, tmp_path / "one.log"), KefuProcess(env, tmp_path / "two.log")
    first.start()
    await first.wait_ready()
    second.start()
    await second.wait_ready()
    db = Database(db_url)
    try:
        async with db.transaction() as session:
            await create_user(
                session, username="adm", display_name="管理员", role="admin", password=PASSWORD, now=datetime.now(UTC)
            )
        one, csrf_one = await _admin(first.url)
        two, csrf_two = await _admin(second.url)
        # No complaint in force yet, rules or model ("咕咕鸡又来了" the learned model calls one on its own).
        sentence = {"text": "咕咕鸡是什么"}
        tried = (await two.post("/console/api/keywords/try", json=sentence, headers={"X-CSRF-Token": csrf_two})).json()
        assert tried["live"]["version"] == 1 and tried["live"]["bucket"] != "complaint"

        rule = {"phrase": "咕咕鸡", "category": "complaint", "weight": 3.0}
        headers = {"X-CSRF-Token": csrf_one}
        assert (await one.post("/console/api/keywords/rules", json=rule, headers=headers)).status_code == 201
        published = await one.post("/console/api/keywords/publish", json={"note": "new cue"}, headers=headers)
        assert published.status_code == 201 and published.json() == {"version": 2}
        started = time.monotonic()
        while True:
            tried = (
                await two.post("/console/api/keywords/try", json=sentence, headers={"X-CSRF-Token": csrf_two})
            ).json()
            if tried["live"]["version"] == 2:
                break
            assert time.monotonic() - started < 5, "the other process still classifies with version 1"
            await asyncio.sleep(0.05)
        took = time.monotonic() - started
        assert tried["live"]["bucket"] == "complaint"
        assert took < 5
        print(f"version 2 in force in the other process after {took:.2f} s")
        await one.aclose()
        await two.aclose()
    finally:
        await db.dispose()
        for process in (first, second):
            if process.running():
                assert process.terminate() in GRACEFUL
