"""kill -9 at random moments while WeChat followers write, with WeChat's retries: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import xmltodict
from sqlalchemy import func, select

from core.db.models import Message, OutboxMessage
from core.db.session import Database
from core.outbox import IN_RESPONSE
from tests.channels.wechat.fake_api import FakeWeChatAPI
from tests.reliability.procs import GRACEFUL, KefuProcess, eventually

TOKEN = "crash-test-token"
APP_ID = "wxcrash0000000001"
OA_ID = "gh_crash_test"
SOAK = os.environ.get("KEFU_SOAK") == "1"
FOLLOWERS = 12 if SOAK else 6
MESSAGES = 10 if SOAK else 5
KILLS = 8 if SOAK else 3
# What followers write: a complaint conversation, then more detail.
SCRIPT = (
    "你好",
    "我要投诉，你们投放的广告效果太差",
    "双十二开屏广告",
    "跳过",
    "跳过",
    "13800138000",
    "1",
    "还有补充",
    "在吗",
    "谢谢",
)


@pytest.fixture
def fake_api() -> Iterator[FakeWeChatAPI]:
    api = FakeWeChatAPI()
    api.start()
    yield api
    api.stop()


def _signed_params(nonce: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    signature = hashlib.sha1("".join(sorted([TOKEN, timestamp, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce}


def _xml(openid: str, text: str, msg_id: int) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{OA_ID}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )


class Follower:
    """One WeChat user; posts like WeChat's servers do: 5 s to answer, then the same message again."""

    def __init__(
        self,
        server: KefuProcess,
        openid: str,
        first_id: int,
        script: tuple[str, ...] = SCRIPT[:MESSAGES],
        pause: float = 0.05,
    ) -> None:
        self.server = server
        self.pause = pause
        self.script = script
        self.openid = openid
        self.first_id = first_id
        self.passive: dict[int, str | None] = {}
        self.attempts = 0

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            for i, text in enumerate(self.script):
                msg_id = self.first_id + i
                self.passive[msg_id] = await self._deliver(client, _xml(self.openid, text, msg_id))
                # A person takes a moment before writing again.
                await asyncio.sleep(self.pause)

    async def _deliver(self, client: httpx.AsyncClient, body: str) -> str | None:
        for attempt in range(200):
            self.attempts += 1
            try:
                response = await client.post(
                    # Each push carries its own nonce, as WeChat's do: a signed query is never reused for another body.
                    f"{self.server.url}/wechat",
                    params=_signed_params(f"n{self.openid}-{zlib.crc32(body.encode())}-{attempt}"),
                    content=body,
                )
            except httpx.HTTPError:
                # No answer (the server died or is restarting): WeChat tries again.
                await asyncio.sleep(0.2)
                continue
            if response.status_code >= 500:
                # The server could not answer (its database was away): WeChat takes that as no answer.
                await asyncio.sleep(0.2)
                continue
            assert response.status_code == 200, response.text
            if response.text == "success":
                return None
            return str(xmltodict.parse(response.text)["xml"]["Content"])
        raise AssertionError(f"{self.openid}: no answer after 200 attempts")


async def test_kill_9_at_random_moments_loses_nothing_and_doubles_nothing(
    db_url: str, tmp_path: Path, fake_api: FakeWeChatAPI
) -> None:
    env = {
        "KEFU_DATABASE_URL": db_url,
        "KEFU_ENV": "test",
        "KEFU_MEDIA_DIR": str(tmp_path / "media"),
        "KEFU_OUTBOX_POLL_SECONDS": "0.2",
        "KEFU_WECHAT_TOKEN": TOKEN,
        "KEFU_WECHAT_APP_ID": APP_ID,
        "KEFU_WECHAT_APP_SECRET": "app-secret",
        "KEFU_WECHAT_API_BASE": fake_api.base,
        "KEFU_LOG_LEVEL": "WARNING",
    }
    server = KefuProcess(env, tmp_path / "kefu.log")
    server.start()
    await server.wait_ready()
    followers = [Follower(server, f"oCrash{n:04d}", 10_000 * (n + 1)) for n in range(FOLLOWERS)]
    rng = random.Random(9)

    async def killer() -> None:
        for _ in range(KILLS):
            # Strike while followers are writing: after some more of their messages got answered.
            seen = sum(len(f.passive) for f in followers)

            async def progressed(seen: int = seen) -> bool:
                return sum(len(f.passive) for f in followers) >= min(seen + 2, FOLLOWERS * MESSAGES)

            await eventually(progressed, 60)
            if sum(len(f.passive) for f in followers) == FOLLOWERS * MESSAGES:
                return
            await asyncio.sleep(rng.uniform(0.0, 0.3))
            server.kill()
            await asyncio.sleep(rng.uniform(0.0, 0.5))
            server.start()
            await server.wait_ready()

    db = Database(db_url)
    try:
        await asyncio.gather(killer(), *(f.run() for f in followers))

        async def settled() -> bool:
            async with db.transaction() as session:
                waiting = await session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.status.in_(("pending", "sending")))
                )
            return waiting == 0

        # Held replies whose answer was lost wait out their hold, then go as customer-service messages.
        await eventually(settled, 60)
        assert server.terminate() in GRACEFUL
        async with db.transaction() as session:
            inbound = Counter(
                (await session.execute(select(Message.external_id).where(Message.direction == "in"))).scalars()
            )
            rows = list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())
            ids_of = dict((await session.execute(select(Message.id, Message.external_id))).all())
    finally:
        if server.running():
            server.kill()
        await db.dispose()

    sent_ids = {str(m) for f in followers for m in f.passive}
    assert set(inbound) == sent_ids, "every message stored"
    assert set(inbound.values()) == {1}, "and stored once"
    assert {r.status for r in rows} == {"sent"}, [(r.status, r.last_error) for r in rows if r.status != "sent"]
    for follower in followers:
        for msg_id, passive in follower.passive.items():
            answered = [r for r in rows if ids_of.get(r.in_reply_to) == str(msg_id) and r.external_id == IN_RESPONSE]
            expected = "\n".join(r.payload["text"] for r in answered) or None
            assert passive == expected, f"{follower.openid} {msg_id}: passive reply {passive!r}, rows {expected!r}"
        by_custom = Counter(
            r.payload["text"]
            for r in rows
            if r.external_id != IN_RESPONSE and r.ref["external_user_id"] == follower.openid
        )
        received = Counter(
            c.body["text"]["content"] for c in fake_api.sends() if c.body and c.body["touser"] == follower.openid
        )
        assert received == by_custom, f"{follower.openid}: customer-service messages sent once each"
    retries = sum(f.attempts for f in followers) - FOLLOWERS * MESSAGES
    assert retries > 0, "the kills interrupted deliveries"
    print(f"{FOLLOWERS * MESSAGES} messages, {retries} retries, {KILLS} kills, {len(rows)} replies")
