"""A status question from a client none of whose tickets the conversation knows: looked up, never told of others'."""

from __future__ import annotations

from sqlalchemy import select

from core.clock import ManualClock
from core.db.models import ChannelIdentity, Client
from core.phone_intake import Call, NewClient
from core.wiring import Core
from tests.core.test_phone_intake import COMPLAINT, _record, _rep
from tests.support.fakes import FakeChannel, inbound

PHONE = "13800138000"


async def _called_in(core: Core, clock: ManualClock, phone: str = PHONE) -> str:
    """A complaint a rep logged from a call: its client is on record with `phone`; the ticket's number."""
    call = Call("complaint", COMPLAINT, new_client=NewClient("赵总", "某某传媒", phone))
    ticket, _ = await _record(core, call, await _rep(core, clock))
    return ticket.number


async def _phone_on_record(core: Core, user: str, phone: str) -> None:
    """The agency records the phone of the client writing as `user` (the console's client page)."""
    async with core.db.transaction() as session:
        query = select(Client).join(ChannelIdentity).where(ChannelIdentity.external_id == user)
        (await session.execute(query)).scalar_one().phone = phone


async def _caller_in_a_new_chat(core: Core, clock: ManualClock) -> tuple[FakeChannel, str]:
    """A client whose complaint was logged from a call greets from a new chat, which the agency records with his
    phone; the channel and the complaint's ticket number."""
    channel = FakeChannel()
    core.registry.register(channel)
    number = await _called_in(core, clock)
    await core.engine.receive(inbound("你好", "m1", user="wx-new"))
    await _phone_on_record(core, "wx-new", PHONE)
    return channel, number


async def test_a_ticket_filed_by_phone_is_told_to_the_same_client_writing_from_a_new_chat(
    core: Core, clock: ManualClock
) -> None:
    channel, number = await _caller_in_a_new_chat(core, clock)
    await core.engine.receive(inbound("你好，之前提交的工单有进展了吗", "m2", user="wx-new"))
    reply = channel.sent[-1][1]
    assert f"工单 {number}（投诉）目前" in reply, reply
    assert "请选择问题类别" not in reply
    # By its number too.
    await core.engine.receive(inbound(f"{number} 怎么样了", "m3", user="wx-new"))
    assert f"工单 {number}（投诉）目前" in channel.sent[-1][1]


async def test_another_clients_ticket_is_never_told_by_its_number_or_its_phone(core: Core, clock: ManualClock) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    number = await _called_in(core, clock)

    await core.engine.receive(inbound("你好，之前提交的工单有进展了吗", "m1", user="stranger"))
    assert "没有查到工单" in channel.sent[-1][1] and "工单号" in channel.sent[-1][1]
    await core.engine.receive(inbound(PHONE, "m2", user="stranger"))
    assert "为保护客户信息" in channel.sent[-1][1]
    await core.engine.receive(inbound(number, "m3", user="stranger"))
    assert f"没有查到您名下的工单 {number}" in channel.sent[-1][1]
    # A phone on record that is not the ticket's opens nothing either, nor does a question that names the number.
    await _phone_on_record(core, "stranger", "13911112222")
    await core.engine.receive(inbound(f"{number} 有进展吗", "m4", user="stranger"))
    replies = [text for _, text in channel.sent]
    assert f"没有查到您名下的工单 {number}" in replies[-1]
    assert not any("投诉" in text or "目前" in text for text in replies), replies


async def test_a_number_not_the_clients_is_not_answered_with_his_own_latest_ticket(
    core: Core, clock: ManualClock
) -> None:
    channel, own = await _caller_in_a_new_chat(core, clock)
    other = own[:-4] + "9999"

    await core.engine.receive(inbound(f"{other} 处理得怎么样了", "m2", user="wx-new"))
    assert f"没有查到您名下的工单 {other}" in channel.sent[-1][1]
    assert own not in channel.sent[-1][1]


async def test_an_english_status_question_from_a_new_chat_asks_for_the_number_in_english(core: Core) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    await core.engine.receive(inbound("any update on my ticket?", "e1", user="new-en"))
    assert "I found no ticket under this account" in channel.sent[-1][1], channel.sent[-1][1]
    await core.engine.receive(inbound("KF-20261129-0001", "e2", user="new-en"))
    assert "I found no ticket KF-20261129-0001 under your name" in channel.sent[-1][1]
