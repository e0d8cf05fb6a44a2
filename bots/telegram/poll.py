"""Development entry points: long polling instead of a webhook, and registering the webhook URL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from aiogram import Bot, Router

from bots.telegram.router import Receiver, kefu_router, new_dispatcher, registered_media
from bots.telegram.settings import TelegramSettings
from core.engine import Engine
from core.errors import ConfigError

log = logging.getLogger(__name__)

# What kefu handles; Telegram then does not send the rest at all.
ALLOWED_UPDATES = ["message", "callback_query"]
Tick = Callable[[], Awaitable[object]]


async def _every(seconds: float, tick: Tick) -> None:
    while True:
        try:
            await tick()
        except Exception:
            # A failed tick (database restarting) is retried at the next one.
            log.exception("periodic tick failed")
        await asyncio.sleep(seconds)


async def run_polling(
    engine: Engine,
    settings: TelegramSettings,
    *,
    bot: Bot | None = None,
    ticks: Sequence[Tick] = (),
    tick_seconds: float = 1.0,
    extra_routers: Sequence[Router] = (),
) -> None:
    """Poll getUpdates until interrupted; replies go out inline, and the outbox is swept every second.

    The engine's services must be started and a TelegramChannel registered on its registry. Without the
    web app nothing else runs the periodic work, so `ticks` takes more of it (e.g. follow-ups' run_due).
    """
    if bot is None:
        if not settings.enabled:
            raise ConfigError("KEFU_TELEGRAM_TOKEN is not set")
        bot = settings.bot()
    dispatcher = new_dispatcher()
    dispatcher.include_router(kefu_router(Receiver(engine, media=registered_media(engine))))
    for router in extra_routers:
        dispatcher.include_router(router)
    # getUpdates is refused (409) while a webhook is set.
    await bot.delete_webhook(drop_pending_updates=False)
    background = [asyncio.create_task(_every(tick_seconds, t)) for t in (engine.dispatcher.deliver_due, *ticks)]
    try:
        await dispatcher.start_polling(bot, allowed_updates=ALLOWED_UPDATES, handle_signals=False)
    finally:
        for task in background:
            task.cancel()
        for task in background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await bot.session.close()


async def set_webhook(bot: Bot, url: str, secret: str) -> bool:
    """Point Telegram at `url` (https, ending in /telegram), with the secret it must send back."""
    if not secret:
        raise ConfigError("KEFU_TELEGRAM_SECRET is not set; the webhook would accept anyone's updates")
    return await bot.set_webhook(url=url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)
