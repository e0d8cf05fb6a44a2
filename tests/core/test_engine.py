"""The turn engine directly: message types, evidence, dedupe and serialization across two engines."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from core.business_hours import BusinessCalendar
from core.clock import ManualClock
from core.db.models import ChannelIdentity, Client, Conversation, Message, Ticket
from core.messages import Attachment, ConversationRef, InboundMessage, MessageType
from core.wiring import Core, build_core
from tests.support.fakes import FakeChannel, inbound


async def _count(core: Core, model: type, *where: object) -> int:
    async with core.db.transaction() as session:
        query = select(func.count()).select_from(model)
        for clause in where:
            query = query.where(clause)  # type: ignore[arg-type]
        return int((await session.execute(query)).scalar_one())


async def test_unknown_type_is_stored_and_answered_neutrally(core: Core) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    message = InboundMessage(
        ref=ConversationRef("fake", "u1"), external_id="x1", type=MessageType.UNKNOWN, payload={"raw": "<shake/>"}
    )
    result = await core.engine.receive(message)
    assert result.status == "accepted"
    assert "暂不支持该类型" in channel.sent[0][1]
    async with core.db.transaction() as session:
        stored = (await session.execute(select(Message).where(Message.direction == "in"))).scalar_one()
        assert stored.type == "unknown" and stored.payload == {"raw": "<shake/>"}
        assert (await session.execute(select(Conversation.state))).scalar_one() == "new"


async def test_screenshot_during_collection_becomes_ticket_evidence(core: Core) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    engine = core.engine
    await engine.receive(inbound("我要投诉，你们的广告投放一直没效果", "m1"))
    shot = InboundMessage(
        ref=ConversationRef("fake", "u1"),
        external_id="m2",
        type=MessageType.IMAGE,
        attachments=(Attachment(kind="image", url="http://127.0.0.1/pic.jpg", media_id="MEDIA1"),),
    )
    await engine.receive(shot)
    assert "作为证据" in channel.sent[-1][1]
    assert "哪个广告项目" in channel.sent[-1][1], "the pending question is asked again"
    for i, answer in enumerate(["双十一活动", "跳过", "跳过", "13800138000"], start=3):
        await engine.receive(inbound(answer, f"m{i}"))
    assert "附件：1 个" in channel.sent[-1][1]
    await engine.receive(inbound("1", "m9"))  # 1 = 确认提交
    async with core.db.transaction() as session:
        ticket = (await session.execute(select(Ticket))).scalar_one()
        assert ticket.details["evidence"][0]["media_id"] == "MEDIA1"
        assert ticket.details["evidence"][0]["message_id"] > 0


async def test_two_engines_on_one_database_serialize_a_conversation(core: Core, clock: ManualClock) -> None:
    """Two processes receive messages of one client at once: each stored once, turns never interleave."""
    channel = FakeChannel()
    core.registry.register(channel)
    other = build_core(core.settings, clock)
    other.registry.register(channel)
    try:
        messages = [inbound(f"消息 {i}", f"c{i}", user="same") for i in range(12)]
        results = await asyncio.gather(*[(core if i % 2 else other).engine.receive(m) for i, m in enumerate(messages)])
        again = await asyncio.gather(*[other.engine.receive(m) for m in messages[:4]])
    finally:
        await other.stop()
    assert all(r.status == "accepted" for r in results)
    assert all(r.status == "duplicate" for r in again)
    assert await _count(core, ChannelIdentity) == 1
    assert await _count(core, Client) == 1
    assert await _count(core, Conversation) == 1
    assert await _count(core, Message, Message.direction == "in") == 12
    async with core.db.transaction() as session:
        context = (await session.execute(select(Conversation.context))).scalar_one()
    # Every turn saw the previous one's state: the turn counter counted all twelve.
    assert context["turn"] == 12


async def test_unsubscribe_marks_the_identity_unreachable_and_a_new_message_reverses_it(core: Core) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    await core.engine.receive(inbound("你好", "m1"))
    left = InboundMessage(
        ref=ConversationRef("fake", "u1"),
        external_id="u1:1700000000:unsubscribe",
        type=MessageType.EVENT,
        payload={"event": "unsubscribe"},
    )
    result = await core.engine.receive(left)
    assert result.status == "accepted" and result.replies == []
    async with core.db.transaction() as session:
        assert (await session.execute(select(ChannelIdentity.reachable))).scalar_one() is False
    await core.engine.receive(inbound("我又回来了", "m2"))
    async with core.db.transaction() as session:
        assert (await session.execute(select(ChannelIdentity.reachable))).scalar_one() is True


async def test_replies_follow_the_language_the_client_writes_in(core: Core) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    ref = ConversationRef("fake", "en1")
    await core.engine.receive(
        InboundMessage(ref=ref, external_id="e1", text="Hi, when will the campaign report be ready?")
    )
    assert "Hello" in channel.sent[-1][1]
    # "ok" says nothing of the language, nor does a Chinese word: the conversation stays in English.
    await core.engine.receive(InboundMessage(ref=ref, external_id="e2", text="ok"))
    await core.engine.receive(InboundMessage(ref=ref, external_id="e2b", text="咨询"))
    async with core.db.transaction() as session:
        assert (await session.execute(select(Conversation.language))).scalar_one() == "en"
    # Writing in Chinese switches the replies back.
    sent = len(channel.sent)
    await core.engine.receive(InboundMessage(ref=ref, external_id="e3", text="算了，我还是说中文吧，报告什么时候好"))
    assert any("\u4e00" <= ch <= "\u9fff" for _, text in channel.sent[sent:] for ch in text)
    async with core.db.transaction() as session:
        assert (await session.execute(select(Conversation.language))).scalar_one() == "zh"


async def test_a_category_named_in_another_language_picks_it(core: Core) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    ref = ConversationRef("fake", "en2")
    await core.engine.receive(InboundMessage(ref=ref, external_id="c1", text="Hello there, I need some help please"))
    assert "Complaint" in channel.sent[-1][1]
    # Asked in English, answered with the category's Chinese name.
    await core.engine.receive(InboundMessage(ref=ref, external_id="c2", text="投诉"))
    async with core.db.transaction() as session:
        conversation = (await session.execute(select(Conversation))).scalar_one()
    assert (conversation.category, conversation.language) == ("complaint", "en")
    assert "投诉" not in str(conversation.context)


async def test_a_message_sent_seconds_after_the_description_goes_on_telling_it(core: Core, clock: ManualClock) -> None:
    """The engine tells the dialogue how long after his previous message the client wrote: a fragment sent before
    the question asked meanwhile can be read joins the description; one sent after reading it answers it."""
    channel = FakeChannel()
    core.registry.register(channel)
    for user, pause in (("quick", 3), ("slow", 30)):
        await core.engine.receive(inbound("我要投诉", f"{user}1", user=user))
        clock.advance(timedelta(seconds=20))
        await core.engine.receive(inbound("你们做的海报", f"{user}2", user=user))
        clock.advance(timedelta(seconds=pause))
        await core.engine.receive(inbound("logo印错了", f"{user}3", user=user))
    async with core.db.transaction() as session:
        quick, slow = (await session.execute(select(Conversation.slots).order_by(Conversation.id))).scalars().all()
    assert quick == {"description": "你们做的海报 logo印错了"}
    assert slow == {"description": "你们做的海报", "project": "logo印错了"}


async def test_the_hours_are_told_at_the_engines_clock_from_the_calendar_in_force(
    core: Core, clock: ManualClock
) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    clock.set(datetime(2026, 12, 5, 3, 0, tzinfo=UTC))  # a Saturday, 11:00 in Shanghai
    await core.engine.receive(inbound("你们几点下班？", "h1"))
    assert "今天休息，下一个工作时间是周一 09:00" in channel.sent[-1][1]
    # The calendar admins put in force replaces the desk's; the dialogue reads the same one.
    core.desk.calendar = BusinessCalendar.always_open()
    await core.engine.receive(inbound("还在上班吗", "h2"))
    assert "现在是工作时间" in channel.sent[-1][1]
    async with core.db.transaction() as session:
        assert (await session.execute(select(Conversation.state))).scalar_one() == "new"
    assert await _count(core, Ticket) == 0
