"""Fixtures of the Telegram tests: a fake Bot API and a simulated Telegram client posting webhook updates."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from aiogram import Bot
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import func, select

from bots.telegram.channel import TelegramChannel
from bots.telegram.media import TelegramMedia
from bots.telegram.ratelimit import RateLimiter
from bots.telegram.reps import RepsGroup
from bots.telegram.settings import TelegramSettings
from bots.telegram.topics import TopicWriter
from bots.telegram.webhook import SECRET_HEADER, TelegramWebhook
from core.clock import ManualClock
from core.db.models import Message, OutboxMessage
from core.media import MediaStore
from handlers.app import create_app
from handlers.services import Services
from tests.channels.telegram.fake_api import BOT_ID, TOKEN, FakeBotAPI

SECRET = "kefu-telegram-secret_0123456789"
USER_ID = 555_000_111
_IDS = itertools.count(1_000)


@pytest.fixture
def fake_api() -> Iterator[FakeBotAPI]:
    api = FakeBotAPI()
    api.start()
    yield api
    api.stop()


def make_settings(fake_api: FakeBotAPI, **overrides: Any) -> TelegramSettings:
    values: dict[str, Any] = {
        "token": SecretStr(TOKEN),
        "secret": SecretStr(SECRET),
        "api_base": fake_api.base,
        "api_timeout_seconds": 2.0,
    }
    values.update(overrides)
    return TelegramSettings(**values)


@pytest.fixture
async def bot(fake_api: FakeBotAPI) -> AsyncIterator[Bot]:
    made = make_settings(fake_api).bot()
    yield made
    await made.session.close()


def manual_sleep(clock: ManualClock) -> Any:
    """The channel's sleep on a manual clock: time moves, nothing waits."""

    async def sleep(seconds: float) -> None:
        clock.advance(timedelta(seconds=seconds))

    return sleep


class TelegramClient:
    """Plays Telegram's side of the webhook for one private chat: updates in, the bot's messages out."""

    def __init__(self, http: httpx.AsyncClient, services: Services, webhook: TelegramWebhook, api: FakeBotAPI):
        self.http = http
        self.services = services
        self.webhook = webhook
        self.api = api
        self.user = {
            "id": USER_ID,
            "is_bot": False,
            "first_name": "小明",
            "last_name": "王",
            "language_code": "zh-hans",
        }
        self.chat = {"id": USER_ID, "type": "private", "first_name": "小明"}

    @property
    def clock(self) -> ManualClock:
        clock = self.services.clock
        assert isinstance(clock, ManualClock)
        return clock

    def message_update(self, text: str | None = None, **fields: Any) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(_IDS),
            "date": int(self.clock.now().timestamp()),
            "chat": self.chat,
            "from": self.user,
            **fields,
        }
        if text is not None:
            message["text"] = text
        return {"update_id": next(_IDS), "message": message}

    def callback_update(self, data: str, *, keyboard: list[list[dict[str, Any]]] | None = None) -> dict[str, Any]:
        """A tap on the button with `data`, under the last message the bot sent with a keyboard."""
        shown = keyboard if keyboard is not None else self.api.last_keyboard()
        message = {
            "message_id": next(_IDS),
            "date": int(self.clock.now().timestamp()),
            "chat": self.chat,
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "kefu"},
            "text": "…",
            "reply_markup": {"inline_keyboard": shown},
        }
        callback = {
            "id": f"cbq{next(_IDS)}",
            "from": self.user,
            "chat_instance": "ci-1",
            "message": message,
            "data": data,
        }
        return {"update_id": next(_IDS), "callback_query": callback}

    async def post(self, update: dict[str, Any] | bytes, *, secret: str | None = SECRET) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        # A client takes a few seconds to read and answer, which also clears the 1 message/s limit.
        self.clock.advance(timedelta(seconds=3))
        if isinstance(update, bytes):
            return await self.http.post("/telegram", content=update, headers=headers)
        return await self.http.post("/telegram", json=update, headers=headers)

    async def send(self, update: dict[str, Any]) -> str:
        """Post an update, wait for the replies, and return the text of the last message sent."""
        before = len(self.api.sends())
        response = await self.post(update)
        assert response.status_code == 200, response.text
        await self.webhook.drain()
        texts = self.api.sent_texts()
        assert len(texts) > before, "the bot sent nothing"
        return texts[-1]

    async def say(self, text: str) -> str:
        return await self.send(self.message_update(text))

    async def tap(self, label: str) -> str:
        """Tap the button labelled `label` on the last keyboard the bot sent."""
        keyboard = self.api.last_keyboard()
        data = next(b["callback_data"] for row in keyboard for b in row if b["text"] == label)
        return await self.send(self.callback_update(data, keyboard=keyboard))

    async def counts(self) -> tuple[int, int]:
        """(inbound messages, outbox rows) stored for the telegram channel."""
        async with self.services.db.transaction() as session:
            inbound = await session.scalar(
                select(func.count())
                .select_from(Message)
                .where(Message.channel == "telegram", Message.direction == "in")
            )
            outbox = await session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.channel == "telegram")
            )
        return int(inbound or 0), int(outbox or 0)

    async def outbox_rows(self) -> list[OutboxMessage]:
        async with self.services.db.transaction() as session:
            rows = await session.execute(
                select(OutboxMessage).where(OutboxMessage.channel == "telegram").order_by(OutboxMessage.id)
            )
            return list(rows.scalars())


@pytest.fixture
async def telegram(services: Services, fake_api: FakeBotAPI, bot: Bot) -> AsyncIterator[TelegramClient]:
    """The app with the Telegram channel registered and the webhook at /telegram."""
    clock = services.clock
    assert isinstance(clock, ManualClock)
    media = TelegramMedia(bot, MediaStore(services.settings.media_dir, 1_000_000))
    services.registry.register(TelegramChannel(bot, RateLimiter(clock), sleep=manual_sleep(clock), media=media))
    app: FastAPI = create_app(services.settings, services=services, background=False)
    # build_router would do; the webhook object is kept to wait for its background deliveries.
    webhook = TelegramWebhook(
        engine=services.engine, bot=bot, secret=SECRET, max_body_bytes=services.settings.max_body_bytes
    )
    app.include_router(webhook.router())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        yield TelegramClient(http, services, webhook, fake_api)
    await webhook.drain()


REPS_CHAT = -1_001_234_567_890


@pytest.fixture
async def reps(services: Services, fake_api: FakeBotAPI, bot: Bot) -> AsyncIterator[RepsGroup]:
    """The reps' group worker on the fake Bot API and the manual clock; the fake records that clock's time."""
    clock = services.clock
    assert isinstance(clock, ManualClock)
    fake_api.now = lambda: clock.now().timestamp()
    channel = services.registry.get("telegram") if "telegram" in services.registry.names() else None
    limiter = channel.limiter if isinstance(channel, TelegramChannel) else RateLimiter(clock)
    writer = TopicWriter(services.texts, language="zh", timezone=services.settings.timezone, console_url=CONSOLE)
    group = RepsGroup(
        db=services.db,
        bot=bot,
        chat_id=REPS_CHAT,
        limiter=limiter,
        clock=clock,
        writer=writer,
        sleep=manual_sleep(clock),
    )
    services.reps = group
    # As build_services does when KEFU_TELEGRAM_REPS_CHAT_ID is set.
    services.live.add_listener(group.on_live)
    yield group
    await group.drain()


CONSOLE = "https://kefu.example.com"
