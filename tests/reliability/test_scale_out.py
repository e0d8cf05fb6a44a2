"""Two web and two worker processes on PostgreSQL and Redis under mixed WeChat, Telegram and web-chat load."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from core.db.models import Message, OutboxMessage, Ticket
from core.db.session import Database
from core.outbox import IN_RESPONSE
from handlers.console.users import create_user
from tests.channels.telegram.fake_api import TOKEN as BOT_TOKEN
from tests.channels.telegram.fake_api import FakeBotAPI
from tests.channels.wechat.fake_api import FakeWeChatAPI
from tests.console.helpers import PASSWORD, form_token
from tests.reliability.procs import GRACEFUL, KefuProcess, eventually
from tests.reliability.test_crash import APP_ID, TOKEN, Follower

SECRET = "scale-out-secret"
_IDS = itertools.count(1)


@pytest.fixture
def apis() -> Iterator[tuple[FakeWeChatAPI, FakeBotAPI]]:
    wechat, telegram = FakeWeChatAPI(), FakeBotAPI()
    wechat.start()
    telegram.start()
    yield wechat, telegram
    wechat.stop()
    telegram.stop()


class Watcher:
    """A supervisor's console on one web process, reading its live stream."""

    def __init__(self, base: str) -> None:
        self.http = httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(10, read=None))
        self.events: list[dict[str, Any]] = []
        self.connected = asyncio.Event()

    async def sign_in(self, username: str) -> None:
        page = await self.http.get("/console/login")
        response = await self.http.post(
            "/console/login",
            data={"username": username, "password": PASSWORD, "csrf": form_token(page.text), "next": "/console"},
        )
        assert response.status_code == 303, response.text

    async def watch(self) -> None:
        async with self.http.stream("GET", "/console/api/events") as stream:
            assert stream.status_code == 200
            self.connected.set()
            async for line in stream.aiter_lines():
                if line.startswith("data: "):
                    self.events.append(json.loads(line[6:]))

    def escalated(self) -> set[str]:
        return {e["ticket_number"] for e in self.events if e.get("kind") == "escalated" and e.get("ticket_number")}


async def _telegram_client(base: str, user_id: int, texts: list[str]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        for text in texts:
            update = {
                "update_id": next(_IDS),
                "message": {
                    "message_id": next(_IDS),
                    "date": 1,
                    "chat": {"id": user_id, "type": "private"},
                    "from": {"id": user_id, "is_bot": False, "first_name": f"客户{user_id}"},
                    "text": text,
                },
            }
            response = await http.post("/telegram", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
            assert response.status_code == 200, response.text


async def _web_client(base: str, texts: list[str]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        assert (await http.get("/api/chat/config")).status_code == 200
        for text in texts:
            response = await http.post("/api/chat/messages", json={"client_msg_id": uuid.uuid4().hex, "text": text})
            assert response.status_code == 200, response.text


@pytest.fixture
async def cluster(
    db_url: str, redis_url: str, tmp_path: Path, apis: tuple[FakeWeChatAPI, FakeBotAPI]
) -> AsyncIterator[list[KefuProcess]]:
    wechat, telegram = apis
    env = {
        "KEFU_DATABASE_URL": db_url,
        "KEFU_ENV": "test",
        "KEFU_MEDIA_DIR": str(tmp_path / "media"),
        "KEFU_OUTBOX_POLL_SECONDS": "0.2",
        "KEFU_REDIS_URL": redis_url,
        "KEFU_REDIS_PREFIX": f"kefu-scale-{uuid.uuid4().hex[:8]}",
        "KEFU_WECHAT_TOKEN": TOKEN,
        "KEFU_WECHAT_APP_ID": APP_ID,
        "KEFU_WECHAT_APP_SECRET": "app-secret",
        "KEFU_WECHAT_API_BASE": wechat.base,
        "KEFU_TELEGRAM_TOKEN": BOT_TOKEN,
        "KEFU_TELEGRAM_SECRET": SECRET,
        "KEFU_TELEGRAM_API_BASE": telegram.base,
        "KEFU_CONSOLE_COOKIE_SECURE": "false",
        "KEFU_LOG_LEVEL": "WARNING",
    }
    # The first process migrates and seeds alone; the others start once it is ready.
    processes = [KefuProcess(env, tmp_path / f"{role}{i}.log", role=role) for role in ("web", "worker") for i in (1, 2)]
    processes[0].start()
    await processes[0].wait_ready()
    for process in processes[1:]:
        process.start()
    for process in processes[1:]:
        await process.wait_ready()
    try:
        yield processes
    finally:
        for process in processes:
            if process.running():
                assert process.terminate() in GRACEFUL


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_two_web_and_two_worker_processes_send_once_and_share_live_events(
    db_url: str, cluster: list[KefuProcess], apis: tuple[FakeWeChatAPI, FakeBotAPI]
) -> None:
    wechat_api, telegram_api = apis
    web1, web2 = cluster[0], cluster[1]
    db = Database(db_url)
    try:
        async with db.transaction() as session:
            await create_user(
                session, username="sup", display_name="主管", role="supervisor", password=PASSWORD, now=_now()
            )
        watchers = [Watcher(web1.url), Watcher(web2.url)]
        for watcher in watchers:
            await watcher.sign_in("sup")
        streams = [asyncio.create_task(w.watch()) for w in watchers]
        await asyncio.wait_for(asyncio.gather(*(w.connected.wait() for w in watchers)), 10)

        texts = ("你好", "人工", "我的广告被拒了", "在吗")
        followers = [Follower(web1 if n % 2 else web2, f"oScale{n:03d}", 70_000 * (n + 1), texts) for n in range(6)]
        load = [f.run() for f in followers]
        load += [_telegram_client((web1 if n % 2 else web2).url, 5000 + n, list(texts)) for n in range(6)]
        load += [_web_client((web2 if n % 2 else web1).url, list(texts)) for n in range(6)]
        await asyncio.gather(*load)

        async def settled() -> bool:
            async with db.transaction() as session:
                waiting = await session.scalar(
                    select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status != "sent")
                )
            return waiting == 0

        await eventually(settled, 60)
        async with db.transaction() as session:
            rows = list((await session.execute(select(OutboxMessage))).scalars())
            inbound = Counter(
                (await session.execute(select(Message.external_id).where(Message.direction == "in"))).scalars()
            )
            handoffs = set((await session.execute(select(Ticket.number).where(Ticket.handoff.is_(True)))).scalars())

        assert len(inbound) == 18 * len(texts) and set(inbound.values()) == {1}, "every message stored once"
        # No duplicate sends: each customer-service message and each Telegram message once per outbox row.
        expected_wechat = Counter(
            (r.ref["external_user_id"], r.payload["text"])
            for r in rows
            if r.channel == "wechat" and r.external_id != IN_RESPONSE
        )
        got_wechat = Counter((c.body["touser"], c.body["text"]["content"]) for c in wechat_api.sends() if c.body)
        assert got_wechat == expected_wechat
        expected_telegram = Counter(
            (r.ref["external_chat_id"], r.payload["text"]) for r in rows if r.channel == "telegram"
        )
        got_telegram = Counter((str(c.data["chat_id"]), c.data["text"]) for c in telegram_api.sends())
        assert got_telegram == expected_telegram
        assert len(handoffs) == 18, "every client asked for a person"

        async def both_saw_everything() -> bool:
            return all(w.escalated() >= handoffs for w in watchers)

        # Each web process's console sees the escalations that happened in the other one too.
        await eventually(both_saw_everything, 10)
        for stream in streams:
            stream.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
        for watcher in watchers:
            await watcher.http.aclose()
    finally:
        await db.dispose()


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
