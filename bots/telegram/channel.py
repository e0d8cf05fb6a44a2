"""Telegram channel: sendMessage with inline keyboards, split at 4096 characters, within the rate limits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiogram import Bot
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bots.telegram.convert import LABEL_ONLY_PREFIX
from bots.telegram.errors import bot_call
from bots.telegram.media import TelegramMedia
from bots.telegram.ratelimit import RateLimiter
from bots.telegram.settings import CHANNEL
from core.channel import (
    ChannelCapabilities,
    SendResult,
    Throttled,
    split_text,
)
from core.messages import Button, ConversationRef, OutboundMessage

log = logging.getLogger(__name__)

MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
# Labels up to this many characters sit two to a row; longer ones get a row each to stay readable.
SHORT_LABEL = 12
# Telegram refuses empty text; a message that is only buttons needs something to hang them on.
BUTTONS_ONLY_TEXT = "…"

Sleep = Callable[[float], Awaitable[None]]


def keyboard(buttons: tuple[Button, ...]) -> InlineKeyboardMarkup | None:
    """One button per row, or two per row when every label is short; ids become callback data."""
    if not buttons:
        return None
    keys: list[InlineKeyboardButton] = []
    for index, button in enumerate(buttons, start=1):
        data = button.id
        if len(data.encode("utf-8")) > MAX_CALLBACK_DATA:
            # Telegram would refuse the whole message; the tap comes back as the label, which the engine
            # resolves to this button like a typed answer.
            data = f"{LABEL_ONLY_PREFIX}{index}"
        keys.append(InlineKeyboardButton(text=button.label, callback_data=data))
    width = 2 if all(len(b.label) <= SHORT_LABEL for b in buttons) else 1
    return InlineKeyboardMarkup(inline_keyboard=[keys[i : i + width] for i in range(0, len(keys), width)])


class TelegramChannel:
    """Sends through the Bot API; maps its errors onto the outbox's retry, give-up and gone."""

    name = CHANNEL
    capabilities = ChannelCapabilities(buttons=True, max_text_length=MAX_TEXT, reply_window=None)

    def __init__(
        self,
        bot: Bot,
        limiter: RateLimiter | None = None,
        *,
        max_inline_wait: float = 1.0,
        sleep: Sleep = asyncio.sleep,
        media: TelegramMedia | None = None,
    ) -> None:
        self.bot = bot
        # The webhook and polling take the downloader from the registered channel, like WeChat's.
        self.media = media
        self.limiter = limiter or RateLimiter()
        # Waits up to this long happen here; longer ones go back to the outbox, so a busy chat does not
        # hold one of the dispatcher's workers.
        self.max_inline_wait = max_inline_wait
        self.sleep = sleep

    async def send(self, ref: ConversationRef, message: OutboundMessage) -> SendResult:
        chat_id = int(ref.external_chat_id or ref.external_user_id)
        text = message.text or (BUTTONS_ONLY_TEXT if message.buttons else "")
        if not text:
            # Attachments are not sent yet (the engine sends none); there is nothing to show.
            return SendResult()
        pieces = split_text(text, MAX_TEXT)
        markup = keyboard(message.buttons)
        external_id: str | None = None
        for i, piece in enumerate(pieces):
            await self._wait_turn(chat_id)
            # The keyboard goes with the last piece, under the text it answers. A failure after an earlier
            # piece went out resends that piece on retry: at-least-once, like the outbox itself.
            external_id = await self._send_piece(chat_id, piece, markup if i == len(pieces) - 1 else None)
        return SendResult(external_id=external_id)

    async def _wait_turn(self, chat_id: int) -> None:
        while True:
            wait = self.limiter.acquire(chat_id)
            if wait <= 0:
                return
            if wait > self.max_inline_wait:
                # Back when what is left can be waited here: the outbox's sweep then sends it at once rather
                # than one tick after the chat became free.
                remaining = wait - self.max_inline_wait
                raise Throttled(f"telegram rate limit for chat {chat_id}", retry_after=remaining)
            await self.sleep(wait)

    async def _send_piece(self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None) -> str:
        # parse_mode None: plain text, so client-typed "<", "*" or "_" in a summary can never break the message
        # (with HTML or Markdown every such character would need escaping). A 403 is RecipientGone: the outbox
        # marks the identity unreachable.
        sent = await bot_call(
            lambda: self.bot.send_message(chat_id=chat_id, text=text, reply_markup=markup, parse_mode=None),
            on_retry_after=lambda seconds: self.limiter.block(chat_id, seconds),
        )
        return str(sent.message_id)
