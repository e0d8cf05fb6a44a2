"""Whole conversations through the web channel's HTTP interface, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from sqlalchemy import func, select

from core.clock import ManualClock
from core.db.models import Conversation, Message, OutboxMessage, Ticket, TicketEvent
from handlers.app import create_app
from handlers.services import Services, build_services
from tests.support.chat import TICKET_NO, Chat, texts_of


async def _ticket(services: Services, number: str) -> Ticket:
    async with services.db.transaction() as session:
        ticket = (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one()
        return ticket


async def test_greeting_offers_categories_as_buttons(web: httpx.AsyncClient) -> None:
    chat = Chat(web)
    replies = await chat.send("你好")
    assert len(replies) == 1
    assert "您好" in replies[0]["text"]
    assert [b["label"] for b in replies[0]["buttons"]] == ["咨询", "投诉", "建议", "其他"]


async def test_complaint_with_slots_correction_and_confirmation(web: httpx.AsyncClient, services: Services) -> None:
    chat = Chat(web)
    replies = await chat.send("你们投放的信息流广告效果太差了，我要投诉")
    text = texts_of(replies)
    assert "投诉" in text
    # The first message is long enough to stand as the description, so the next question is the project.
    assert "哪个广告项目" in text
    assert "双十一" not in text
    replies = await chat.send("双十一信息流投放")
    assert "什么时候开始" in texts_of(replies)
    replies = await chat.send("跳过")
    assert "如何处理" in texts_of(replies)
    replies = await chat.send("希望补量或者退部分费用")
    assert "联系电话" in texts_of(replies)
    replies = await chat.send("12345")
    assert "号码好像不正确" in texts_of(replies)
    replies = await chat.send("138 0013 8000")
    summary = texts_of(replies)
    assert "请确认" in summary and "13800138000" in summary and "双十一信息流投放" in summary
    # Correct the project, then confirm.
    replies = await chat.click("修改")
    assert "要修改的项目" in texts_of(replies)
    replies = await chat.click("涉及项目/活动")
    assert "哪个广告项目" in texts_of(replies)
    replies = await chat.send("双十二开屏广告")
    summary = texts_of(replies)
    assert "双十二开屏广告" in summary and "双十一信息流投放" not in summary
    replies = await chat.click("确认提交")
    opened = texts_of(replies)
    match = TICKET_NO.search(opened)
    assert match, opened
    assert re.search(r"\d+ (小时|分钟|天)内（工作时间）首次回复", opened), opened
    ticket = await _ticket(services, match.group(0))
    assert ticket.category == "complaint"
    assert ticket.status == "classified"
    assert ticket.details["project"] == "双十二开屏广告"
    assert ticket.details["phone"] == "13800138000"
    assert ticket.details["since"] is None
    assert ticket.first_response_due is not None and ticket.resolution_due is not None
    async with services.db.transaction() as session:
        kinds = (await session.execute(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id))).scalars()
        assert list(kinds) == ["received", "classified"]


async def test_inquiry_with_choice_buttons(web: httpx.AsyncClient, services: Services) -> None:
    chat = Chat(web)
    # Words of two topics as many times each (信息流, 收费): the client picks one.
    replies = await chat.send("请问你们的信息流广告怎么收费？")
    assert "咨询" in texts_of(replies)
    assert [b["label"] for b in replies[-1]["buttons"]][:2] == ["投放与效果", "报价与合同"]
    replies = await chat.click("报价与合同")
    assert "请确认" in texts_of(replies)
    replies = await chat.click("确认提交")
    number = TICKET_NO.search(texts_of(replies))
    assert number
    ticket = await _ticket(services, number.group(0))
    assert ticket.category == "inquiry"
    assert ticket.details["topic"] == "报价与合同"
    assert "怎么收费" in ticket.details["question"]


async def test_suggestion_is_prefilled_from_first_message(web: httpx.AsyncClient, services: Services) -> None:
    chat = Chat(web)
    replies = await chat.send("建议你们的投放报表能增加按小时的数据")
    assert "建议" in texts_of(replies)
    assert "联系方式" in texts_of(replies)
    replies = await chat.send("跳过")
    assert "请确认" in texts_of(replies)
    replies = await chat.click("确认提交")
    number = TICKET_NO.search(texts_of(replies))
    assert number
    assert (await _ticket(services, number.group(0))).category == "suggestion"


async def test_unclear_message_asks_for_category_and_accepts_a_number(web: httpx.AsyncClient) -> None:
    chat = Chat(web)
    await chat.send("你好")
    replies = await chat.send("3")
    # "3" picks the third offered option, 建议, even on a channel that shows buttons.
    assert "【建议】" in texts_of(replies)


async def test_handoff_from_any_state_opens_a_ticket_in_the_queue(web: httpx.AsyncClient, services: Services) -> None:
    chat = Chat(web)
    await chat.send("我要投诉你们的投放效果")
    replies = await chat.send("转人工")
    text = texts_of(replies)
    assert "人工客服" in text
    number = TICKET_NO.search(text)
    assert number
    ticket = await _ticket(services, number.group(0))
    assert ticket.handoff is True
    assert ticket.category == "complaint"
    async with services.db.transaction() as session:
        conversation = await session.get(Conversation, ticket.conversation_id)
        assert conversation is not None and conversation.state == "human_queue"


async def test_rep_claim_silences_the_bot_and_resolve_starts_feedback(
    web: httpx.AsyncClient, services: Services, clock: ManualClock
) -> None:
    chat = Chat(web)
    await chat.send("人工")
    async with services.db.transaction() as session:
        conversation_id = (await session.execute(select(Conversation.id))).scalar_one()
        from core.db.models import User

        user = User(username="li", display_name="小李", role="rep", created_at=clock.now())
        session.add(user)
        await session.flush()
        user_id = user.id
    await services.engine.claim(conversation_id, user_id)
    assert "客服 小李 为您服务" in texts_of(await chat.replies())
    assert await chat.send("在吗？") == []
    await services.engine.resolve(conversation_id, "已为您补充投放 1 万次曝光", actor=f"user:{user_id}")
    assert "已为您补充投放" in texts_of(await chat.replies())
    await services.followups.run_due()
    assert await chat.replies() == [], "the satisfaction prompt waits 30 minutes"
    clock.advance(timedelta(minutes=31))
    await services.followups.run_due()
    replies = await chat.replies()
    assert "打分" in texts_of(replies)
    replies = await chat.send("5")
    assert "感谢您的评价" in texts_of(replies)
    assert "已记录您的意见" in texts_of(await chat.send("服务很及时"))
    async with services.db.transaction() as session:
        ticket = (await session.execute(select(Ticket))).scalar_one()
        assert ticket.satisfaction == 5 and ticket.status == "feedback" and ticket.solution
        assert ticket.resolved_by_id == user_id
        comments = await session.execute(
            select(TicketEvent.data).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "feedback_comment")
        )
        assert [c["text"] for c in comments.scalars()] == ["服务很及时"]
        assert (await session.execute(select(Conversation.state))).scalar_one() == "closed"


async def test_repeated_external_id_is_stored_and_answered_once(web: httpx.AsyncClient, services: Services) -> None:
    chat = Chat(web)
    first = await chat.post("你好", msg_id="same-id")
    second = await chat.post("你好", msg_id="same-id")
    assert first.json()["status"] == "accepted"
    assert second.json()["status"] == "duplicate"
    async with services.db.transaction() as session:
        inbound = await session.execute(select(func.count()).select_from(Message).where(Message.direction == "in"))
        outbound = await session.execute(select(func.count()).select_from(OutboxMessage))
        assert inbound.scalar_one() == 1
        assert outbound.scalar_one() == 1


async def test_restart_in_the_middle_of_slot_filling_resumes(services: Services, clock: ManualClock) -> None:
    app = create_app(services.settings, services=services, background=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        chat = Chat(client)
        assert "哪个广告项目" in texts_of(await chat.send("广告效果太差了，完全没有转化，我要投诉"))
        assert "什么时候开始" in texts_of(await chat.send("618 开屏"))
        cookies = dict(client.cookies)
        seen = chat.seen
    await services.stop()

    # A new process: new services on the same database, the same visitor cookie.
    again = build_services(services.settings, clock)
    await again.start(migrate=False)
    try:
        app2 = create_app(again.settings, services=again, background=False)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app2), base_url="http://t", cookies=cookies
        ) as client2:
            chat2 = Chat(client2)
            chat2.seen = seen
            replies = await chat2.send("上周开始")
            assert "如何处理" in texts_of(replies)
    finally:
        await again.stop()


async def test_empty_oversize_and_unknown_input_are_answered_politely(
    web: httpx.AsyncClient, services: Services
) -> None:
    chat = Chat(web)
    assert "没有收到内容" in texts_of(await chat.send("   "))
    assert "消息太长" in texts_of(await chat.send("长" * 4001))
    async with services.db.transaction() as session:
        stored = (await session.execute(select(Message).where(Message.direction == "in"))).scalars().all()
        # The oversize text is kept up to the limit, with its full length noted; never stored whole.
        long = next(m for m in stored if (m.text or "").startswith("长"))
        assert long.text == "长" * 4000 and long.payload["text_chars"] == 4001
        state = (await session.execute(select(Conversation.state))).scalar_one()
        assert state == "new"


async def test_bad_requests_get_clear_errors(web: httpx.AsyncClient) -> None:
    bad_json = await web.post("/api/chat/messages", content=b"{not json", headers={"content-type": "application/json"})
    assert bad_json.status_code == 400 and "JSON" in bad_json.json()["error"]
    not_object = await web.post("/api/chat/messages", json=[1, 2])
    assert not_object.status_code == 400
    no_id = await web.post("/api/chat/messages", json={"text": "hi"})
    assert no_id.status_code == 400 and "client_msg_id" in no_id.json()["error"]
    huge = await web.post("/api/chat/messages", json={"client_msg_id": "x", "text": "a" * 300_000})
    assert huge.status_code == 413
    form = await web.post("/api/chat/messages", data={"text": "hi"})
    assert form.status_code == 415
    deep = await web.post(
        "/api/chat/messages", content=b"[" * 100_000 + b"]" * 100_000, headers={"content-type": "application/json"}
    )
    assert deep.status_code in (400, 413)


async def test_idle_reminder_then_abandon(web: httpx.AsyncClient, services: Services, clock: ManualClock) -> None:
    chat = Chat(web)
    await chat.send("我要投诉")
    clock.advance(timedelta(minutes=31))
    await services.followups.run_due()
    assert "您还在吗" in texts_of(await chat.replies())
    clock.advance(timedelta(hours=24))
    await services.followups.run_due()
    assert "本次登记已结束" in texts_of(await chat.replies())
    async with services.db.transaction() as session:
        assert (await session.execute(select(Conversation.state))).scalar_one() == "closed"


async def test_answering_makes_older_idle_timers_stale(
    web: httpx.AsyncClient, services: Services, clock: ManualClock
) -> None:
    chat = Chat(web)
    await chat.send("我要投诉")
    clock.advance(timedelta(minutes=8))
    await chat.send("信息流广告一直没有曝光")
    clock.advance(timedelta(minutes=5))
    await services.followups.run_due()
    # The first reminder (due 10 min after the first message) is stale: the client answered since.
    assert await chat.replies() == []
    clock.advance(timedelta(minutes=6))
    await services.followups.run_due()
    assert "您还在吗" in texts_of(await chat.replies())


async def test_english_conversation(web: httpx.AsyncClient) -> None:
    response = await web.post("/api/chat/messages", json={"client_msg_id": "e1", "text": "hello", "lang": "en"})
    assert response.status_code == 200
    history = (await web.get("/api/chat/history")).json()["messages"]
    reply = history[-1]
    assert reply["direction"] == "out" and reply["text"].startswith("Hello")
    assert [b["label"] for b in reply["buttons"]] == ["Inquiry", "Complaint", "Suggestion", "Other"]
    config = (await web.get("/api/chat/config", params={"lang": "en"})).json()
    assert config["lang"] == "en" and config["texts"]["send"] == "Send"
    assert (await web.get("/api/chat/config")).json()["texts"]["send"] == "发送"


async def test_category_picked_mid_form_restarts_with_that_category(web: httpx.AsyncClient) -> None:
    chat = Chat(web)
    await chat.send("我要投诉")
    replies = await chat.send("", button="cat:suggestion")
    assert "【建议】" in texts_of(replies)
