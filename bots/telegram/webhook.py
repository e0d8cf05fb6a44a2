"""The Bot API webhook: secret header check, bounded JSON body, then the update through aiogram."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Sequence

from aiogram import Bot, Dispatcher, Router
from aiogram.enums import ChatType
from aiogram.types import Update
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from bots.common import MAX_DB_INT, BadPayload, BodyTooLarge, parse_json_object, read_limited_body
from bots.telegram.media import TelegramMedia
from bots.telegram.router import Receiver, kefu_router, new_dispatcher, on_private_message, registered_media
from core.engine import Engine
from core.errors import ConfigError
from core.inbound_limits import InboundLimits

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class TelegramWebhook:
    """POST /telegram for one bot; the turn commits before the 200, the replies follow in the background."""

    def __init__(
        self,
        *,
        engine: Engine,
        bot: Bot,
        secret: str,
        max_body_bytes: int,
        dispatcher_or_router: Dispatcher | Router | None = None,
        media: TelegramMedia | None = None,
        extra_routers: Sequence[Router] = (),
        limits: InboundLimits | None = None,
    ) -> None:
        if not secret:
            # Without a secret anyone who guesses the URL could speak for any Telegram user.
            raise ConfigError("the Telegram webhook needs KEFU_TELEGRAM_SECRET")
        self.engine = engine
        self.bot = bot
        self.max_body_bytes = max_body_bytes
        self._secret = secret.encode("utf-8")
        self.receiver = Receiver(engine, background=True, media=media or registered_media(engine), limits=limits)
        # kefu's own router takes every message of a private chat (it is included first, and the reps' routers
        # take their group's only), so such a message goes to its handler without the dispatcher's round of
        # middlewares, observers and filters (7 % of the server's CPU samples under the Telegram benchmark's load).
        self._private_to_kefu = dispatcher_or_router is None
        if isinstance(dispatcher_or_router, Dispatcher):
            self.dispatcher = dispatcher_or_router
        else:
            self.dispatcher = new_dispatcher()
            self.dispatcher.include_router(dispatcher_or_router or kefu_router(self.receiver))
        # The reps' group router (commands in topics), when the group is configured.
        for router in extra_routers:
            self.dispatcher.include_router(router)

    def _authorized(self, request: Request) -> bool:
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8")
        # Constant time, so the secret cannot be guessed byte by byte from response times.
        return hmac.compare_digest(self._secret, given)

    async def receive(self, request: Request) -> Response:
        if not self._authorized(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        try:
            data = parse_json_object(await read_limited_body(request, self.max_body_bytes))
        except BodyTooLarge:
            return JSONResponse({"error": "body too large"}, status_code=413)
        except BadPayload as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        if _beyond_64_bits(data):
            # Telegram's ids fit 64 bits; no column could store this one, and a 500 would be redelivered forever.
            log.warning("telegram update %s ignored: a number beyond 64 bits", str(data.get("update_id"))[:20])
            return JSONResponse({"status": "ignored"}, status_code=200)
        try:
            update = Update.model_validate(data, context={"bot": self.bot})
        except ValidationError as exc:
            log.info("telegram update refused: %s", exc.error_count())
            return JSONResponse({"error": "not a Telegram update"}, status_code=400)
        # No table of seen update_ids: Telegram redelivers an update with the same content, and the
        # engine's unique constraint on (channel, bot id, external id) already stores it once. Messages
        # are keyed by "chat:message_id", button taps (which have no message id of their own) by
        # "cb:<callback query id>". update_id alone would not do: it is per bot and not stable when a
        # webhook is replaced. An error in the turn propagates as a 500, so Telegram retries it.
        message = update.message
        if self._private_to_kefu and message is not None and message.chat.type == ChatType.PRIVATE:
            await on_private_message(self.receiver, message, self.bot)
        else:
            await self.dispatcher.feed_update(self.bot, update)
        return Response(status_code=200)

    def router(self, path: str = "/telegram") -> APIRouter:
        router = APIRouter()
        router.add_api_route(path, self.receive, methods=["POST"], include_in_schema=False)
        return router

    async def drain(self) -> None:
        """Wait for background deliveries (shutdown, tests)."""
        await self.receiver.drain()


def _beyond_64_bits(value: object) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return not -MAX_DB_INT - 1 <= value <= MAX_DB_INT
    if isinstance(value, dict):
        return any(_beyond_64_bits(v) for v in value.values())
    if isinstance(value, list):
        return any(_beyond_64_bits(v) for v in value)
    return False


def build_router(
    *,
    engine: Engine,
    bot: Bot,
    dispatcher_or_router: Dispatcher | Router | None = None,
    secret: str,
    max_body_bytes: int,
    path: str = "/telegram",
) -> APIRouter:
    """The webhook route of one bot; without a dispatcher or router, kefu's own router is used."""
    webhook = TelegramWebhook(
        engine=engine,
        bot=bot,
        secret=secret,
        max_body_bytes=max_body_bytes,
        dispatcher_or_router=dispatcher_or_router,
    )
    return webhook.router(path)
