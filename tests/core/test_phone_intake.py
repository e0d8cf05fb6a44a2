"""Calls logged by reps: the bot's form checks, a routed "phone" ticket, its number told where the client writes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.clock import ManualClock
from core.db.models import ChannelIdentity, Client, Conversation, Department, OutboxMessage, Ticket, TicketEvent, User
from core.errors import InvalidInput
from core.messages import ConversationRef, InboundMessage
from core.phone_intake import Call, CallNotValid, NewClient, record_call
from core.wiring import Core
from tests.support.fakes import FakeChannel

COMPLAINT = {"description": "双十一活动的投放数据不对", "project": "双十一活动", "phone": "138 0013 8000"}


async def _record(core: Core, call: Call, rep_id: int) -> tuple[Ticket, str | None]:
    async with core.db.transaction() as session:
        recorded = await record_call(
            session,
            call,
            rep_id=rep_id,
            forms=core.forms,
            desk=core.desk,
            texts=core.texts,
            skip_words=core.settings.dialogue.skip_words,
            language=core.settings.language,
            now=core.clock.now(),
        )
        session.expunge(recorded.ticket)
        return recorded.ticket, recorded.told_on


async def _rep(core: Core, clock: ManualClock) -> int:
    async with core.db.transaction() as session:
        rep = User(username="wang", display_name="王客服", role="rep", created_at=clock.now())
        session.add(rep)
        await session.flush()
        return rep.id


async def test_a_call_from_a_new_client_becomes_a_routed_phone_ticket(core: Core, clock: ManualClock) -> None:
    rep_id = await _rep(core, clock)
    call = Call(
        "complaint",
        COMPLAINT,
        notes="客户很着急，下午三点前回电",
        new_client=NewClient("赵总", "某某传媒", "13800138000"),
    )
    ticket, told_on = await _record(core, call, rep_id)
    assert told_on is None
    assert (ticket.channel, ticket.category, ticket.status) == ("phone", "complaint", "classified")
    assert ticket.details == {**COMPLAINT, "phone": "13800138000"}, "the same normalisation as the bot's"
    assert ticket.number.startswith("KF-") and ticket.first_response_at is not None
    assert ticket.resolution_due is not None, "on the SLA clock like any ticket"
    async with core.db.transaction() as session:
        client = await session.get(Client, ticket.client_id)
        identity = (await session.execute(select(ChannelIdentity))).scalar_one()
        conversation = (await session.execute(select(Conversation))).scalar_one()
        events = (await session.execute(select(TicketEvent.kind, TicketEvent.actor, TicketEvent.data))).all()
        department = await session.get(Department, ticket.department_id) if ticket.department_id else None
    assert client is not None and (client.name, client.company, client.phone) == ("赵总", "某某传媒", "13800138000")
    assert (identity.channel, identity.reachable) == ("phone", False)
    assert (conversation.channel, conversation.ticket_id, conversation.holder_user_id) == ("phone", ticket.id, rep_id)
    assert ("call_logged", f"user:{rep_id}", {"user_id": rep_id, "notes": "客户很着急，下午三点前回电"}) in events
    assert department is not None, "routed like the bot's tickets"
    # Nothing could carry a written reply to a caller: refused at once, not queued to fail after its retries.
    with pytest.raises(InvalidInput, match="no reply can be sent on channel phone"):
        await core.engine.rep_reply(conversation.id, rep_id, "已为您处理")
    async with core.db.transaction() as session:
        assert (await session.execute(select(OutboxMessage))).first() is None


async def test_a_client_who_writes_on_a_channel_is_told_the_number_there(core: Core, clock: ManualClock) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    await core.engine.receive(InboundMessage(ref=ConversationRef("fake", "u1"), external_id="m1", text="你好"))
    async with core.db.transaction() as session:
        client_id = (await session.execute(select(Client.id))).scalar_one()
    rep_id = await _rep(core, clock)
    before = len(channel.sent)
    ticket, told_on = await _record(
        core, Call("inquiry", {"topic": "billing", "question": "发票什么时候开"}, client_id=client_id), rep_id
    )
    assert told_on == "fake"
    async with core.db.transaction() as session:
        rows = (await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars().all()
        conversations = (await session.execute(select(Conversation.id))).scalars().all()
    assert ticket.number in rows[-1].payload["text"] and rows[-1].status == "pending"
    assert len(conversations) == 2, "the phone conversation beside the client's own"
    await core.dispatcher.deliver_due()
    assert ticket.number in channel.sent[before][1]
    # A second call of the same client: its phone conversation is reused.
    second, _ = await _record(core, Call("other", {"description": "再确认一下"}, client_id=client_id), rep_id)
    assert second.conversation_id == ticket.conversation_id


@pytest.mark.parametrize(
    "category,details,problems",
    [
        ("complaint", {**COMPLAINT, "phone": "12345"}, {"phone": "form.bad_phone"}),
        ("complaint", {"description": "数据不对劲", "phone": "13800138000"}, {"project": "form.required"}),
        (
            "complaint",
            {"description": "差", "project": "双十一", "phone": "13800138000"},
            {"description": "form.too_short"},
        ),
        ("complaint", {**COMPLAINT, "colour": "red"}, {"colour": "phone.unknown_field"}),
        ("refund", {}, {"category": "phone.bad_category"}),
    ],
    ids=["bad phone", "missing project", "too short", "unknown field", "bad category"],
)
async def test_a_call_is_checked_like_the_bots_form(
    core: Core, clock: ManualClock, category: str, details: dict[str, str], problems: dict[str, str]
) -> None:
    rep_id = await _rep(core, clock)
    with pytest.raises(CallNotValid) as refused:
        await _record(core, Call(category, details, new_client=NewClient("赵总")), rep_id)
    assert refused.value.problems == problems
    async with core.db.transaction() as session:
        assert (await session.execute(select(Ticket.id))).first() is None
        assert (await session.execute(select(Client.id))).first() is None, "nothing is kept of a refused call"


async def test_optional_fields_may_be_left_out_and_a_caller_must_be_named(core: Core, clock: ManualClock) -> None:
    rep_id = await _rep(core, clock)
    ticket, _ = await _record(
        core, Call("suggestion", {"proposal": "希望周报里加上转化率"}, new_client=NewClient("钱")), rep_id
    )
    assert ticket.details == {"proposal": "希望周报里加上转化率"}
    with pytest.raises(CallNotValid) as refused:
        await _record(core, Call("suggestion", {"proposal": "希望周报里加上转化率"}, new_client=NewClient(" ")), rep_id)
    assert refused.value.problems == {"client": "form.required"}
    with pytest.raises(CallNotValid) as refused:
        await _record(
            core, Call("suggestion", {"proposal": "希望周报"}, new_client=NewClient("钱", phone="abc")), rep_id
        )
    assert refused.value.problems == {"client.phone": "form.bad_phone"}
