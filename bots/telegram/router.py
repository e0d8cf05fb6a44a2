"""The aiogram Router: converts private-chat messages and button taps and hands them to the engine."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiogram import Bot, Dispatcher, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Message

from bots.common import BackgroundTasks
from bots.telegram.convert import callback_to_inbound, message_to_inbound
from bots.telegram.media import TelegramMedia, has_media
from bots.telegram.settings import CHANNEL
from core.channel import Undelivered
from core.engine import Engine, ReceiveResult
from core.inbound_limits import InboundLimits
from core.messages import InboundMessage
from core.outbox import Outgoing

log = logging.getLogger(__name__)


class Receiver:
    """Hands messages to the engine; replies go out inline (polling) or in the background (webhook).

    In the background, the webhook can answer Telegram as soon as the turn has committed; the replies
    are outbox rows by then, so a crash before they are sent loses nothing (the sweep sends them).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        background: bool = False,
        media: TelegramMedia | None = None,
        max_deliveries: int = 4,
        limits: InboundLimits | None = None,
    ) -> None:
        self.engine = engine
        self.limits = limits
        self.background = background
        # Files are fetched after the turn: the client's answer never waits for a download.
        self.media = media
        self._tasks = BackgroundTasks(log, "telegram delivery failed")
        # Background deliveries take database connections too; bounded, they never starve the turns
        # (which answer Telegram) of the pool under a burst of updates.
        self._delivery_slots = asyncio.Semaphore(max_deliveries)
        # Conversations whose delivery waits for a slot: it reads the outbox when it starts, so a newer
        # reply of the same conversation needs no delivery of its own.
        self._waiting: set[int] = set()

    async def __call__(self, msg: InboundMessage) -> ReceiveResult:
        if not self.background:
            result = await self.engine.receive(msg)
            if self._wants_media(msg, result):
                assert self.media is not None
                await self.media.fetch_message(self.engine.db, msg)
            return result
        # Delivered below, one conversation at a time, within the rate limits.
        result = await self.engine.receive(msg, Undelivered(claim=True))
        if result.conversation_id is not None and any(o.claimed for o in result.outgoing):
            # The turn claimed its reply as it wrote it: that send is this task's alone, never shared with another.
            self._tasks.spawn(self._deliver(result.conversation_id, result.outgoing))
        elif result.conversation_id is not None and result.conversation_id not in self._waiting:
            self._waiting.add(result.conversation_id)
            self._tasks.spawn(self._deliver(result.conversation_id))
        if self._wants_media(msg, result):
            assert self.media is not None
            self._tasks.spawn(self.media.fetch_message(self.engine.db, msg))
        return result

    async def slow_down(self, msg: InboundMessage) -> str | None:
        """The polite reply when this sender is over the message limit (the message is then dropped), else None."""
        if self.limits is None or not await self.limits.message(CHANNEL, msg.ref.external_user_id):
            return None
        return self.engine.texts.get("input.slow_down", msg.language or self.engine.settings.language)

    async def _deliver(self, conversation_id: int, outgoing: list[Outgoing] | None = None) -> None:
        try:
            async with self._delivery_slots:
                if outgoing is not None:
                    await self.engine.dispatcher.deliver_turn(conversation_id, outgoing)
                    return
                self._waiting.discard(conversation_id)
                await self.engine.dispatcher.deliver_conversation(conversation_id)
        finally:
            if outgoing is None:
                self._waiting.discard(conversation_id)

    def _wants_media(self, msg: InboundMessage, result: ReceiveResult) -> bool:
        # A redelivered update was stored by its first delivery, which fetches the file.
        return self.media is not None and result.status == "accepted" and has_media(msg)

    async def drain(self) -> None:
        """Wait for background deliveries (shutdown, tests)."""
        await self._tasks.drain()


def new_dispatcher() -> Dispatcher:
    """An aiogram Dispatcher without its FSM, which kefu does not use (its conversations live in the database).

    With it, every update would pass through FSMContextMiddleware, whose memory storage keeps a record for each chat
    that ever wrote, for the life of the process.
    """
    return Dispatcher(disable_fsm=True)


async def in_private_chat(message: Message) -> bool:
    """Whether the message was written in a private chat with the bot.

    A coroutine on purpose, as every filter here: aiogram runs a plain function (a magic filter such as
    `F.chat.type == ...` too) in a worker thread, a thread hand-off on every update.
    """
    return message.chat.type == ChatType.PRIVATE


async def on_private_message(receiver: Receiver, message: Message, bot: Bot) -> None:
    """A client's message in his private chat with the bot: converted, checked against his flood limit, received."""
    inbound = message_to_inbound(message, str(bot.id))
    if inbound is None:
        return
    refusal = await receiver.slow_down(inbound)
    if refusal is not None:
        # Counted and answered here, never handed to the engine: no ticket comes of a flood.
        with contextlib.suppress(TelegramAPIError):
            await message.answer(refusal)
        return
    await receiver(inbound)


def kefu_router(receiver: Receiver) -> Router:
    """A fresh Router (aiogram attaches a router to one dispatcher only) bound to `receiver`."""
    router = Router(name="kefu")
    # Only private chats are clients; groups (the reps' group above all) are not conversations with a client.
    router.message.filter(in_private_chat)

    @router.message()
    async def on_message(message: Message, bot: Bot) -> None:
        await on_private_message(receiver, message, bot)

    @router.callback_query()
    async def on_callback(callback: CallbackQuery, bot: Bot) -> None:
        # First, so the client's button stops spinning whatever the turn does; a failure here (a
        # redelivered update answers a query Telegram already closed) must not stop the turn.
        try:
            await callback.answer()
        except TelegramAPIError as exc:
            log.info("answerCallbackQuery %s failed: %s", callback.id, exc)
        if callback.message is not None and callback.message.chat.type != ChatType.PRIVATE:
            return
        inbound = callback_to_inbound(callback, str(bot.id))
        if inbound is not None:
            await receiver(inbound)

    return router


def registered_media(engine: Engine) -> TelegramMedia | None:
    """The downloader of the Telegram channel registered on the engine, if it was built with one."""
    channel = engine.registry.get(CHANNEL) if CHANNEL in engine.registry.names() else None
    media = getattr(channel, "media", None)
    return media if isinstance(media, TelegramMedia) else None
