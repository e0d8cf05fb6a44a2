"""The Official Account webhook under abuse: a flooding sender is slowed down, a captured signed URL not replayed."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest

from bots.wechat.redis_store import RedisStateStore
from bots.wechat.routes import REPLAY_PREFIX
from core.channel_state import ChannelStateStore
from core.inbound_limits import InboundLimits
from core.settings import LimitSettings
from handlers.services import Services
from tests.channels.wechat.conftest import WeChatServer, sign


async def test_a_sender_over_the_message_limit_is_asked_to_slow_down_and_not_processed(wechat: WeChatServer) -> None:
    wechat.webhook.limits = InboundLimits(LimitSettings(messages_per_minute=3))
    replies = [await wechat.say(f"第{n}条消息") for n in range(5)]
    assert all(r and "太快" not in r for r in replies[:3]), replies
    assert all(r and r.startswith("您发送得太快了") for r in replies[3:]), replies
    inbound, _ = await wechat.counts()
    assert inbound == 3


async def post_signed(wechat: WeChatServer, body: str, timestamp: str, nonce: str) -> httpx.Response:
    """POST `body` under one fixed signed query, as someone who captured that URL would."""
    token = wechat.account.token.get_secret_value()
    params = {"signature": sign(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
    return await wechat.http.post(wechat.path, params=params, content=body, headers={"Content-Type": "text/xml"})


@pytest.mark.parametrize("store", ["database", "redis"])
async def test_a_signed_query_reused_with_another_body_is_refused_but_a_retry_passes(
    wechat: WeChatServer, services: Services, store: str, request: pytest.FixtureRequest
) -> None:
    if store == "redis":
        url = request.getfixturevalue("redis_url")
        wechat.webhook.replay = RedisStateStore.from_url(url, services.clock, prefix=f"kefu-test-{uuid.uuid4().hex}")
    else:
        wechat.webhook.replay = ChannelStateStore(services.db, services.clock)
    timestamp, nonce = str(wechat.now()), "n-replay-1"
    first = wechat.xml("text", {"Content": "你好"}, msg_id=wechat.next_id())
    assert (await post_signed(wechat, first, timestamp, nonce)).status_code == 200
    # WeChat retries the same message when it got no answer in time: the same query and body.
    assert (await post_signed(wechat, first, timestamp, nonce)).status_code == 200
    forged = wechat.xml("text", {"Content": "人工"}, msg_id=wechat.next_id())
    refused = await post_signed(wechat, forged, timestamp, nonce)
    assert refused.status_code == 403
    inbound, _ = await wechat.counts()
    assert inbound == 1
    # A new signed query (another nonce) is a new message as ever.
    assert (await post_signed(wechat, forged, timestamp, "n-replay-2")).status_code == 200


async def test_remembered_queries_are_forgotten_after_the_window(wechat: WeChatServer, services: Services) -> None:
    store = ChannelStateStore(services.db, services.clock)
    wechat.webhook.replay = store
    await post_signed(wechat, wechat.xml("text", {"Content": "你好"}, msg_id=wechat.next_id()), str(wechat.now()), "n1")
    services.clock.advance(timedelta(seconds=2 * wechat.account.max_clock_skew_seconds + 1))
    assert await store.forget_expired(REPLAY_PREFIX) == 1
