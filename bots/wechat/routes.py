"""The Official Account webhook: URL verification, signed (optionally AES-encrypted) XML in, passive replies out."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import timedelta
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from bots.common import BackgroundTasks, query_params, read_body_or_refusal
from bots.wechat.channel import WeChatChannel, account_channel
from bots.wechat.convert import parse, passive_text_reply, to_inbound
from bots.wechat.envelope import BadEnvelope, EnvelopeKey, fresh
from bots.wechat.media import MediaDownloader
from bots.wechat.passive import PassiveReply
from bots.wechat.settings import CHANNEL, DEFAULT_ACCOUNT, WeChatAccount
from bots.wechat.signing import BadSignature, same, sign
from bots.wechat.token import StateStore
from core.engine import Engine
from core.errors import ConfigError
from core.inbound_limits import InboundLimits
from core.outbox import OutboxDispatcher

log = logging.getLogger(__name__)

REPLAY_PREFIX = "wechat-replay:"
# Remembered signed queries whose window has passed are deleted every this many messages.
FORGET_EVERY = 200


class WeChatWebhook:
    """One account's webhook; turns that outlast the passive budget finish in the background."""

    def __init__(
        self,
        *,
        engine: Engine,
        dispatcher: OutboxDispatcher,
        account: WeChatAccount,
        max_body_bytes: int,
        media: MediaDownloader | None = None,
        limits: InboundLimits | None = None,
        replay: StateStore | None = None,
    ) -> None:
        self.engine = engine
        self.limits = limits
        # Where signed queries seen within the skew window are remembered (Redis or the database).
        self.replay = replay
        self._seen = 0
        self.dispatcher = dispatcher
        self.account = account
        self.max_body_bytes = max_body_bytes
        # The account's registered channel: its reply window learns here that the client wrote.
        self.channel = _registered_channel(engine, account.name)
        # By default the channel's downloader (set when it was built with a media directory).
        self.media = media if media is not None else (self.channel.media if self.channel else None)
        self._token = account.token.get_secret_value()
        aes_key = account.aes_key.get_secret_value() if account.aes_key is not None and account.safe_mode else ""
        # Safe mode: messages come in an envelope, passive replies go out in one (both with the account's one cipher).
        self._envelope = (
            EnvelopeKey(token=self._token, encoding_aes_key=aes_key, receiver_id=account.app_id) if aes_key else None
        )
        self._background = BackgroundTasks(log, "wechat background work failed")

    # ------------------------------------------------------------ checks

    def _signed(self, signature: str, timestamp: str, nonce: str) -> bool:
        return same(sign(self._token, timestamp, nonce), signature)

    def _fresh(self, timestamp: str) -> bool:
        return fresh(timestamp, now=self.engine.clock.now(), skew_seconds=self.account.max_clock_skew_seconds)

    async def _first_use(self, signature: str, timestamp: str, nonce: str, body: bytes) -> bool:
        """False when this signed query came before with another body (a replay); an identical retry passes.

        In plaintext mode the signature covers the timestamp and nonce only, not the body: anyone who saw
        one signed URL could post any message under it until the timestamp goes stale.
        """
        if self.replay is None:
            return True
        key = f"{REPLAY_PREFIX}{self.account.name}:{timestamp}:{nonce}:{signature}"
        ttl = timedelta(seconds=2 * self.account.max_clock_skew_seconds)
        fresh = await self.replay.try_lock(key, hashlib.sha256(body).hexdigest(), ttl)
        self._seen += 1
        forget = getattr(self.replay, "forget_expired", None)
        if forget is not None and self._seen % FORGET_EVERY == 0:
            # Database rows do not expire by themselves as Redis keys do.
            await forget(REPLAY_PREFIX)
        return bool(fresh)

    # ------------------------------------------------------------ endpoints

    async def verify(self, request: Request) -> Response:
        """GET: WeChat checks the URL by asking it to echo `echostr` under a valid signature."""
        q = query_params(request)
        timestamp = q.get("timestamp", "")
        if not self._signed(q.get("signature", ""), timestamp, q.get("nonce", "")) or not self._fresh(timestamp):
            return PlainTextResponse("forbidden", status_code=403)
        return PlainTextResponse(q.get("echostr", ""))

    async def receive(self, request: Request) -> Response:
        """POST: one pushed message; answered passively when the turn is quick, else through the outbox."""
        q = query_params(request)
        timestamp, nonce = q.get("timestamp", ""), q.get("nonce", "")
        if not self._signed(q.get("signature", ""), timestamp, nonce):
            return PlainTextResponse("forbidden", status_code=403)
        if not self._fresh(timestamp):
            return PlainTextResponse("stale timestamp", status_code=403)
        body = await read_body_or_refusal(request, self.max_body_bytes)
        if isinstance(body, Response):
            return body
        encrypted = q.get("encrypt_type", "").lower() == "aes"
        if encrypted != (self._envelope is not None):
            # In safe mode a plaintext body is not covered by any signature, so it is refused.
            return PlainTextResponse("wrong encryption mode", status_code=400)
        if not encrypted and not await self._first_use(q.get("signature", ""), timestamp, nonce, body):
            return PlainTextResponse("signature already used", status_code=403)
        try:
            xml: str | bytes = (
                self._envelope.open(body, msg_signature=q.get("msg_signature", ""), timestamp=timestamp, nonce=nonce)
                if self._envelope is not None
                else body
            )
            message = parse(xml)
        except BadSignature:
            return PlainTextResponse("forbidden", status_code=403)
        # An envelope that cannot be opened, or a message inside (or in plaintext) that cannot be read.
        except BadEnvelope as exc:
            log.info("wechat %s: %s", self.account.name, exc)
            return PlainTextResponse("bad request", status_code=400)
        inbound = to_inbound(message, self.account.name)
        if self.limits is not None and await self.limits.message(CHANNEL, inbound.ref.external_user_id):
            # Over the sender's limit: answered politely in the response (free), never handed to the engine.
            text = self.engine.texts.get("input.slow_down", self.engine.settings.language)
            return self._passive(message, text, nonce=nonce)
        reply = PassiveReply(
            inbound,
            budget=self.account.passive_budget_seconds,
            render=partial(self._passive, message, nonce=nonce),
            dispatcher=self.dispatcher,
            db=self.engine.db,
            channel=self.channel,
            media=self.media,
            background=self._background,
        )
        return await reply.respond(self.engine.receive(inbound, reply))

    def _passive(self, message: Any, text: str, *, nonce: str) -> Response:
        now = int(self.engine.clock.now().timestamp())
        xml = passive_text_reply(message, text, now)
        if self._envelope is not None:
            xml = self._envelope.seal(xml, nonce=nonce, timestamp=str(now))
        return Response(content=xml, media_type="application/xml")

    def router(self, path: str = "/wechat") -> APIRouter:
        """GET verification and POST messages at `path`."""
        router = APIRouter()
        self.add_routes(router, path)
        return router

    def add_routes(self, router: APIRouter, path: str = "/wechat") -> None:
        router.add_api_route(path, self.verify, methods=["GET"], include_in_schema=False)
        # A plain route: the message needs none of FastAPI's parameter handling (about 160 Python calls each).
        router.add_route(path, self.receive, methods=["POST"], include_in_schema=False)

    async def drain(self) -> None:
        """Wait for background work (shutdown, tests)."""
        await self._background.drain()


def _registered_channel(engine: Engine, account: str) -> WeChatChannel | None:
    try:
        channel = engine.registry.get(CHANNEL)
    except ConfigError:
        return None
    return account_channel(channel, account)


class WeChatWebhooks:
    """Every account's webhook: the default one at /wechat, each account also at /wechat/<name>."""

    def __init__(self, webhooks: Iterable[WeChatWebhook]) -> None:
        self.webhooks = {webhook.account.name: webhook for webhook in webhooks}

    async def verify(self, account: str, request: Request) -> Response:
        webhook = self.webhooks.get(account)
        return await webhook.verify(request) if webhook else _unknown_account()

    async def receive(self, request: Request) -> Response:
        # Answered before the body is read or anything stored.
        webhook = self.webhooks.get(request.path_params["account"])
        return await webhook.receive(request) if webhook else _unknown_account()

    def add_routes(self, router: APIRouter, prefix: str = "/wechat") -> None:
        """The routes on `router` itself, not in a router of their own: FastAPI matches a request against an
        included router's routes again at each level it passes (about 220 Python calls a message here)."""
        default = self.webhooks.get(DEFAULT_ACCOUNT)
        if default is not None:
            default.add_routes(router, prefix)
        router.add_api_route(prefix + "/{account}", self.verify, methods=["GET"], include_in_schema=False)
        router.add_route(prefix + "/{account}", self.receive, methods=["POST"], include_in_schema=False)

    async def drain(self) -> None:
        for webhook in self.webhooks.values():
            await webhook.drain()


def _unknown_account() -> Response:
    return PlainTextResponse("unknown account", status_code=404)


def build_router(
    *,
    engine: Engine,
    dispatcher: OutboxDispatcher,
    account: WeChatAccount,
    max_body_bytes: int,
    path: str = "/wechat",
) -> APIRouter:
    """The webhook routes of one Official Account (GET verification and POST messages at `path`)."""
    webhook = WeChatWebhook(engine=engine, dispatcher=dispatcher, account=account, max_body_bytes=max_body_bytes)
    return webhook.router(path)
