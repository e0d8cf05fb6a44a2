"""Faulty networks: 30 % of WeChat and Telegram calls fail, yet each reply goes out once, in order, or fails visibly."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from aiogram import Bot
from sqlalchemy import select

from bots.telegram.channel import TelegramChannel
from bots.telegram.ratelimit import RateLimiter
from bots.wechat.channel import WeChatChannel
from core.channel import Undelivered
from core.channel_state import ChannelStateStore
from core.clock import ManualClock
from core.db.models import OutboxMessage
from core.messages import ConversationRef, InboundMessage
from handlers.services import Services
from tests.channels.telegram.conftest import make_settings, manual_sleep
from tests.channels.telegram.fake_api import FakeBotAPI
from tests.channels.wechat.conftest import make_account
from tests.channels.wechat.fake_api import FakeWeChatAPI

FAULT_RATE = 0.3
CLIENTS_PER_CHANNEL = 12
# What clients write: each message gets a reply, some several lines long.
SCRIPT = ("你好", "你们的信息流广告效果太差了，我要投诉", "双十二开屏", "跳过")


def fault_plan(seed: int, faults: list[Any], length: int = 5000) -> list[Any]:
    """The i-th call to the fake gets the i-th entry: None (delivered) or one of `faults`."""
    rng = random.Random(seed)
    plan: list[Any] = [None] * length
    # Every block of ten calls has exactly three failures, so any stretch of the run sees the full rate.
    for block in range(0, length, 10):
        for i in rng.sample(range(block, block + 10), int(FAULT_RATE * 10)):
            plan[i] = rng.choice(faults)
    return plan


@pytest.fixture
def wechat_api() -> Iterator[FakeWeChatAPI]:
    # A "timeout" outlasts the client's wait; a call without a fault must not, even on a loaded machine: the fake
    # has accepted it, so a client that gave up would send it again and the reply would arrive twice.
    api = FakeWeChatAPI(slow_seconds=2.0)
    api.start()
    yield api
    api.stop()


@pytest.fixture
def telegram_api() -> Iterator[FakeBotAPI]:
    api = FakeBotAPI(retry_after=5)
    api.start()
    yield api
    api.stop()


@pytest.fixture
async def channels(
    services: Services, wechat_api: FakeWeChatAPI, telegram_api: FakeBotAPI
) -> AsyncIterator[tuple[FakeWeChatAPI, FakeBotAPI]]:
    clock = services.clock
    assert isinstance(clock, ManualClock)
    account = make_account(wechat_api, api_timeout_seconds=1.5)
    store = ChannelStateStore(services.db, clock)
    services.registry.register(WeChatChannel(account, store, media_dir=services.settings.media_dir))
    # The Telegram faults are answers (502, 429, 500), never silence: a long wait costs nothing here.
    bot: Bot = make_settings(telegram_api, api_timeout_seconds=15.0).bot()
    services.registry.register(TelegramChannel(bot, RateLimiter(clock), sleep=manual_sleep(clock)))
    yield wechat_api, telegram_api
    await bot.session.close()


def _inbound(channel: str, user: str, text: str) -> InboundMessage:
    chat = user if channel == "telegram" else None
    return InboundMessage(
        ref=ConversationRef(channel=channel, external_user_id=user, external_chat_id=chat),
        external_id=uuid.uuid4().hex,
        text=text,
    )


async def _rows(services: Services) -> list[OutboxMessage]:
    async with services.db.transaction() as session:
        return list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


def _delivered(calls: list[Any], plan: list[Any], recipient: Any, text: Any) -> dict[str, list[str]]:
    """Texts the fake accepted, per recipient, in the order it accepted them."""
    accepted: dict[str, list[str]] = defaultdict(list)
    for i, call in enumerate(calls):
        if plan[i] is None:
            accepted[str(recipient(call))].append(str(text(call)))
    return accepted


async def test_every_reply_is_delivered_once_in_order_through_faulty_apis(
    services: Services, clock: ManualClock, channels: tuple[FakeWeChatAPI, FakeBotAPI]
) -> None:
    wechat_api, telegram_api = channels
    wechat_plan = fault_plan(1, ["5xx", "timeout", -1])
    telegram_plan = fault_plan(2, [502, 429, 500])
    wechat_api.failures = list(wechat_plan)
    telegram_api.failures = list(telegram_plan)  # type: ignore[arg-type]
    clients = [("wechat", f"openid-{i}") for i in range(CLIENTS_PER_CHANNEL)]
    clients += [("telegram", str(1000 + i)) for i in range(CLIENTS_PER_CHANNEL)]
    # The replies pile up first (the network is down for the turns), then go out through the faults.
    for text in SCRIPT:
        for channel, user in clients:
            await services.engine.receive(_inbound(channel, user, text), Undelivered())
    for _ in range(200):
        await services.dispatcher.deliver_due()
        rows = await _rows(services)
        if all(r.status in ("sent", "failed") for r in rows):
            break
        clock.advance(timedelta(seconds=20))
    rows = await _rows(services)
    assert len(rows) >= len(SCRIPT) * len(clients)
    assert {r.status for r in rows} <= {"sent", "failed"}, [
        r.status for r in rows if r.status not in ("sent", "failed")
    ]
    for row in rows:
        if row.status == "failed":
            assert row.last_error, "a failed row says why"
    wechat = _delivered(
        [c for c in wechat_api.calls if c.path == "/cgi-bin/message/custom/send"],
        wechat_plan,
        lambda c: c.body["touser"],
        lambda c: c.body["text"]["content"],
    )
    telegram = _delivered(telegram_api.sends(), telegram_plan, lambda c: c.data["chat_id"], lambda c: c.data["text"])
    expected: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in rows:
        if row.status == "sent":
            expected[(row.channel, row.ref["external_user_id"])].append(row.payload["text"])
    for channel, user in clients:
        got = (wechat if channel == "wechat" else telegram).get(user, [])
        want = expected[(channel, user)]
        assert got == want, f"{channel} {user}: delivered {len(got)}, sent rows {len(want)}"
    calls = len(wechat_api.sends()) + len(telegram_api.sends())
    faults_hit = sum(1 for i in range(len(wechat_api.sends())) if wechat_plan[i] is not None)
    faults_hit += sum(1 for i in range(len(telegram_api.sends())) if telegram_plan[i] is not None)
    print(f"{len(rows)} replies, {calls} calls, {faults_hit} failed")
    assert faults_hit >= 0.25 * calls, "the faults really happened"
