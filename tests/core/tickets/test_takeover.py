"""Reps taking over conversations: atomic claims, release, notes, transfer, live events and channel handover."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from bots.web.channel import WebChannel
from core.channel import HandoverKind, RepInfo
from core.clock import ManualClock
from core.db.models import Client, Conversation, Department, Notification, Ticket, TicketEvent
from core.errors import InvalidInput
from core.live import LiveEvent
from core.messages import ConversationRef
from core.tickets.takeover import TakenByOther
from handlers.services import Services, build_services
from tests.support.chat import Chat, texts_of
from tests.support.desk_setup import Staff, create_staff


async def _escalate(chat: Chat, services: Services) -> int:
    await chat.send("人工")
    async with services.db.transaction() as session:
        conversation_ids = (await session.execute(select(Conversation.id).order_by(Conversation.id))).scalars()
        return list(conversation_ids)[-1]


async def _conversation(services: Services, conversation_id: int) -> Conversation:
    async with services.db.transaction() as session:
        conversation = await session.get(Conversation, conversation_id)
        assert conversation is not None
        return conversation


async def _ticket_of(services: Services, conversation_id: int) -> Ticket:
    async with services.db.transaction() as session:
        return (await session.execute(select(Ticket).where(Ticket.conversation_id == conversation_id))).scalar_one()


class Recorder:
    """Collects live events."""

    def __init__(self, services: Services) -> None:
        self.events: list[LiveEvent] = []
        services.live.add_listener(self._on)

    async def _on(self, event: LiveEvent) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


@pytest.fixture
async def staff(services: Services) -> Staff:
    return await create_staff(services)


async def test_claim_is_exclusive_and_idempotent(web: httpx.AsyncClient, services: Services, staff: Staff) -> None:
    chat = Chat(web)
    conversation_id = await _escalate(chat, services)
    await chat.replies()
    await services.engine.claim(conversation_id, staff.reps[0])
    assert "客服 客服0 为您服务" in texts_of(await chat.replies())
    with pytest.raises(TakenByOther) as lost:
        await services.engine.claim(conversation_id, staff.reps[1])
    assert lost.value.holder_id == staff.reps[0] and lost.value.holder_name == "客服0"
    assert lost.value.status_code == 409
    again = await services.engine.claim(conversation_id, staff.reps[0])
    assert again.replies == [] and await chat.replies() == []
    conversation = await _conversation(services, conversation_id)
    assert conversation.holder_user_id == staff.reps[0] and conversation.state == "with_rep"
    ticket = await _ticket_of(services, conversation_id)
    assert ticket.assignee_id == staff.reps[0] and ticket.status == "investigating"


async def test_concurrent_claims_from_two_processes_have_one_winner(
    web: httpx.AsyncClient, services: Services, staff: Staff, clock: ManualClock
) -> None:
    conversations = []
    for _ in range(10):
        web.cookies.clear()
        conversations.append(await _escalate(Chat(web), services))
    # A second set of services on the same database stands for a second process with its own pool.
    other = build_services(services.settings, clock)
    await other.start(migrate=False)
    try:

        async def attempt(engine_services: Services, conversation_id: int, user_id: int) -> int | None:
            try:
                await engine_services.engine.claim(conversation_id, user_id)
                return user_id
            except TakenByOther:
                return None

        outcomes = await asyncio.gather(
            *(attempt(s, c, u) for c in conversations for s, u in ((services, staff.reps[0]), (other, staff.reps[1])))
        )
    finally:
        await other.stop()
    for i, conversation_id in enumerate(conversations):
        pair = outcomes[2 * i : 2 * i + 2]
        winners = [u for u in pair if u is not None]
        assert len(winners) == 1, pair
        assert (await _conversation(services, conversation_id)).holder_user_id == winners[0]


async def test_reply_claims_when_free_and_is_refused_when_another_rep_holds(
    web: httpx.AsyncClient, services: Services, staff: Staff
) -> None:
    chat = Chat(web)
    conversation_id = await _escalate(chat, services)
    await chat.replies()
    await services.engine.rep_reply(conversation_id, staff.reps[0], "您好，请问是哪条广告？")
    said = texts_of(await chat.replies())
    assert said.index("客服 客服0 为您服务") < said.index("您好，请问是哪条广告？")
    assert (await _conversation(services, conversation_id)).holder_user_id == staff.reps[0]
    with pytest.raises(TakenByOther):
        await services.engine.rep_reply(conversation_id, staff.reps[1], "我来处理")
    assert await chat.replies() == []
    ticket = await _ticket_of(services, conversation_id)
    assert ticket.first_response_at is not None


async def test_release_needs_the_holder_unless_forced_and_the_bot_speaks_again(
    web: httpx.AsyncClient, services: Services, staff: Staff
) -> None:
    chat = Chat(web)
    conversation_id = await _escalate(chat, services)
    await services.engine.claim(conversation_id, staff.reps[0])
    await chat.replies()
    assert await chat.send("还在吗") == [], "the bot is silent while a rep holds it"
    with pytest.raises(TakenByOther):
        await services.engine.release(conversation_id, staff.reps[1])
    await services.engine.release(conversation_id, staff.supervisor, force=True)
    assert "人工客服已结束本次服务" in texts_of(await chat.replies())
    conversation = await _conversation(services, conversation_id)
    assert conversation.holder_user_id is None and conversation.state == "ticket_open"
    assert await chat.send("补充一下：是开屏广告") != []


async def test_a_note_is_recorded_and_never_sent(web: httpx.AsyncClient, services: Services, staff: Staff) -> None:
    chat = Chat(web)
    conversation_id = await _escalate(chat, services)
    await services.engine.claim(conversation_id, staff.reps[0])
    await chat.replies()
    recorder = Recorder(services)
    note_id = await services.engine.add_note(conversation_id, staff.reps[0], "客户是老客户，注意语气")
    assert await chat.replies() == []
    async with services.db.transaction() as session:
        note = await session.get(TicketEvent, note_id)
        assert note is not None and note.kind == "note" and note.data == {"text": "客户是老客户，注意语气"}
        assert note.actor == f"user:{staff.reps[0]}"
    assert recorder.kinds() == ["note"]
    assert recorder.events[0].data["event_id"] == note_id
    with pytest.raises(InvalidInput):
        await services.engine.add_note(conversation_id, staff.reps[0], "  ")


async def test_transfer_to_a_department_requeues_and_to_a_rep_hands_over(
    web: httpx.AsyncClient, services: Services, staff: Staff, clock: ManualClock
) -> None:
    chat = Chat(web)
    conversation_id = await _escalate(chat, services)
    await services.engine.claim(conversation_id, staff.reps[0])
    await chat.replies()
    media = await create_staff(services, department="media", reps=1)
    await services.engine.transfer(conversation_id, staff.reps[0], department_code="media")
    assert "已转交媒介" in texts_of(await chat.replies())
    conversation = await _conversation(services, conversation_id)
    assert conversation.holder_user_id is None and conversation.state == "human_queue"
    ticket = await _ticket_of(services, conversation_id)
    async with services.db.transaction() as session:
        media_id = (await session.execute(select(Department.id).where(Department.code == "media"))).scalar_one()
        heads = (
            await session.execute(
                select(Notification.user_id).where(
                    Notification.ticket_id == ticket.id, Notification.kind == "transferred"
                )
            )
        ).scalars()
        assert media.head in list(heads)
    assert ticket.department_id == media_id and ticket.assignee_id == media.reps[0]
    await services.engine.transfer(conversation_id, staff.reps[0], to_user_id=media.reps[0])
    assert "客服 客服0 为您服务" in texts_of(await chat.replies())
    assert (await _conversation(services, conversation_id)).holder_user_id == media.reps[0]
    with pytest.raises(InvalidInput):
        await services.engine.transfer(conversation_id, media.reps[0])


async def test_live_events_follow_commits_only(web: httpx.AsyncClient, services: Services, staff: Staff) -> None:
    recorder = Recorder(services)
    chat = Chat(web)
    conversation_id = await _escalate(chat, services)
    # The reply is written (message), then recorded as sent (delivered: what wakes the visitor's streams).
    assert recorder.kinds() == ["message", "escalated", "message", "delivered"]
    inbound, escalated, outbound, delivered = recorder.events
    assert delivered.conversation_id == conversation_id and delivered.data["channel"] == "web"
    assert inbound.data["direction"] == "in" and inbound.data["text"] == "人工"
    assert escalated.data["reason"] == "handoff" and escalated.data["ticket_number"].startswith("KF-")
    assert outbound.data["direction"] == "out" and outbound.conversation_id == conversation_id
    await services.engine.claim(conversation_id, staff.reps[0])
    assert recorder.kinds()[4:] == ["ticket", "claimed", "message", "delivered"]
    before = len(recorder.events)
    with pytest.raises(TakenByOther):
        await services.engine.claim(conversation_id, staff.reps[1])
    assert len(recorder.events) == before, "a refused claim publishes nothing"


async def test_a_complaint_from_a_tier_a_client_is_escalated(
    web: httpx.AsyncClient, services: Services, staff: Staff
) -> None:
    chat = Chat(web)
    await chat.send("你好")
    async with services.db.transaction() as session:
        await session.execute(update(Client).values(tier="A"))
    recorder = Recorder(services)
    await chat.send("你们的信息流广告效果太差了，我要投诉")
    for answer in ("双十二开屏", "跳过", "跳过", "13800138000"):
        await chat.send(answer)
    await chat.click("确认提交")
    escalations = [e for e in recorder.events if e.kind == "escalated"]
    assert [e.data["reason"] for e in escalations] == ["tier_a_complaint"]


class HandoverWeb(WebChannel):
    """The web channel with a handover hook that records calls, and fails when told to."""

    calls: list[tuple[str, bool, int | None]]
    fail = False

    async def handover(self, ref: ConversationRef, kind: HandoverKind, rep: RepInfo | None) -> None:
        self.calls.append((ref.external_user_id, kind.to_human, rep.user_id if rep else None))
        if self.fail:
            raise RuntimeError("service_state/trans refused")


async def test_channels_with_handover_are_told_and_a_failure_keeps_the_claim(
    web: httpx.AsyncClient, services: Services, staff: Staff
) -> None:
    channel = HandoverWeb(services.hub)
    channel.calls = []
    services.registry.register(channel)
    chat = Chat(web)
    conversation_id = await _escalate(chat, services)
    await services.engine.claim(conversation_id, staff.reps[0])
    await services.engine.release(conversation_id, staff.reps[0])
    assert [(to_human, rep) for _, to_human, rep in channel.calls] == [(True, staff.reps[0]), (False, None)]
    channel.fail = True
    await services.engine.claim(conversation_id, staff.reps[1])
    assert (await _conversation(services, conversation_id)).holder_user_id == staff.reps[1]
    ticket = await _ticket_of(services, conversation_id)
    async with services.db.transaction() as session:
        failures: Any = (
            await session.execute(
                select(TicketEvent.data).where(
                    TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "handover_failed"
                )
            )
        ).scalars()
        assert [f["to_human"] for f in failures] == [True]
