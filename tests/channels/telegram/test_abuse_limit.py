"""A Telegram sender over the message limit is asked to slow down; those messages never reach the dialogue."""

from __future__ import annotations

from core.inbound_limits import InboundLimits
from core.settings import LimitSettings
from tests.channels.telegram.conftest import TelegramClient


async def test_a_flooding_sender_is_asked_to_slow_down_and_not_processed(telegram: TelegramClient) -> None:
    telegram.webhook.receiver.limits = InboundLimits(LimitSettings(messages_per_minute=2))
    replies = [await telegram.say(f"第{n}条") for n in range(4)]
    assert not any(r.startswith("您发送得太快了") for r in replies[:2]), replies
    assert all(r.startswith("您发送得太快了") for r in replies[2:]), replies
    inbound, _ = await telegram.counts()
    assert inbound == 2
