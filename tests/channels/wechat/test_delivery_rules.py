"""WeChat's delivery rules: the per-account send rate, 5 messages per client message in 48 h, templates by kind."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bots.wechat.channel import WeChatChannel
from bots.wechat.settings import WeChatTemplate
from bots.wechat.token import MemoryStateStore
from bots.wechat.window import KEEP, ReplyWindow
from core.channel import Throttled, WindowClosed
from core.channel_state import ChannelStateStore
from core.clock import ManualClock
from core.db.models import Conversation, OutboxMessage, Ticket, User
from core.messages import ConversationRef, InboundMessage, MessageKind, MessageType, OutboundMessage
from handlers.services import Services
from handlers.ticket_lookup import show_ticket
from tests.channels.wechat.conftest import WeChatFactory, WeChatServer, make_account
from tests.channels.wechat.fake_api import FakeWeChatAPI

REF = ConversationRef(channel="wechat", external_user_id="oKefuTestOpenId0000000000001")


def client_message(msg_id: str, *, event: str | None = None) -> InboundMessage:
    if event is not None:
        return InboundMessage(REF, msg_id, type=MessageType.EVENT, payload={"event": event})
    return InboundMessage(REF, msg_id, text="你好")


def channel_on(fake_api: FakeWeChatAPI, clock: ManualClock, **overrides: object) -> WeChatChannel:
    return WeChatChannel(make_account(fake_api, **overrides), MemoryStateStore(clock))


# ------------------------------------------------------------ rate limit


async def test_sends_beyond_the_accounts_rate_are_throttled_on_the_clock(fake_api: FakeWeChatAPI) -> None:
    clock = ManualClock()
    channel = channel_on(fake_api, clock, send_rate_per_second=2)
    await channel.send(REF, OutboundMessage("一"))
    await channel.send(REF, OutboundMessage("二"))
    with pytest.raises(Throttled) as caught:
        await channel.send(REF, OutboundMessage("三"))
    assert caught.value.retry_after == pytest.approx(1.0)
    assert fake_api.sent_texts() == ["一", "二"]
    clock.advance(timedelta(milliseconds=400))
    with pytest.raises(Throttled) as caught:
        await channel.send(REF, OutboundMessage("三"))
    assert caught.value.retry_after == pytest.approx(0.6)
    clock.advance(timedelta(milliseconds=600))
    await channel.send(REF, OutboundMessage("三"))
    assert fake_api.sent_texts() == ["一", "二", "三"]


async def test_accounts_have_separate_rates(fake_api: FakeWeChatAPI) -> None:
    clock = ManualClock()
    first = channel_on(fake_api, clock, send_rate_per_second=1)
    second = channel_on(fake_api, clock, name="shop", app_id="wx-shop", send_rate_per_second=1)
    await first.send(REF, OutboundMessage("a"))
    with pytest.raises(Throttled):
        await first.send(REF, OutboundMessage("b"))
    await second.send(REF, OutboundMessage("c"))
    assert fake_api.sent_texts() == ["a", "c"]


async def test_a_split_message_waits_until_all_its_pieces_fit(fake_api: FakeWeChatAPI) -> None:
    clock = ManualClock()
    channel = channel_on(fake_api, clock, send_rate_per_second=3)
    await channel.send(REF, OutboundMessage("一"))
    long = "。".join(["这是一句比较长的话"] * 150)
    with pytest.raises(Throttled):
        await channel.send(REF, OutboundMessage(long))
    # Nothing of it went out, so the retry cannot repeat a piece.
    assert fake_api.sent_texts() == ["一"]
    clock.advance(timedelta(seconds=1))
    await channel.send(REF, OutboundMessage(long))
    assert "".join(fake_api.sent_texts()[1:]) == long


async def test_a_throttled_row_waits_in_the_outbox_without_using_an_attempt(
    make_wechat: WeChatFactory, fake_api: FakeWeChatAPI, services: Services, clock: ManualClock
) -> None:
    wechat = await make_wechat(passive_budget_seconds=0.0001, send_rate_per_second=1)
    await wechat.say("你好")
    await wechat.webhook.drain()
    await wechat.say("我要投诉")
    await wechat.webhook.drain()
    assert len(fake_api.sends()) == 1
    async with services.db.transaction() as session:
        rows = (await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars().all()
        assert [r.status for r in rows] == ["sent", "pending"]
        assert rows[1].attempts == 0 and "rate limit" in (rows[1].last_error or "")
    clock.advance(timedelta(seconds=1))
    await services.dispatcher.deliver_due()
    assert await wechat.outbox_statuses() == ["sent", "sent"]
    assert len(fake_api.sends()) == 2


# ------------------------------------------------------------ 5 messages per client message, 48 hours


async def test_five_messages_per_client_message_then_parked(fake_api: FakeWeChatAPI) -> None:
    clock = ManualClock()
    channel = channel_on(fake_api, clock)
    await channel.window.opened(client_message("m1"))
    for i in range(5):
        await channel.send(REF, OutboundMessage(f"第{i}条"))
    with pytest.raises(WindowClosed):
        await channel.send(REF, OutboundMessage("第6条"))
    assert len(fake_api.sends()) == 5
    # WeChat's retry of the same message opens nothing new.
    await channel.window.opened(client_message("m1"))
    with pytest.raises(WindowClosed):
        await channel.send(REF, OutboundMessage("第6条"))
    # A follow counts as the client writing; an unfollow does not.
    await channel.window.opened(client_message("e1", event="unsubscribe"))
    with pytest.raises(WindowClosed):
        await channel.send(REF, OutboundMessage("第6条"))
    await channel.window.opened(client_message("e2", event="subscribe"))
    await channel.send(REF, OutboundMessage("第6条"))
    assert len(fake_api.sends()) == 6


async def test_pieces_of_a_long_message_count_and_the_rest_goes_as_a_template(fake_api: FakeWeChatAPI) -> None:
    clock = ManualClock()
    template = WeChatTemplate(template_id="TPL-D")
    channel = channel_on(fake_api, clock, templates={"default": template})
    await channel.window.opened(client_message("m1"))
    for i in range(4):
        await channel.send(REF, OutboundMessage(f"第{i}条"))
    long = "。".join(["这是一句比较长的话"] * 150)
    await channel.send(REF, OutboundMessage(long))
    # One piece fitted in the window; what did not went as one template message.
    assert len(fake_api.sends()) == 5
    [sent] = fake_api.template_sends()
    assert sent.body is not None and sent.body["template_id"] == "TPL-D"


async def test_after_48_hours_nothing_is_sent_until_the_client_writes(fake_api: FakeWeChatAPI) -> None:
    clock = ManualClock()
    channel = channel_on(fake_api, clock)
    await channel.window.opened(client_message("m1"))
    clock.advance(timedelta(hours=47, minutes=59))
    await channel.send(REF, OutboundMessage("还在窗口内"))
    clock.advance(timedelta(minutes=1))
    with pytest.raises(WindowClosed):
        await channel.send(REF, OutboundMessage("窗口已关"))
    assert fake_api.sent_texts() == ["还在窗口内"]
    await channel.window.opened(client_message("m2"))
    await channel.send(REF, OutboundMessage("窗口已关"))
    assert fake_api.sent_texts() == ["还在窗口内", "窗口已关"]


async def test_a_client_without_a_record_is_left_to_wechat(fake_api: FakeWeChatAPI) -> None:
    channel = channel_on(fake_api, ManualClock())
    for i in range(7):
        await channel.send(REF, OutboundMessage(str(i)))
    assert len(fake_api.sends()) == 7
    fake_api.failures.append(45047)
    with pytest.raises(WindowClosed):
        await channel.send(REF, OutboundMessage("x"))


async def _rep(services: Services) -> int:
    async with services.db.transaction() as session:
        user = User(username="li", display_name="小李", role="rep", created_at=services.clock.now())
        session.add(user)
        await session.flush()
        return user.id


async def _conversation(services: Services) -> int:
    async with services.db.transaction() as session:
        return (await session.execute(select(Conversation.id))).scalar_one()


async def _handed_to_a_rep(wechat: WeChatServer, services: Services) -> tuple[int, int]:
    """The client asks for a person and a rep claims the conversation: (conversation id, rep's user id)."""
    await wechat.say("人工")
    await wechat.webhook.drain()
    conversation_id, rep = await _conversation(services), await _rep(services)
    await services.engine.claim(conversation_id, rep)
    return conversation_id, rep


async def test_sixth_message_after_one_client_message_waits_for_the_next_one(
    make_wechat: WeChatFactory, fake_api: FakeWeChatAPI, services: Services, clock: ManualClock
) -> None:
    wechat = await make_wechat(passive_budget_seconds=0.0001)
    conversation_id, rep = await _handed_to_a_rep(wechat, services)
    for i in range(3):
        await services.engine.rep_reply(conversation_id, rep, f"回复{i}")
    # The handoff notice, the claim notice and three replies: five for one client message.
    assert len(fake_api.sends()) == 5
    await services.engine.rep_reply(conversation_id, rep, "第六条")
    assert len(fake_api.sends()) == 5
    assert (await wechat.outbox_statuses())[-1] == "window_closed"
    await wechat.say("好的")
    await wechat.webhook.drain()
    assert "window_closed" not in await wechat.outbox_statuses()
    assert fake_api.sent_texts()[5] == "第六条"
    # 48 hours after the client's last message the window is closed whatever the count.
    clock.advance(timedelta(hours=48))
    await services.engine.rep_reply(conversation_id, rep, "两天后")
    assert "两天后" not in fake_api.sent_texts()
    assert (await wechat.outbox_statuses())[-1] == "window_closed"


# ------------------------------------------------------------ templates by kind


async def test_template_by_kind_else_default_else_parked(fake_api: FakeWeChatAPI) -> None:
    templates = {
        "satisfaction": WeChatTemplate(template_id="TPL-S"),
        "default": WeChatTemplate(template_id="TPL-D"),
    }
    channel = channel_on(fake_api, ManualClock(), templates=templates)
    for kind in (MessageKind.SATISFACTION, MessageKind.RESOLUTION, MessageKind.DEFAULT):
        fake_api.failures.append(45015)
        await channel.send(REF, OutboundMessage("请打分", kind=kind.value))
    assert [c.body and c.body["template_id"] for c in fake_api.template_sends()] == ["TPL-S", "TPL-D", "TPL-D"]
    only_resolution = channel_on(fake_api, ManualClock(), templates={"resolution": WeChatTemplate(template_id="R")})
    fake_api.failures.append(45015)
    with pytest.raises(WindowClosed):
        await only_resolution.send(REF, OutboundMessage("请打分", kind=MessageKind.SATISFACTION.value))
    assert len(fake_api.template_sends()) == 3


async def _kinds(services: Services) -> list[tuple[str, str]]:
    async with services.db.transaction() as session:
        rows = (await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars().all()
        return [(r.payload.get("kind", "default"), r.status) for r in rows]


async def test_resolution_satisfaction_and_rep_reply_each_get_their_template(
    make_wechat: WeChatFactory, fake_api: FakeWeChatAPI, services: Services, clock: ManualClock
) -> None:
    templates = {
        "resolution": WeChatTemplate(template_id="TPL-RESOLVED", remark="回复即可继续"),
        "satisfaction": WeChatTemplate(template_id="TPL-SCORE"),
    }
    wechat: WeChatServer = await make_wechat(templates=templates)
    assert await wechat.say("人工") is not None
    conversation_id, rep = await _conversation(services), await _rep(services)
    await services.engine.claim(conversation_id, rep)
    # The webhook's own background delivery may hold the claim notice's row when the claim tries to send it.
    await wechat.webhook.drain()
    assert len(fake_api.sends()) == 1
    fake_api.failures.append(45015)
    await services.engine.resolve(conversation_id, "已为您补充投放 1 万次曝光", actor=f"user:{rep}")
    [resolved] = fake_api.template_sends()
    assert resolved.body is not None and resolved.body["template_id"] == "TPL-RESOLVED"
    assert "已为您补充投放" in str(resolved.body["data"])
    clock.advance(timedelta(minutes=31))
    fake_api.failures.append(45015)
    await services.followups.run_due()
    assert [c.body and c.body["template_id"] for c in fake_api.template_sends()] == ["TPL-RESOLVED", "TPL-SCORE"]
    # A rep's reply has no template of its own and there is no default one: it waits for the client.
    # (Replying claims the conversation again, so its notice is refused and parked too.)
    fake_api.failures.extend([45015, 45015])
    await services.engine.rep_reply(conversation_id, rep, "还有问题吗？")
    assert len(fake_api.template_sends()) == 2
    kinds = await _kinds(services)
    assert ("resolution", "sent") in kinds and ("satisfaction", "sent") in kinds
    assert [status for kind, status in kinds if kind == "rep_reply"] == ["window_closed"]


async def test_the_ticket_history_shows_parked_replies(
    make_wechat: WeChatFactory, fake_api: FakeWeChatAPI, services: Services
) -> None:
    wechat = await make_wechat(passive_budget_seconds=0.0001)
    conversation_id, rep = await _handed_to_a_rep(wechat, services)
    fake_api.failures.append(45015)
    await services.engine.rep_reply(conversation_id, rep, "请提供截图")
    async with services.db.transaction() as session:
        number = (await session.execute(select(Ticket.number))).scalar_one()
    shown = await show_ticket(services, number)
    [parked] = [m for m in shown["messages"] if m["text"] == "请提供截图"]
    assert parked["delivery"] == "window_closed" and "45015" in parked["error"]
    assert parked["author_user_id"] == rep
    assert shown["messages"][0]["direction"] == "in" and "delivery" not in shown["messages"][0]
    await wechat.say("好的")
    await wechat.webhook.drain()
    shown = await show_ticket(services, number)
    [delivered] = [m for m in shown["messages"] if m["text"] == "请提供截图"]
    assert delivered["delivery"] == "sent" and delivered["error"] is None


async def test_the_window_opens_with_the_turns_transaction(services: Services, clock: ManualClock) -> None:
    """On the database store the window is written in the caller's transaction: rolled back with it, kept with it."""
    window = ReplyWindow(ChannelStateStore(services.db, clock), "wechat:wx-test")
    with pytest.raises(RuntimeError):
        async with services.db.transaction() as session:
            await window.opened_in(session, client_message("m1"))
            raise RuntimeError("the turn failed")
    assert await window.remaining(REF.account, REF.external_user_id) is None
    async with services.db.transaction() as session:
        await window.opened_in(session, client_message("m1"))
    assert await window.remaining(REF.account, REF.external_user_id) == 5
    await window.used(REF.account, REF.external_user_id, 5)
    # A retry of the same message opens nothing new; an unfollow opens nothing; a new message does.
    for message, left in ((client_message("m1"), 0), (client_message("e1", event="unsubscribe"), 0)):
        async with services.db.transaction() as session:
            await window.opened_in(session, message)
        assert await window.remaining(REF.account, REF.external_user_id) == left
    async with services.db.transaction() as session:
        await window.opened_in(session, client_message("m2"))
    assert await window.remaining(REF.account, REF.external_user_id) == 5
    clock.advance(timedelta(hours=48))
    assert await window.remaining(REF.account, REF.external_user_id) == 0
    # A record kept past its expiry counts as none: the same message id opens a new window then.
    clock.advance(KEEP)
    async with services.db.transaction() as session:
        await window.opened_in(session, client_message("m2"))
    assert await window.remaining(REF.account, REF.external_user_id) == 5
