"""Another issue after a ticket, through the engine: its own ticket, and the first one's resolution still told."""

from __future__ import annotations

from sqlalchemy import select

from core.db.models import Conversation, Ticket, TicketEvent
from core.messages import ConversationRef, InboundMessage
from core.tickets.lifecycle import TicketStatus, TransitionRequest
from core.wiring import Core
from tests.support.fakes import FakeChannel, inbound

ANSWERS = {"项目": "暑期档", "什么时候": "7月", "希望": "改回原排期", "电话": "13800138000", "哪方面": "发票与付款"}


async def _tickets(core: Core) -> tuple[list[Ticket], Conversation]:
    async with core.db.transaction() as session:
        tickets = list((await session.execute(select(Ticket).order_by(Ticket.id))).scalars())
        conversation = (await session.execute(select(Conversation))).scalar_one()
        return tickets, conversation


async def _answer_until_filed(core: Core, channel: FakeChannel, prefix: str) -> None:
    """Answer whatever detail the bot asks for, then confirm, until it files one more ticket."""
    before = len((await _tickets(core))[0])
    for i in range(8):
        if len((await _tickets(core))[0]) > before:
            return
        asked = channel.sent[-1][1]
        answer = next((a for cue, a in ANSWERS.items() if cue in asked.splitlines()[-1]), "确认")
        await core.engine.receive(inbound(answer, f"{prefix}{i}"))
    raise AssertionError(f"no ticket after eight answers: {channel.sent[-1][1]}")


async def _file_complaint(core: Core, channel: FakeChannel) -> None:
    await core.engine.receive(inbound("「暑期档」的排期被你们擅自改了，电话13800138000", "m"))
    await _answer_until_filed(core, channel, "m")


async def test_a_second_issue_gets_its_own_ticket_and_the_first_is_resolved_by_message(core: Core) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    await _file_complaint(core, channel)
    first = (await _tickets(core))[0][0]

    await core.engine.receive(inbound("另外想问一下 上季度的发票能一起开吗", "n1"))
    reply = channel.sent[-1][1]
    assert f"工单 {first.number} 会继续处理" in reply, reply
    tickets, conversation = await _tickets(core)
    assert len(tickets) == 1 and conversation.ticket_id is None and conversation.category == "inquiry"
    async with core.db.transaction() as session:
        kinds = [e.kind for e in (await session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == first.id)))]
        assert "client_moved_on" in kinds

    # The rep resolves the first ticket while the client is in the middle of the second issue.
    asked = channel.sent[-1][1]
    request = TransitionRequest(TicketStatus.RESOLVED, "cli", solution="排期已改回原方案")
    assert await core.engine.move_ticket(first.number, request) == "resolved"
    assert f"您的工单 {first.number} 已处理完毕。处理结果：排期已改回原方案" in channel.sent[-1][1]
    tickets, conversation = await _tickets(core)
    assert tickets[0].status == "resolved" and conversation.state in {"collecting", "confirming"}

    # The second issue goes on where it was and ends in a ticket of its own.
    assert asked != channel.sent[-1][1]
    await _answer_until_filed(core, channel, "n")
    tickets, conversation = await _tickets(core)
    assert [t.category for t in tickets] == ["complaint", "inquiry"]
    assert conversation.ticket_id == tickets[1].id and tickets[0].status == "resolved"


async def test_a_ticket_left_behind_is_the_conversations_issue_again_when_resolved_while_idle(
    core: Core,
) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    await _file_complaint(core, channel)
    await core.engine.receive(inbound("另外想问一下 上季度的发票能一起开吗", "n1"))
    await core.engine.receive(inbound("算了 不用了", "n2"))
    tickets, conversation = await _tickets(core)
    assert conversation.state == "closed" and conversation.ticket_id is None

    request = TransitionRequest(TicketStatus.RESOLVED, "cli", solution="排期已改回原方案")
    await core.engine.move_ticket(tickets[0].number, request)
    tickets, conversation = await _tickets(core)
    assert conversation.ticket_id == tickets[0].id and conversation.state == "resolved"
    assert "处理结果：排期已改回原方案" in channel.sent[-1][1]


async def test_two_issues_in_one_message_are_filed_one_after_the_other(core: Core) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    text = "「暑期档」的排期被你们擅自改了，电话13800138000。另外想问一下上季度的发票能一起开吗"
    await core.engine.receive(inbound(text, "m"))
    assert "您提到了两件事" in channel.sent[-1][1]
    await _answer_until_filed(core, channel, "m")
    # The same turn that files the first issue starts the second, with what the client said of it.
    assert "您说的新问题，我们单独为您登记" in channel.sent[-2][1] + channel.sent[-1][1]
    await _answer_until_filed(core, channel, "n")
    tickets, conversation = await _tickets(core)
    assert [t.category for t in tickets] == ["complaint", "inquiry"]
    assert "发票" not in tickets[0].details["description"]
    assert tickets[1].details["question"].startswith("另外想问一下上季度的发票")
    assert conversation.ticket_id == tickets[1].id and tickets[0].status == "classified"


async def test_a_message_in_a_thread_of_its_own_is_another_issue(core: Core) -> None:
    """A new mail (not a reply) after a ticket: another issue, whatever its words; a reply stays with the ticket."""
    channel = FakeChannel()
    core.registry.register(channel)
    await _file_complaint(core, channel)
    reply = InboundMessage(ref=ConversationRef("fake", "u1"), external_id="r1", text="今天的数据也不太对劲")
    await core.engine.receive(reply)
    assert "已将您的补充信息记录到工单" in channel.sent[-1][1]
    fresh = InboundMessage(
        ref=ConversationRef("fake", "u1"), external_id="t1", text="今天的数据也不太对劲", payload={"new_thread": True}
    )
    await core.engine.receive(fresh)
    assert "您说的新问题，我们单独为您登记" in channel.sent[-1][1]
    assert (await _tickets(core))[1].ticket_id is None
