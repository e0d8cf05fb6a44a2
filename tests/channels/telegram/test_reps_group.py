"""The reps' group: a topic per escalation with summary and transcript, mirroring, retries and the group's limit."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import httpx
import pytest
from aiogram import Bot
from pydantic import SecretStr
from sqlalchemy import func, select, update

from bots.telegram.ratelimit import RateLimiter
from bots.telegram.reps import RepsGroup
from bots.telegram.settings import TelegramSettings, telegram_config_problem
from bots.telegram.topics import TopicWriter
from core.clock import ManualClock
from core.db.models import Client, Conversation, TelegramPost, TelegramTopic, Ticket
from core.errors import ConfigError
from handlers.app import create_app
from handlers.services import Services
from tests.channels.telegram.conftest import CONSOLE, REPS_CHAT, TelegramClient, manual_sleep
from tests.channels.telegram.fake_api import FakeBotAPI
from tests.channels.telegram.test_ratelimit import most_in_window
from tests.support.chat import Chat, texts_of

TICKET_NO = re.compile(r"KF-\d{8}-\d{4}")


async def _handoff(telegram: TelegramClient, services: Services) -> tuple[int, str]:
    """A Telegram client asks for a person: the conversation and its ticket number."""
    await telegram.say("广告投放后台登录不了")
    reply = await telegram.say("/human")
    match = TICKET_NO.search(reply)
    assert match, reply
    async with services.db.transaction() as session:
        conversation_id = (await session.execute(select(Conversation.id))).scalar_one()
    return conversation_id, match.group(0)


async def _web_handoff(web: httpx.AsyncClient, services: Services) -> tuple[int, str]:
    """A web-chat client asks for a person (its replies never touch the Bot API): conversation, ticket number."""
    replies = texts_of(await Chat(web).send("人工"))
    match = TICKET_NO.search(replies)
    assert match, replies
    async with services.db.transaction() as session:
        conversation_id = (await session.execute(select(Conversation.id))).scalar_one()
    return conversation_id, match.group(0)


async def _posts(services: Services) -> list[TelegramPost]:
    async with services.db.transaction() as session:
        return list((await session.execute(select(TelegramPost).order_by(TelegramPost.id))).scalars())


async def _settle(reps: RepsGroup, services: Services, rounds: int = 20) -> None:
    """Deliver, moving the clock past every wait, until nothing is left to send."""
    clock = services.clock
    for _ in range(rounds):
        await reps.drain()
        await reps.deliver_due()
        posts = await _posts(services)
        if all(p.status in ("sent", "failed") for p in posts) and posts:
            return
        clock.advance(timedelta(seconds=61))  # type: ignore[attr-defined]
    raise AssertionError([(p.key, p.status, p.last_error) for p in await _posts(services)])


async def test_escalation_opens_a_topic_with_summary_and_transcript_then_mirrors(
    telegram: TelegramClient, reps: RepsGroup, fake_api: FakeBotAPI, services: Services
) -> None:
    conversation_id, number = await _handoff(telegram, services)
    # The engine's "escalated" live event opened the topic; hearing of it again changes nothing.
    await reps.escalated(conversation_id, reason="handoff", ticket_number=number)
    await _settle(reps, services)

    [created] = fake_api.of("createForumTopic")
    assert created.data["chat_id"] == str(REPS_CHAT)
    assert created.data["name"].startswith(f"{number} · ") and created.data["name"].endswith("· 小明 王")
    async with services.db.transaction() as session:
        topic = (await session.execute(select(TelegramTopic))).scalar_one()
        ticket = (await session.execute(select(Ticket))).scalar_one()
    assert topic.status == "open" and topic.thread_id is not None and topic.ticket_id == ticket.id
    posts = fake_api.in_chat(REPS_CHAT, topic.thread_id)
    summary, transcript = (c.data["text"] for c in posts)
    assert "客户要求转人工" in summary and number in summary and "小明 王" in summary
    assert f"{CONSOLE}/console/tickets/{number}" in summary and "/claim" in summary
    assert "客户：广告投放后台登录不了" in transcript and "客户：/human" in transcript
    assert "机器人：" in transcript and number in transcript
    # Nothing went anywhere but the topic; the client saw none of it.
    assert all(int(c.data["chat_id"]) in (REPS_CHAT, telegram.user["id"]) for c in fake_api.sends())

    # A later client message is mirrored into the topic, once.
    await telegram.say("补充：账号是 ad-778")
    await _settle(reps, services)
    mirrored = fake_api.in_chat(REPS_CHAT, topic.thread_id)[2:]
    assert [c.data["text"] for c in mirrored] == ["客户：补充：账号是 ad-778"]
    await reps.deliver_due()
    assert len(fake_api.in_chat(REPS_CHAT, topic.thread_id)) == 3


async def test_a_client_photo_is_shown_as_a_photo_in_the_topic(
    telegram: TelegramClient, reps: RepsGroup, fake_api: FakeBotAPI, services: Services
) -> None:
    await _handoff(telegram, services)
    await _settle(reps, services)
    photo = {"photo": [{"file_id": "ph-9", "file_unique_id": "u9", "width": 800, "height": 600}], "caption": "报错截图"}
    await telegram.send(telegram.message_update(**photo))
    await _settle(reps, services)
    [sent] = fake_api.of("sendPhoto")
    assert sent.data["photo"] == "ph-9" and sent.data["caption"] == "客户：报错截图 [图片]"
    assert int(sent.data["chat_id"]) == REPS_CHAT and "message_thread_id" in sent.data


async def test_two_escalations_racing_make_one_topic(
    web: httpx.AsyncClient, reps: RepsGroup, fake_api: FakeBotAPI, services: Services, bot: Bot
) -> None:
    await Chat(web).send("你好")
    async with services.db.transaction() as session:
        conversation_id = (await session.execute(select(Conversation.id))).scalar_one()
    # Another process's worker on the same database and group.
    other = RepsGroup(
        db=services.db,
        bot=bot,
        chat_id=REPS_CHAT,
        limiter=reps.limiter,
        clock=services.clock,
        writer=reps.writer,
        sleep=manual_sleep(services.clock),
    )
    ids = await asyncio.gather(
        *(
            group.escalated(conversation_id, reason=reason, ticket_number=None)
            for group, reason in ((reps, "handoff"), (other, "sla_breach"), (reps, "handoff"))
        )
    )
    assert len(set(ids)) == 1
    await other.drain()
    await _settle(reps, services)
    assert len(fake_api.of("createForumTopic")) == 1
    async with services.db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(TelegramTopic)) == 1


async def test_failed_sends_are_retried_and_nothing_is_lost_or_doubled(
    web: httpx.AsyncClient, reps: RepsGroup, fake_api: FakeBotAPI, services: Services
) -> None:
    # The topic creation meets a 502, then a 429, then succeeds; the first post meets a 502.
    fake_api.failures = [502, 429, 0, 502]
    fake_api.retry_after = 7
    await _web_handoff(web, services)
    await reps.drain()
    async with services.db.transaction() as session:
        topic = (await session.execute(select(TelegramTopic))).scalar_one()
    assert topic.status == "pending" and "unavailable" in (topic.last_error or "")
    await _settle(reps, services)
    assert len(fake_api.of("createForumTopic")) == 3
    # The summary was tried twice (the first answered 502), the transcript once, in that order.
    texts = [c.data["text"] for c in fake_api.in_chat(REPS_CHAT)]
    assert len(texts) == 3 and texts[0] == texts[1] and "客户要求转人工" in texts[0]
    assert texts[2].startswith("对话记录")
    posts = await _posts(services)
    assert [p.status for p in posts] == ["sent", "sent"]
    # The 429 cost no attempt; the 502 on the summary did.
    assert posts[0].attempts == 2


async def test_the_group_gets_at_most_twenty_messages_a_minute(
    telegram: TelegramClient, reps: RepsGroup, fake_api: FakeBotAPI, services: Services
) -> None:
    await _handoff(telegram, services)
    await _settle(reps, services)
    async with services.db.transaction() as session:
        topic = (await session.execute(select(TelegramTopic))).scalar_one()
    for i in range(40):
        await reps.say(topic.id, f"note:{i}", f"第 {i} 条")
    clock = services.clock
    for _ in range(10):
        await reps.drain()
        await reps.deliver_due()
        clock.advance(timedelta(seconds=20))  # type: ignore[attr-defined]
    group = fake_api.in_chat(REPS_CHAT)
    numbered = [c.data["text"] for c in group if c.data["text"].startswith("第 ")]
    assert numbered == [f"第 {i} 条" for i in range(40)], "all sent, in order, none twice"
    times = [
        c.at
        for c in fake_api.calls
        if c.method in ("sendMessage", "createForumTopic") and c.data["chat_id"] == str(REPS_CHAT)
    ]
    assert most_in_window(times, 60.0) <= 20
    assert most_in_window(times, 1.0) == 1


async def test_a_missing_forum_right_fails_visibly_without_retrying(
    web: httpx.AsyncClient, reps: RepsGroup, fake_api: FakeBotAPI, services: Services
) -> None:
    fake_api.failures = [400]
    await _web_handoff(web, services)
    await reps.drain()
    services.clock.advance(timedelta(minutes=30))  # type: ignore[attr-defined]
    await reps.deliver_due()
    async with services.db.transaction() as session:
        topic = (await session.execute(select(TelegramTopic))).scalar_one()
    assert topic.status == "failed" and "chat not found" in (topic.last_error or "")
    assert len(fake_api.of("createForumTopic")) == 1


async def test_a_tier_a_clients_complaint_with_buttons_opens_a_topic(
    telegram: TelegramClient, reps: RepsGroup, fake_api: FakeBotAPI, services: Services
) -> None:
    await telegram.say("/start")
    async with services.db.transaction() as session:
        await session.execute(update(Client).values(tier="A", name="李总", company="星河传媒"))
    await telegram.tap("投诉")
    await telegram.say("信息流广告的点击量突然掉了一半，效果太差了")
    await telegram.say("双十一信息流投放")
    await telegram.say("跳过")
    await telegram.say("希望补量或者退部分费用")
    await telegram.say("13800138000")
    opened = await telegram.tap("确认提交")
    number = TICKET_NO.search(opened)
    assert number, opened
    await _settle(reps, services)
    async with services.db.transaction() as session:
        topic = (await session.execute(select(TelegramTopic))).scalar_one()
    assert topic.reason == "tier_a_complaint" and topic.ticket_key == number.group(0)
    assert topic.name == f"{number.group(0)} · 投诉 · 李总（星河传媒）"
    summary = fake_api.in_chat(REPS_CHAT, topic.thread_id)[0].data["text"]
    assert "【A 类客户投诉】" in summary and "A 类客户" in summary
    assert "· 涉及项目/活动：双十一信息流投放" in summary and "· 联系电话：138****8000" in summary


async def test_an_sla_breach_on_a_quiet_ticket_opens_a_topic(
    telegram: TelegramClient, reps: RepsGroup, fake_api: FakeBotAPI, services: Services
) -> None:
    await telegram.say("/start")
    await telegram.tap("投诉")
    await telegram.say("信息流广告的点击量突然掉了一半，效果太差了")
    await telegram.say("双十一信息流投放")
    await telegram.say("跳过")
    await telegram.say("希望补量或者退部分费用")
    await telegram.say("13800138000")
    number = TICKET_NO.search(await telegram.tap("确认提交"))
    assert number
    await reps.drain()
    async with services.db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(TelegramTopic)) == 0, "a tier-C complaint waits"
    # Nobody answers for days: the first-response clock breaches and the conversation is escalated.
    for _ in range(6):
        services.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]
        await services.followups.run_due()
    await _settle(reps, services)
    async with services.db.transaction() as session:
        topic = (await session.execute(select(TelegramTopic))).scalar_one()
    assert topic.reason == "sla_breach" and topic.ticket_key == number.group(0)
    summary = fake_api.in_chat(REPS_CHAT, topic.thread_id)[0].data["text"]
    assert summary.startswith(f"【SLA 超时】工单 {number.group(0)}")


async def test_an_escalation_whose_event_was_lost_still_gets_its_topic(
    web: httpx.AsyncClient, bot: Bot, fake_api: FakeBotAPI, services: Services
) -> None:
    clock = services.clock
    assert isinstance(clock, ManualClock)
    fake_api.now = lambda: clock.now().timestamp()
    writer = TopicWriter(services.texts, language="zh", timezone=services.settings.timezone, console_url=CONSOLE)
    # No listener on the live bus: as if the process died between the engine's commit and the listener.
    reps = RepsGroup(
        db=services.db,
        bot=bot,
        chat_id=REPS_CHAT,
        limiter=RateLimiter(clock),
        clock=clock,
        writer=writer,
        sleep=manual_sleep(clock),
    )
    _, number = await _web_handoff(web, services)
    async with services.db.transaction() as session:
        assert (await session.execute(select(func.count()).select_from(TelegramTopic))).scalar_one() == 0
    await _settle(reps, services)
    [created] = fake_api.of("createForumTopic")
    assert created.data["name"].startswith(f"{number} · ")
    async with services.db.transaction() as session:
        topic = (await session.execute(select(TelegramTopic))).scalar_one()
    assert topic.ticket_key == number and topic.reason == "handoff" and topic.status == "open"


async def test_a_start_shows_as_a_greeting_in_the_transcript(
    telegram: TelegramClient, reps: RepsGroup, fake_api: FakeBotAPI, services: Services
) -> None:
    await telegram.say("/start")
    await _handoff(telegram, services)
    await _settle(reps, services)
    transcript = fake_api.in_chat(REPS_CHAT)[-1].data["text"]
    assert "客户：（客户打开了对话）" in transcript and "[event]" not in transcript


def test_a_reps_group_without_a_webhook_secret_refuses_to_start(services: Services) -> None:
    good = TelegramSettings(token=SecretStr("1:abc"), reps_chat_id=REPS_CHAT, secret=SecretStr("s3cret"))
    assert telegram_config_problem(good) is None
    assert telegram_config_problem(TelegramSettings(token=SecretStr("1:abc"))) is None, "polling needs no secret"
    broken = TelegramSettings(token=SecretStr("1:abc"), reps_chat_id=REPS_CHAT, secret=SecretStr(""))
    problem = telegram_config_problem(broken)
    assert problem is not None and "KEFU_TELEGRAM_SECRET" in problem
    services.telegram = broken
    with pytest.raises(ConfigError, match="KEFU_TELEGRAM_SECRET"):
        create_app(services.settings, services=services, background=False)
