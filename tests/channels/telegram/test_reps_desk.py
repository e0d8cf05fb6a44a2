"""End to end: a WeChat client escalates, the topic appears in the reps' group, reps work it from Telegram."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from aiogram import Bot
from sqlalchemy import select

from bots.telegram.reps import RepsGroup
from bots.telegram.webhook import SECRET_HEADER, TelegramWebhook
from bots.wechat.channel import WeChatChannel
from bots.wechat.routes import WeChatWebhook
from core.access import may_work_on
from core.channel_state import ChannelStateStore
from core.db.models import (
    Conversation,
    Department,
    TelegramPost,
    TelegramTopic,
    Ticket,
    TicketEvent,
    User,
    UserDepartment,
)
from handlers.app import create_app, telegram_rep_routers
from handlers.services import Services
from handlers.user_cli import link_telegram
from tests.channels.telegram.conftest import REPS_CHAT, SECRET
from tests.channels.telegram.fake_api import FakeBotAPI
from tests.channels.wechat.conftest import WeChatServer, make_account
from tests.channels.wechat.fake_api import FakeWeChatAPI
from tests.support.desk_setup import Staff, create_staff

REP_TG, OTHER_REP_TG, STRANGER_TG, CS_ONLY_TG = 7_001, 7_002, 7_999, 7_003
_IDS = itertools.count(50_000)


@pytest.fixture
def wechat_api() -> Iterator[FakeWeChatAPI]:
    api = FakeWeChatAPI()
    api.start()
    yield api
    api.stop()


class Desk:
    """The reps' group as Telegram delivers it to the webhook, beside a WeChat follower."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        services: Services,
        reps: RepsGroup,
        tg: FakeBotAPI,
        wechat: WeChatServer,
        wechat_api: FakeWeChatAPI,
        staff: Staff,
    ) -> None:
        self.http = http
        self.services = services
        self.reps = reps
        self.tg = tg
        self.wechat = wechat
        self.wechat_api = wechat_api
        self.staff = staff

    async def settle(self) -> None:
        """Let the group's posts go out, moving the clock over the group's limits."""
        for _ in range(30):
            await self.reps.drain()
            await self.reps.deliver_due()
            async with self.services.db.transaction() as session:
                waiting = (
                    await session.execute(
                        select(TelegramPost.id).where(TelegramPost.status.in_(("pending", "sending")))
                    )
                ).first()
                pending_topic = (
                    await session.execute(select(TelegramTopic.id).where(TelegramTopic.status == "pending"))
                ).first()
            if waiting is None and pending_topic is None:
                return
            self.services.clock.advance(timedelta(seconds=5))  # type: ignore[attr-defined]
        raise AssertionError("reps group posts did not settle")

    async def topic(self) -> TelegramTopic:
        async with self.services.db.transaction() as session:
            return (await session.execute(select(TelegramTopic))).scalar_one()

    async def topic_texts(self) -> list[str]:
        thread = (await self.topic()).thread_id
        return [str(c.data.get("text") or c.data.get("caption")) for c in self.tg.in_chat(REPS_CHAT, thread)]

    async def rep_says(self, text: str, *, telegram_user_id: int = REP_TG, thread_id: int | None = None) -> str | None:
        """A person posts in the topic; the bot's answer in the topic (None when it answers nothing)."""
        before = len(await self.topic_texts())
        thread = thread_id if thread_id is not None else (await self.topic()).thread_id
        update = self.group_update(text, telegram_user_id, thread)
        response = await self.post(update)
        assert response.status_code == 200, response.text
        await self.settle()
        texts = await self.topic_texts()
        return texts[-1] if len(texts) > before else None

    def group_update(self, text: str, telegram_user_id: int, thread: int | None) -> dict[str, Any]:
        return {
            "update_id": next(_IDS),
            "message": {
                "message_id": next(_IDS),
                "date": int(self.services.clock.now().timestamp()),
                "chat": {"id": REPS_CHAT, "type": "supergroup", "title": "客服组", "is_forum": True},
                "from": {"id": telegram_user_id, "is_bot": False, "first_name": f"rep{telegram_user_id}"},
                "message_thread_id": thread,
                "is_topic_message": True,
                "text": text,
            },
        }

    async def post(self, update: dict[str, Any], secret: str = SECRET) -> httpx.Response:
        return await self.http.post("/telegram", json=update, headers={SECRET_HEADER: secret})

    async def ticket(self) -> Ticket:
        async with self.services.db.transaction() as session:
            return (await session.execute(select(Ticket))).scalar_one()

    async def conversation(self) -> Conversation:
        async with self.services.db.transaction() as session:
            return (await session.execute(select(Conversation))).scalar_one()


@pytest.fixture
async def desk(
    services: Services, reps: RepsGroup, fake_api: FakeBotAPI, bot: Bot, wechat_api: FakeWeChatAPI
) -> AsyncIterator[Desk]:
    staff = await create_staff(services, reps=3)
    # The escalations here mention 投放 and go to 媒介部: rep0 and rep1 work media tickets too, rep2 only cs.
    async with services.db.transaction() as session:
        media = (await session.execute(select(Department.id).where(Department.code == "media"))).scalar_one()
        session.add_all(UserDepartment(user_id=rep, department_id=media) for rep in staff.reps[:2])
    await link_telegram(services.db, "rep0", REP_TG)
    await link_telegram(services.db, "rep1", OTHER_REP_TG)
    await link_telegram(services.db, "rep2", CS_ONLY_TG)
    account = make_account(wechat_api)
    store = ChannelStateStore(services.db, services.clock)
    services.registry.register(WeChatChannel(account, store, media_dir=services.settings.media_dir))
    app = create_app(services.settings, services=services, background=False)
    wechat_webhook = WeChatWebhook(
        engine=services.engine,
        dispatcher=services.dispatcher,
        account=account,
        max_body_bytes=services.settings.max_body_bytes,
    )
    telegram_webhook = TelegramWebhook(
        engine=services.engine,
        bot=bot,
        secret=SECRET,
        max_body_bytes=services.settings.max_body_bytes,
        extra_routers=telegram_rep_routers(services),
    )
    app.include_router(wechat_webhook.router())
    app.include_router(telegram_webhook.router())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        wechat = WeChatServer(http, services, wechat_webhook, account)
        yield Desk(http, services, reps, fake_api, wechat, wechat_api, staff)
        await wechat_webhook.drain()
        await telegram_webhook.drain()


async def _escalated_wechat_client(desk: Desk) -> None:
    await desk.wechat.say("投放的广告三天没有展示了")
    reply = await desk.wechat.say("人工")
    assert reply is not None and "人工客服" in reply, reply
    await desk.wechat.webhook.drain()
    await desk.settle()


async def test_a_wechat_escalation_becomes_a_topic_and_reps_work_it_from_telegram(desk: Desk) -> None:
    await _escalated_wechat_client(desk)
    topic = await desk.topic()
    ticket = await desk.ticket()
    assert topic.status == "open" and topic.ticket_id == ticket.id and topic.reason == "handoff"
    [created] = desk.tg.of("createForumTopic")
    assert created.data["name"].startswith(ticket.number + " · ")
    summary, transcript = await desk.topic_texts()
    assert ticket.number in summary and "渠道：wechat" in summary
    assert "客户：投放的广告三天没有展示了" in transcript and "客户：人工" in transcript

    # The client writes again: mirrored into the topic.
    await desk.wechat.say("广告账户是 88-1234")
    await desk.wechat.webhook.drain()
    await desk.settle()
    assert (await desk.topic_texts())[-1] == "客户：广告账户是 88-1234"

    # A rep answers in the topic: the client gets it through WeChat's customer-service API.
    sent_before = len(desk.wechat_api.sent_texts())
    assert await desk.rep_says("您好，我是客服0，正在为您排查投放状态。") is None
    wechat_texts = desk.wechat_api.sent_texts()[sent_before:]
    assert "您好，我是客服0，正在为您排查投放状态。" in wechat_texts
    conversation = await desk.conversation()
    assert conversation.holder_user_id == desk.staff.reps[0], "a reply claims the conversation"
    assert (await desk.ticket()).first_response_at is not None

    # /note stays inside: recorded on the ticket, never sent to the client.
    sent_before = len(desk.wechat_api.sent_texts())
    assert await desk.rep_says("/note 客户后台预算已用完，待确认是否续费") == "已记录内部备注（不会发给客户）。"
    assert desk.wechat_api.sent_texts()[sent_before:] == []
    async with desk.services.db.transaction() as session:
        notes = (await session.execute(select(TicketEvent).where(TicketEvent.kind == "note"))).scalars().all()
    assert [n.data["text"] for n in notes] == ["客户后台预算已用完，待确认是否续费"]
    assert notes[0].actor == f"user:{desk.staff.reps[0]}"

    # Another rep cannot take it over.
    assert await desk.rep_says("/claim", telegram_user_id=OTHER_REP_TG) == "已由 客服0 处理。"
    assert await desk.rep_says("我来回复", telegram_user_id=OTHER_REP_TG) == "已由 客服0 处理。"
    assert "我来回复" not in desk.wechat_api.sent_texts()

    # Somebody in the group who is no linked rep cannot act, and is told so.
    refused = await desk.rep_says("/resolve 已处理", telegram_user_id=STRANGER_TG)
    assert refused is not None and "只有已登记的客服" in refused and str(STRANGER_TG) in refused
    assert (await desk.ticket()).status == "investigating"

    # Resolving tells the client; closing needs the root cause and the improvement.
    sent_before = len(desk.wechat_api.sent_texts())
    assert (
        await desk.rep_says("/resolve 预算已续费，广告已恢复展示") == "已标记为已解决，客户会收到处理结果和满意度评价。"
    )
    assert any("预算已续费，广告已恢复展示" in t for t in desk.wechat_api.sent_texts()[sent_before:])
    missing = await desk.rep_says("/close 预算用完未提醒")
    assert missing == "用法：/close 原因总结 | 改进措施"
    closed = await desk.rep_says("/close 预算用完未提醒客户 | 预算低于 10% 时自动提醒客户和客服")
    assert closed == f"工单 {ticket.number} 已关闭。"
    final = await desk.ticket()
    assert final.status == "closed" and final.improvement == "预算低于 10% 时自动提醒客户和客服"
    assert final.root_cause == "预算用完未提醒客户"


async def test_release_and_transfer_from_the_topic(desk: Desk) -> None:
    await _escalated_wechat_client(desk)
    assert await desk.rep_says("/claim") == "已认领，由 客服0 接待。"
    assert (await desk.conversation()).holder_user_id == desk.staff.reps[0]
    assert await desk.rep_says("/claim") == "已认领，由 客服0 接待。", "claiming again is harmless"
    assert await desk.rep_says("/release") == "已交还机器人。"
    assert (await desk.conversation()).holder_user_id is None
    assert await desk.rep_says("/transfer") == "用法：/transfer 部门代码"
    unknown = await desk.rep_says("/transfer nowhere")
    assert unknown is not None and unknown.startswith("找不到对应的部门")
    unknown_command = await desk.rep_says("/frobnicate")
    assert unknown_command is not None and unknown_command.startswith("未知命令")
    ticket = await desk.ticket()
    assert await desk.rep_says("/transfer cs") == "已转至部门 客户服务部。"
    assert (await desk.ticket()).department_id != ticket.department_id


async def test_the_same_rep_update_twice_acts_once_and_a_wrong_secret_stores_nothing(desk: Desk) -> None:
    await _escalated_wechat_client(desk)
    topic = await desk.topic()
    update = desk.group_update("请稍等，正在处理。", REP_TG, topic.thread_id)
    sent_before = len(desk.wechat_api.sent_texts())
    for _ in range(2):
        assert (await desk.post(update)).status_code == 200
    await desk.settle()
    assert desk.wechat_api.sent_texts()[sent_before:].count("请稍等，正在处理。") == 1

    note = desk.group_update("/note 不该被记录", REP_TG, topic.thread_id)
    assert (await desk.post(note, secret="wrong")).status_code == 401
    async with desk.services.db.transaction() as session:
        notes = (await session.execute(select(TicketEvent).where(TicketEvent.kind == "note"))).scalars().all()
    assert notes == []


async def test_commands_outside_a_known_topic(desk: Desk) -> None:
    await _escalated_wechat_client(desk)
    before = len(desk.tg.sends())
    # The general topic (no thread) is the reps' own chat: ignored.
    assert (await desk.post(desk.group_update("大家好", REP_TG, None))).status_code == 200
    assert len(desk.tg.sends()) == before
    # A command in a thread kefu does not know gets an answer there (a moment later: the group's 1/s).
    desk.services.clock.advance(timedelta(seconds=3))  # type: ignore[attr-defined]
    assert (await desk.post(desk.group_update("/claim", REP_TG, 999_999))).status_code == 200
    assert desk.tg.sends()[-1].data["text"] == "这个话题没有关联的客户会话。"


async def test_a_colleague_cannot_resolve_or_close_a_ticket_another_rep_holds(desk: Desk) -> None:
    await _escalated_wechat_client(desk)
    assert await desk.rep_says("/claim") == "已认领，由 客服0 接待。"
    for command in ("/resolve 我来处理", "/close 原因 | 改进"):
        refused = await desk.rep_says(command, telegram_user_id=OTHER_REP_TG)
        assert refused == "已由 客服0 处理。", (command, refused)
    ticket = await desk.ticket()
    assert ticket.status not in ("resolved", "closed") and ticket.solution is None
    # The holder may.
    assert (await desk.rep_says("/resolve 预算已续费")) == "已标记为已解决，客户会收到处理结果和满意度评价。"


async def test_a_rep_outside_the_tickets_department_is_refused_in_the_topic_as_in_the_console(desk: Desk) -> None:
    await _escalated_wechat_client(desk)
    ticket = await desk.ticket()
    async with desk.services.db.transaction() as session:
        department = await session.get(Department, ticket.department_id)
        assert department is not None and department.code == "media"
        cs_rep = (await session.execute(select(User).where(User.username == "rep2"))).scalar_one()
    # The rule the console answers 403 with (handlers.console.access delegates to it).
    assert not may_work_on(
        user_id=cs_rep.id,
        role=cs_rep.role,
        departments=frozenset({cs_rep.department_id or 0}),
        department_id=ticket.department_id,
        assignee_id=ticket.assignee_id,
        holder=None,
    )
    sent_before = len(desk.wechat_api.sent_texts())
    for text in ("我来回复", "/note 内部", "/claim", "/resolve 好了", "/close 原因 | 改进", "/transfer cs"):
        refused = await desk.rep_says(text, telegram_user_id=CS_ONLY_TG)
        assert refused is not None and refused.startswith("这张工单不属于您的部门"), (text, refused)
    assert desk.wechat_api.sent_texts()[sent_before:] == []
    after = await desk.ticket()
    assert after.status == ticket.status and after.department_id == ticket.department_id
    async with desk.services.db.transaction() as session:
        notes = (await session.execute(select(TicketEvent).where(TicketEvent.kind == "note"))).scalars().all()
    assert notes == [] and (await desk.conversation()).holder_user_id is None


async def test_a_closed_tickets_topic_sends_nothing_and_offers_to_reopen(desk: Desk) -> None:
    await _escalated_wechat_client(desk)
    number = (await desk.ticket()).number
    assert await desk.rep_says("/resolve 预算已续费")
    assert await desk.rep_says("/close 预算用完 | 自动提醒") == f"工单 {number} 已关闭。"
    sent_before = len(desk.wechat_api.sent_texts())
    answer = await desk.rep_says("还有别的问题吗？")
    assert answer is not None and f"工单 {number} 已关闭" in answer and "/reopen" in answer
    assert desk.wechat_api.sent_texts()[sent_before:] == []
    conversation = await desk.conversation()
    assert conversation.holder_user_id is None and conversation.state == "closed" and conversation.ticket_id is None
    # Reopened visibly: the ticket is the conversation's issue again and the rep's words reach the client.
    assert await desk.rep_says("/reopen") == f"工单 {number} 已重新打开，状态为处理中。"
    reopened = await desk.ticket()
    assert reopened.status == "investigating" and reopened.reopen_count == 1
    assert (await desk.conversation()).ticket_id == reopened.id
    assert await desk.rep_says("我们继续跟进。") is None
    assert "我们继续跟进。" in desk.wechat_api.sent_texts()[sent_before:]


async def test_the_summary_shows_no_internal_names_and_status_in_chinese(desk: Desk) -> None:
    await _escalated_wechat_client(desk)
    summary = (await desk.topic_texts())[0]
    assert "first_message" not in summary and "investigating" not in summary and "classified" not in summary
    assert "状态：" in summary
