"""WeCom kf session states as WeCom enforces them: the table, both rep modes, ending, first responses, pulls."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from itertools import product

import pytest
from sqlalchemy import select

from bots.wechat.kf_convert import to_inbound
from bots.wechat.kf_routes import PULL_LEASE, cursor_key
from bots.wechat.kf_settings import RepMode
from bots.wechat.kf_states import MOVES, SENDABLE, ServiceState, after_client_writes, may_move, may_send
from core.channel import WindowClosed
from core.channel_state import ChannelStateStore
from core.clock import ManualClock
from core.db.models import Conversation, Message, Ticket, TicketEvent
from core.messages import ConversationRef, OutboundMessage
from core.tickets.lifecycle import TicketStatus, TransitionRequest
from handlers.services import Services
from tests.channels.wechat.kf_fake_api import FakeWeComAPI, client_item, servicer_item, session_change_item
from tests.channels.wechat.kf_harness import KFID, USER, WeComFactory, WeComServer, kf_conversation
from tests.support.desk_setup import create_staff

S = ServiceState
BASE = {"open_kfid": KFID, "external_userid": USER}


def test_the_state_table_is_wecoms() -> None:
    allowed = {
        (S.NEW, S.BOT), (S.NEW, S.POOL), (S.NEW, S.HUMAN), (S.NEW, S.ENDED),
        (S.BOT, S.BOT), (S.BOT, S.POOL), (S.BOT, S.HUMAN), (S.BOT, S.ENDED),
        (S.POOL, S.POOL), (S.POOL, S.HUMAN), (S.POOL, S.ENDED),
        (S.HUMAN, S.HUMAN), (S.HUMAN, S.ENDED),
    }  # fmt: skip
    assert {(a, b) for a, b in product(S, S) if may_move(a, b)} == allowed
    # A person's session never goes back to the bot; an ended one moves only when the client writes.
    assert not may_move(S.HUMAN, S.BOT) and not may_move(S.POOL, S.BOT) and MOVES[S.ENDED] == frozenset()
    assert {s for s in S if may_send(s)} == {S.NEW, S.BOT} == SENDABLE
    assert after_client_writes(S.ENDED) is S.NEW and after_client_writes(S.HUMAN) is S.HUMAN


async def _trans(api: FakeWeComAPI) -> list[int]:
    return [int(c.body["service_state"]) for c in api.of("kf/service_state/trans") if c.body]


async def _ticket(services: Services, conversation_id: int) -> Ticket:
    async with services.db.transaction() as session:
        conversation = await session.get(Conversation, conversation_id)
        assert conversation is not None and conversation.ticket_id is not None
        ticket = await session.get(Ticket, conversation.ticket_id)
        assert ticket is not None
        return ticket


async def _events(services: Services, ticket_id: int, kind: str) -> list[TicketEvent]:
    async with services.db.transaction() as session:
        rows = await session.execute(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind == kind)
        )
        return list(rows.scalars())


async def _escalated(wecom: WeComServer, services: Services) -> tuple[int, list[int]]:
    assert await wecom.say("人工")
    staff = await create_staff(services)
    return await kf_conversation(services), staff.reps


async def test_console_mode_keeps_the_session_with_the_api_and_every_message_reaches_the_client(
    make_wecom: WeComFactory, wecom_api: FakeWeComAPI, services: Services
) -> None:
    wecom = await make_wecom()
    conversation_id, reps = await _escalated(wecom, services)
    await services.engine.claim(conversation_id, reps[0])
    assert "客服" in wecom.new_sends(), "the 为您服务 notice reached the client"
    await services.engine.rep_reply(conversation_id, reps[0], "您好，我来处理")
    assert wecom.new_sends() == "您好，我来处理"
    assert wecom_api.state(KFID, USER) is S.BOT
    ticket = await _ticket(services, conversation_id)
    assert ticket.first_response_at is not None
    await services.engine.release(conversation_id, reps[0])
    assert wecom.new_sends(), "the release notice reached the client"
    assert await wecom.say("我要投诉"), "the bot answers again"
    # Nothing asked WeCom to move the session while a rep held it.
    assert await _trans(wecom_api) == []
    assert set(await wecom.outbox_statuses()) == {"sent"}


async def test_close_ends_the_session_and_resolve_keeps_it_for_the_feedback_prompt(
    make_wecom: WeComFactory, wecom_api: FakeWeComAPI, services: Services
) -> None:
    wecom = await make_wecom()
    conversation_id, reps = await _escalated(wecom, services)
    await services.engine.claim(conversation_id, reps[0])
    number = (await _ticket(services, conversation_id)).number
    await services.engine.move_ticket(number, TransitionRequest(TicketStatus.RESOLVED, "user:1", solution="已重新投放"))
    assert wecom_api.state(KFID, USER) is S.BOT and await _trans(wecom_api) == []
    await services.engine.move_ticket(
        number,
        TransitionRequest(TicketStatus.CLOSED, "user:1", root_cause="投放延迟", improvement="上线前复核"),
    )
    assert await _trans(wecom_api) == [4]
    assert wecom_api.state(KFID, USER) is S.ENDED
    # The client writes again: WeCom starts a new session and kefu answers in it.
    assert await wecom.say("你好")
    assert wecom_api.state(KFID, USER) is S.BOT


async def test_wecom_mode_hands_over_stops_sending_and_takes_the_client_back_when_wecom_ends_it(
    make_wecom: WeComFactory, wecom_api: FakeWeComAPI, services: Services
) -> None:
    wecom = await make_wecom(servicers={"rep0": "WeComRep0"}, rep_mode=RepMode.WECOM)
    conversation_id, reps = await _escalated(wecom, services)
    await services.engine.claim(conversation_id, reps[0])
    # The notice goes out while the session is still with the API, then WeCom's servicer has it.
    assert "客服" in wecom.new_sends()
    assert [c.body for c in wecom_api.of("kf/service_state/trans")] == [
        {**BASE, "service_state": 3, "servicer_userid": "WeComRep0"}
    ]
    sends = len(wecom_api.of("kf/send_msg"))
    await services.engine.rep_reply(conversation_id, reps[0], "控制台的回复")
    assert len(wecom_api.of("kf/send_msg")) == sends, "kefu no longer writes to a servicer's session"
    assert await wecom.outbox_statuses() == ["sent", "sent", "window_closed"]
    ticket = await _ticket(services, conversation_id)
    assert ticket.first_response_at is None, "a reply that did not reach the client is no first response"
    # The servicer answers in WeCom's client: the words join kefu's transcript under the rep, sent by nobody.
    wecom_api.push(KFID, servicer_item(KFID, USER, "WeComRep0", "我是客服0，在企业微信里为您处理"))
    await wecom.notify()
    await wecom.notify()  # the same item pulled again is kept once
    async with services.db.transaction() as session:
        mirrored = (
            (await session.execute(select(Message).where(Message.text == "我是客服0，在企业微信里为您处理")))
            .scalars()
            .all()
        )
    assert [(m.direction, m.author_user_id) for m in mirrored] == [("out", reps[0])]
    assert len(wecom_api.of("kf/send_msg")) == sends
    # The servicer ends the session in WeCom's client; kefu gives the conversation back to the bot.
    wecom_api.push(KFID, session_change_item(KFID, USER, 3))
    await wecom.notify()
    async with services.db.transaction() as session:
        conversation = await session.get(Conversation, conversation_id)
        assert conversation is not None and conversation.holder_user_id is None
    # The client's next message starts a new session: the parked reply and the bot's answer reach them.
    sent = await wecom.say("还在吗")
    assert "控制台的回复" in sent
    assert (await _ticket(services, conversation_id)).first_response_at is not None
    assert 1 not in await _trans(wecom_api)


async def test_transfers_never_put_a_waiting_client_back_with_the_bot(
    make_wecom: WeComFactory, wecom_api: FakeWeComAPI, services: Services
) -> None:
    wecom = await make_wecom(rep_mode=RepMode.WECOM, servicers={"rep0": "WeComRep0"})
    conversation_id, reps = await _escalated(wecom, services)
    await services.engine.transfer(conversation_id, reps[0], department_code="media")
    assert wecom_api.state(KFID, USER) is S.POOL
    await services.engine.claim(conversation_id, reps[0])
    assert wecom_api.state(KFID, USER) is S.HUMAN
    # From a servicer's session WeCom allows no way back to the pool: it stays with the servicer, nothing refused.
    await services.engine.transfer(conversation_id, reps[0], department_code="cs")
    assert wecom_api.state(KFID, USER) is S.HUMAN
    assert await _trans(wecom_api) == [2, 3]
    assert await _events(services, (await _ticket(services, conversation_id)).id, "handover_failed") == []


async def test_console_mode_transfer_keeps_the_session_with_the_api(
    make_wecom: WeComFactory, wecom_api: FakeWeComAPI, services: Services
) -> None:
    wecom = await make_wecom()
    conversation_id, reps = await _escalated(wecom, services)
    await services.engine.claim(conversation_id, reps[0])
    await services.engine.transfer(conversation_id, reps[0], department_code="media")
    assert wecom_api.state(KFID, USER) is S.BOT and await _trans(wecom_api) == []


async def test_release_in_wecom_mode_ends_the_servicers_session_instead_of_a_refused_move(
    make_wecom: WeComFactory, wecom_api: FakeWeComAPI, services: Services
) -> None:
    wecom = await make_wecom(rep_mode=RepMode.WECOM, default_servicer="duty")
    conversation_id, reps = await _escalated(wecom, services)
    await services.engine.claim(conversation_id, reps[0])
    await services.engine.release(conversation_id, reps[0])
    assert await _trans(wecom_api) == [3, 4]
    assert await _events(services, (await _ticket(services, conversation_id)).id, "handover_failed") == []
    assert await wecom.say("我要投诉"), "the bot answers in the client's new session"


async def test_the_fake_refuses_what_wecom_refuses(wecom: WeComServer, wecom_api: FakeWeComAPI) -> None:
    await wecom.say("你好")
    ref = ConversationRef(channel="wecom", account=KFID, external_user_id=USER)
    channel = wecom.webhook.channel
    await channel.move(ref, S.HUMAN, "LiNa")
    # kefu's own move to 1 is not even attempted; WeCom would refuse it.
    assert await channel.move(ref, S.BOT) is S.HUMAN
    assert await _trans(wecom_api) == [3]
    await channel.session_ended(KFID, USER)  # forget the handover locally, so the send reaches the fake
    with pytest.raises(WindowClosed, match="95018"):
        await channel.send(ref, OutboundMessage("x"))


async def test_a_permanent_send_failure_is_logged_and_is_no_first_response(
    make_wecom: WeComFactory, wecom_api: FakeWeComAPI, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    wecom = await make_wecom()
    conversation_id, reps = await _escalated(wecom, services)
    await services.engine.claim(conversation_id, reps[0])
    wecom_api.send_failures.append(40003)
    with caplog.at_level(logging.WARNING, logger="core.outbox"):
        await services.engine.rep_reply(conversation_id, reps[0], "第一次回复")
    assert any("refused for good" in r.getMessage() and "40003" in r.getMessage() for r in caplog.records)
    ticket = await _ticket(services, conversation_id)
    assert ticket.first_response_at is None
    await services.engine.rep_reply(conversation_id, reps[0], "第二次回复")
    ticket = await _ticket(services, conversation_id)
    assert ticket.first_response_at is not None
    [first] = await _events(services, ticket.id, "first_response")
    assert first.actor == f"user:{reps[0]}"


async def test_every_account_is_pulled_once_at_start(make_wecom: WeComFactory, wecom_api: FakeWeComAPI) -> None:
    other = "wkKefuTestAccount000000000000002"
    wecom_api.push(KFID, client_item(KFID, USER, "text", {"content": "你好"}))
    wecom_api.push(other, client_item(other, USER, "text", {"content": "在吗"}))
    wecom_api.accounts.append("wkKefuTestAccountWithNoMessages03")
    wecom = await make_wecom()
    wecom.webhook.start()
    await wecom.webhook.drain()
    assert sorted(c.body["open_kfid"] for c in wecom_api.of("kf/sync_msg") if c.body) == sorted(
        [KFID, other, "wkKefuTestAccountWithNoMessages03"]
    )
    assert (await wecom.counts())[0] == 2 and len(wecom_api.sent_texts()) == 2


async def test_a_crash_mid_page_delays_the_next_pull_by_one_short_lease_and_loses_nothing(
    make_wecom: WeComFactory, wecom_api: FakeWeComAPI, services: Services, clock: ManualClock
) -> None:
    assert timedelta(seconds=10) >= PULL_LEASE
    wecom = await make_wecom()
    store = ChannelStateStore(services.db, services.clock)
    wecom_api.push(KFID, *(client_item(KFID, USER, "text", {"content": t}) for t in ("你好", "我要投诉", "广告没上线")))
    # The first process handled the first item of the page, then died holding the lease; no cursor was stored.
    first = wecom_api.log[KFID][0]
    inbound = to_inbound(first)
    assert inbound is not None
    await services.engine.receive(inbound)
    assert await store.try_lock(f"wecom:kf:pull:{KFID}", "dead-process", wecom.webhook.lock_ttl)
    pull = asyncio.create_task(wecom.webhook.pull(KFID))
    await asyncio.sleep(0.1)
    assert not pull.done()
    clock.advance(wecom.webhook.lock_ttl + timedelta(seconds=1))
    assert await asyncio.wait_for(pull, 5) == 2, "the dead process's item is a duplicate, the others are new"
    assert (await wecom.counts())[0] == 3
    assert await store.get(cursor_key(KFID)) == {"cursor": "cur-3"}
