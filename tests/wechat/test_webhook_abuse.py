"""The Official Account webhook under abuse: a flooding sender is slowed down politely."""

from __future__ import annotations

from core.inbound_limits import InboundLimits
from core.settings import LimitSettings
from tests.wechat.conftest import WeChatServer


async def test_a_sender_over_the_message_limit_is_asked_to_slow_down_and_not_processed(wechat: WeChatServer) -> None:
    wechat.webhook.limits = InboundLimits(LimitSettings(messages_per_minute=3))
    replies = [await wechat.say(f"第{n}条消息") for n in range(5)]
    assert all(r and "太快" not in r for r in replies[:3]), replies
    assert all(r and r.startswith("您发送得太快了") for r in replies[3:]), replies
    inbound, _ = await wechat.counts()
    assert inbound == 3
