"""End to end through the Bot API webhook: a complaint with inline buttons, redelivery, auth and bad bodies."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from aiogram.fsm.storage.memory import MemoryStorage
from sqlalchemy import select

from core.db.models import ChannelIdentity, Conversation, Message
from handlers.services import Services
from tests.channels.telegram.conftest import SECRET, USER_ID, TelegramClient
from tests.channels.telegram.fake_api import BOT_ID, FakeBotAPI

TICKET_NO = re.compile(r"KF-\d{8}-\d{4}")


async def test_complaint_with_inline_buttons_ends_with_a_ticket_number(
    telegram: TelegramClient, fake_api: FakeBotAPI, services: Services
) -> None:
    welcome = await telegram.say("/start ad_campaign_42")
    assert "请问您要办理哪类事项" in welcome, welcome
    labels = [b["text"] for row in fake_api.last_keyboard() for b in row]
    assert labels == ["咨询", "投诉", "建议", "其他"]
    # Short labels sit two to a row.
    assert [len(row) for row in fake_api.last_keyboard()] == [2, 2]

    reply = await telegram.tap("投诉")
    assert "【投诉】" in reply and "发生了什么问题" in reply, reply
    # The tap's spinner was stopped.
    assert len(fake_api.of("answerCallbackQuery")) == 1
    reply = await telegram.say("信息流广告的点击量突然掉了一半，效果太差了")
    assert "哪个广告项目" in reply, reply
    assert "什么时候开始" in await telegram.say("双十一信息流投放")
    assert "如何处理" in await telegram.say("跳过")
    assert "联系电话" in await telegram.say("希望补量或者退部分费用")
    summary = await telegram.say("13800138000")
    assert "请确认" in summary and "双十一信息流投放" in summary, summary
    opened = await telegram.tap("确认提交")
    assert TICKET_NO.search(opened), opened

    # Every reply went to the client's chat as plain text; every row of the outbox was sent.
    assert {c.data["chat_id"] for c in fake_api.sends()} == {str(USER_ID)}
    assert all("parse_mode" not in c.data for c in fake_api.sends())
    assert {r.status for r in await telegram.outbox_rows()} == {"sent"}
    async with services.db.transaction() as session:
        identity = (await session.execute(select(ChannelIdentity))).scalar_one()
        conversation = (await session.execute(select(Conversation))).scalar_one()
        first = (await session.execute(select(Message).order_by(Message.id))).scalars().first()
    assert (identity.channel, identity.account, identity.external_id) == ("telegram", str(BOT_ID), str(USER_ID))
    assert identity.display_name == "小明 王"
    assert conversation.language == "zh"
    assert conversation.ref["external_chat_id"] == str(USER_ID)
    assert first is not None and first.payload["start"] == "ad_campaign_42"


async def test_the_same_update_twice_is_processed_once(telegram: TelegramClient, fake_api: FakeBotAPI) -> None:
    update = telegram.message_update("你好")
    for _ in range(2):
        assert (await telegram.post(update)).status_code == 200
        await telegram.webhook.drain()
    assert await telegram.counts() == (1, 1)
    assert len(fake_api.sends()) == 1


async def test_the_same_callback_twice_is_processed_once(telegram: TelegramClient, fake_api: FakeBotAPI) -> None:
    await telegram.say("/start")
    tap = telegram.callback_update("cat:complaint")
    for _ in range(2):
        assert (await telegram.post(tap)).status_code == 200
        await telegram.webhook.drain()
    assert await telegram.counts() == (2, 2)
    assert len(fake_api.sends()) == 2
    # Both deliveries of the update answer the query, so the button never stays spinning.
    assert len(fake_api.of("answerCallbackQuery")) == 2


async def test_human_command_hands_over(telegram: TelegramClient) -> None:
    reply = await telegram.say("/human")
    assert "人工客服" in reply and TICKET_NO.search(reply), reply


async def test_help_shows_the_categories(telegram: TelegramClient, fake_api: FakeBotAPI) -> None:
    reply = await telegram.say("/help")
    assert "请问您要办理哪类事项" in reply
    assert fake_api.last_keyboard()


async def test_group_messages_are_ignored(telegram: TelegramClient, fake_api: FakeBotAPI) -> None:
    update = telegram.message_update("我要投诉")
    update["message"]["chat"] = {"id": -100123, "type": "supergroup", "title": "reps"}
    assert (await telegram.post(update)).status_code == 200
    await telegram.webhook.drain()
    assert await telegram.counts() == (0, 0)
    assert fake_api.sends() == []


class _CountingExecutor(ThreadPoolExecutor):
    """The event loop's default executor, noting every call handed to a worker thread (`asyncio.to_thread`)."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.calls: list[str] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.calls.append(repr(fn))
        return super().submit(fn, *args, **kwargs)


async def test_an_update_is_filtered_and_answered_without_a_worker_thread(telegram: TelegramClient) -> None:
    # aiogram runs any filter that is not a coroutine (magic filters too) in a worker thread: a hand-off per update.
    executor = _CountingExecutor()
    asyncio.get_running_loop().set_default_executor(executor)
    try:
        assert "请问您要办理哪类事项" in await telegram.say("你好")
        group = telegram.message_update("我要投诉")
        group["message"]["chat"] = {"id": -100123, "type": "supergroup", "title": "reps"}
        assert (await telegram.post(group)).status_code == 200
        await telegram.webhook.drain()
    finally:
        executor.shutdown()
    assert executor.calls == []


async def test_the_dispatcher_keeps_nothing_per_chat(telegram: TelegramClient) -> None:
    # aiogram's FSM (unused: conversations live in the database) would keep a record for every chat that wrote.
    await telegram.say("你好")
    await telegram.send(telegram.message_update("你好", chat={"id": 778, "type": "private"}))
    storage = telegram.webhook.dispatcher.storage
    assert isinstance(storage, MemoryStorage) and dict(storage.storage) == {}


async def test_a_private_message_goes_straight_to_kefu_and_the_rest_through_the_dispatcher(
    telegram: TelegramClient,
) -> None:
    # kefu's router takes every private message: the dispatcher's round of middlewares is skipped for those only.
    seen: list[str] = []

    async def noted(handler: Callable[..., Any], update: Any, data: dict[str, Any]) -> Any:
        seen.append("message" if update.message is not None else update.event_type)
        return await handler(update, data)

    telegram.webhook.dispatcher.update.outer_middleware(noted)
    assert "请问您要办理哪类事项" in await telegram.say("你好")
    assert seen == []
    group = telegram.message_update("我要投诉")
    group["message"]["chat"] = {"id": -100123, "type": "supergroup", "title": "reps"}
    assert (await telegram.post(group)).status_code == 200
    assert "【投诉】" in await telegram.tap("投诉")
    assert seen == ["message", "callback_query"]


async def test_wrong_or_missing_secret_is_401_and_nothing_is_stored(
    telegram: TelegramClient, fake_api: FakeBotAPI
) -> None:
    for secret in ("not-the-secret", None, SECRET + "x", ""):
        response = await telegram.post(telegram.message_update("我要投诉"), secret=secret)
        assert response.status_code == 401, secret
    await telegram.webhook.drain()
    assert await telegram.counts() == (0, 0)
    assert fake_api.calls == []


async def test_bad_bodies_are_refused(telegram: TelegramClient, fake_api: FakeBotAPI, services: Services) -> None:
    assert (await telegram.post(b"{not json")).status_code == 400
    assert (await telegram.post(b"[1, 2]")).status_code == 400
    # Valid JSON that is no update (update_id missing).
    assert (await telegram.post({"message": {"text": "hi"}})).status_code == 400
    big = json.dumps(telegram.message_update("x" * (services.settings.max_body_bytes + 1))).encode()
    assert (await telegram.post(big)).status_code == 413
    assert await telegram.counts() == (0, 0)
    assert fake_api.calls == []


async def test_background_deliveries_are_bounded_and_one_waits_per_conversation(
    telegram: TelegramClient, fake_api: FakeBotAPI, services: Services
) -> None:
    receiver = telegram.webhook.receiver
    # Every slot is taken: the deliveries of the turns below have to wait.
    slots = receiver._delivery_slots
    held = 0
    while not slots.locked():
        await slots.acquire()
        held += 1
    first = telegram.message_update("你好")
    second = telegram.message_update("我要投诉")
    for update in (first, second):
        assert (await telegram.post(update)).status_code == 200
    # Both turns committed. The first one's reply was written claimed and has its own delivery; the second's,
    # behind it, waits for the conversation: a third turn does not add another.
    assert len(receiver._waiting) == 1 and len(receiver._tasks) == 2
    third = telegram.message_update("双十一活动")
    assert (await telegram.post(third)).status_code == 200
    assert len(receiver._waiting) == 1 and len(receiver._tasks) == 2
    assert fake_api.sends() == []
    for _ in range(held):
        slots.release()
    await telegram.webhook.drain()
    # Every reply once, in order.
    assert len(fake_api.sends()) == 3
    assert {r.status for r in await telegram.outbox_rows()} == {"sent"}


async def test_an_id_beyond_64_bits_is_acknowledged_once_and_stores_nothing(
    telegram: TelegramClient, fake_api: FakeBotAPI
) -> None:
    huge = int("9" * 201)
    for update in (
        telegram.message_update("我要投诉", **{"from": {"id": huge, "is_bot": False, "first_name": "x"}}),
        telegram.message_update("我要投诉", chat={"id": huge, "type": "private"}),
        {"update_id": huge, "message": telegram.message_update("你好")["message"]},
    ):
        # 200: Telegram does not deliver it again; nothing could store it, so nothing is stored.
        assert (await telegram.post(update)).status_code == 200
    await telegram.webhook.drain()
    assert await telegram.counts() == (0, 0)
    assert fake_api.calls == []
