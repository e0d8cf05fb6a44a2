"""Long polling for development: updates from getUpdates reach the engine and replies go out."""

from __future__ import annotations

import asyncio
import contextlib

from aiogram import Bot

from bots.telegram.channel import TelegramChannel
from bots.telegram.poll import run_polling
from bots.telegram.ratelimit import RateLimiter
from bots.telegram.settings import TelegramSettings
from handlers.services import Services
from tests.channels.telegram.fake_api import TOKEN, FakeBotAPI


async def test_polling_answers_start(services: Services, fake_api: FakeBotAPI, bot: Bot) -> None:
    services.registry.register(TelegramChannel(bot, RateLimiter()))
    user = {"id": 9001, "is_bot": False, "first_name": "Ann", "language_code": "en"}
    fake_api.updates.append(
        {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 1_764_381_600,
                "chat": {"id": 9001, "type": "private"},
                "from": user,
                "text": "/start",
            },
        }
    )
    settings = TelegramSettings(token=TOKEN, api_base=fake_api.base)
    polling = asyncio.create_task(run_polling(services.engine, settings, bot=bot, tick_seconds=0.05))
    try:
        for _ in range(200):
            if fake_api.sends():
                break
            await asyncio.sleep(0.05)
    finally:
        polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling
    [sent] = fake_api.sends()
    assert sent.data["chat_id"] == "9001"
    # The client speaks English (language_code "en"), so the welcome is in English.
    assert sent.data["text"].startswith("Hello"), sent.data["text"]
    assert fake_api.of("deleteWebhook")
    assert fake_api.of("getUpdates")[0].data["allowed_updates"] == ["message", "callback_query"]
