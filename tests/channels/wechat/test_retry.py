"""WeChat's retries after a lost answer: the retry carries the replies its first delivery was to carry, once."""

from __future__ import annotations

from datetime import timedelta

from bots.wechat.convert import parse, to_inbound
from bots.wechat.passive import HOLD
from core.channel import Undelivered
from core.clock import ManualClock
from tests.channels.wechat.conftest import WeChatServer
from tests.channels.wechat.fake_api import FakeWeChatAPI


async def test_a_retry_after_a_crash_before_the_answer_carries_the_held_reply(
    wechat: WeChatServer, fake_api: FakeWeChatAPI, clock: ManualClock
) -> None:
    xml = wechat.xml("text", {"Content": "你好"}, msg_id=4242)
    # The first delivery's turn committed with its replies held for the response, then the process died.
    inbound = to_inbound(parse(xml), wechat.account.name)
    await wechat.services.engine.receive(inbound, Undelivered(hold=HOLD))
    assert await wechat.outbox_statuses() == ["pending"]
    retried = wechat.reply_text(await wechat.post(xml))
    assert retried is not None and "您好" in retried
    assert await wechat.outbox_statuses() == ["sent"]
    # The hold runs out: nothing is left for the customer-service API to send a second time.
    clock.advance(HOLD + timedelta(seconds=1))
    await wechat.services.dispatcher.deliver_due()
    assert fake_api.sends() == []
    assert await wechat.counts() == (1, 1)


async def test_a_retry_after_the_reply_went_out_as_a_customer_service_message_carries_nothing(
    wechat: WeChatServer, fake_api: FakeWeChatAPI, clock: ManualClock
) -> None:
    xml = wechat.xml("text", {"Content": "你好"}, msg_id=4343)
    inbound = to_inbound(parse(xml), wechat.account.name)
    await wechat.services.engine.receive(inbound, Undelivered(hold=HOLD))
    clock.advance(HOLD + timedelta(seconds=1))
    await wechat.services.dispatcher.deliver_due()
    assert len(fake_api.sends()) == 1
    assert wechat.reply_text(await wechat.post(xml)) is None
    assert len(fake_api.sends()) == 1 and await wechat.counts() == (1, 1)
