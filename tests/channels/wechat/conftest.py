"""Fixtures of the WeChat Official Account tests: a fake WeChat API and a simulated WeChat server."""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
import xmltodict
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import func, select
from wechatpy.crypto import WeChatCrypto

from bots.wechat.channel import WeChatChannel
from bots.wechat.routes import WeChatWebhook
from bots.wechat.settings import WeChatAccount
from core.channel_state import ChannelStateStore
from core.db.models import Message, OutboxMessage
from handlers.app import create_app
from handlers.services import Services
from tests.channels.wechat.fake_api import FakeWeChatAPI

# The kf fixtures live with their harness; importing them here shares them with every WeCom test module.
from tests.channels.wechat.kf_harness import element, make_wecom, wecom, wecom_api  # noqa: F401

TOKEN = "kefu-token"
APP_ID = "wx0123456789abcdef"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OTHER_AES_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
OA_ID = "gh_kefu_oa"
_MSG_IDS = itertools.count(10_000)


@pytest.fixture
def fake_api() -> Iterator[FakeWeChatAPI]:
    api = FakeWeChatAPI()
    api.start()
    yield api
    api.stop()


def make_account(fake_api: FakeWeChatAPI, **overrides: Any) -> WeChatAccount:
    values: dict[str, Any] = {
        "token": SecretStr(TOKEN),
        "app_id": APP_ID,
        "app_secret": SecretStr("app-secret"),
        "api_base": fake_api.base,
        "api_timeout_seconds": 0.5,
    }
    values.update(overrides)
    return WeChatAccount(**values)


def sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


class WeChatServer:
    """Plays WeChat's side of the webhook: signed (and, in safe mode, encrypted) XML for one follower."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        services: Services,
        webhook: WeChatWebhook,
        account: WeChatAccount,
        *,
        path: str = "/wechat",
    ):
        self.http = http
        self.services = services
        self.webhook = webhook
        self.account = account
        self.path = path
        self.openid = "oKefuTestOpenId0000000000001"

    def now(self) -> int:
        return int(self.services.clock.now().timestamp())

    def xml(self, msg_type: str, fields: dict[str, str | int], *, msg_id: int | None = None) -> str:
        parts = [
            element("ToUserName", OA_ID),
            element("FromUserName", self.openid),
            element("CreateTime", self.now()),
            element("MsgType", msg_type),
            *(element(k, v) for k, v in fields.items()),
        ]
        if msg_id is not None:
            parts.append(element("MsgId", msg_id))
        return "<xml>" + "".join(parts) + "</xml>"

    def next_id(self) -> int:
        # Shared by every simulated server of a test, so two accounts never reuse a MsgId by accident.
        return next(_MSG_IDS)

    async def post(
        self,
        body: str | bytes,
        *,
        timestamp: int | None = None,
        token: str | None = None,
        encrypt_with: str | None = None,
    ) -> httpx.Response:
        """POST `body` signed like WeChat (with the account's token by default); in safe mode encrypted first."""
        token = token or self.account.token.get_secret_value()
        ts = str(self.now() if timestamp is None else timestamp)
        nonce = "n" + str(time.monotonic_ns())
        params = {"signature": sign(token, ts, nonce), "timestamp": ts, "nonce": nonce, "openid": self.openid}
        key = encrypt_with or (self.account.aes_key.get_secret_value() if self.account.aes_key else None)
        if key is not None:
            envelope = WeChatCrypto(token, key, APP_ID).encrypt_message(
                body.decode() if isinstance(body, bytes) else body, nonce, ts
            )
            parsed = xmltodict.parse(envelope)["xml"]
            body = f"<xml>{element('ToUserName', OA_ID)}{element('Encrypt', parsed['Encrypt'])}</xml>"
            params.update(encrypt_type="aes", msg_signature=parsed["MsgSignature"])
        return await self.http.post(self.path, params=params, content=body, headers={"Content-Type": "text/xml"})

    def reply_text(self, response: httpx.Response) -> str | None:
        """The passive reply's text, decrypted in safe mode; None for "success"."""
        assert response.status_code == 200, response.text
        if response.text == "success":
            return None
        reply = xmltodict.parse(response.text)["xml"]
        if "Encrypt" in reply:
            crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
            inner = crypto.decrypt_message(response.text, reply["MsgSignature"], reply["TimeStamp"], reply["Nonce"])
            reply = xmltodict.parse(inner)["xml"]
        assert reply["MsgType"] == "text"
        assert reply["ToUserName"] == self.openid and reply["FromUserName"] == OA_ID
        content: str = reply["Content"]
        return content

    async def say(self, text: str, msg_id: int | None = None) -> str | None:
        """Send a text message and return the passive reply's text."""
        xml = self.xml("text", {"Content": text}, msg_id=msg_id or self.next_id())
        return self.reply_text(await self.post(xml))

    async def counts(self) -> tuple[int, int]:
        """(inbound messages, outbox rows) stored for the wechat channel."""
        async with self.services.db.transaction() as session:
            inbound = await session.scalar(
                select(func.count()).select_from(Message).where(Message.channel == "wechat", Message.direction == "in")
            )
            outbox = await session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.channel == "wechat")
            )
        return int(inbound or 0), int(outbox or 0)

    async def outbox_statuses(self) -> list[str]:
        async with self.services.db.transaction() as session:
            rows = await session.execute(
                select(OutboxMessage.status).where(OutboxMessage.channel == "wechat").order_by(OutboxMessage.id)
            )
            return list(rows.scalars())


WeChatFactory = Callable[..., Awaitable[WeChatServer]]


@pytest.fixture
async def make_wechat(services: Services, fake_api: FakeWeChatAPI) -> AsyncIterator[WeChatFactory]:
    """Build the app with the WeChat channel and webhook for an account (overrides as keyword arguments)."""
    async with AsyncExitStack() as stack:
        webhooks: list[WeChatWebhook] = []

        async def factory(**overrides: Any) -> WeChatServer:
            account = make_account(fake_api, **overrides)
            store = ChannelStateStore(services.db, services.clock)
            services.registry.register(WeChatChannel(account, store, media_dir=services.settings.media_dir))
            app: FastAPI = create_app(services.settings, services=services, background=False)
            # build_router would do; the webhook is kept to wait for its background work.
            webhook = WeChatWebhook(
                engine=services.engine,
                dispatcher=services.dispatcher,
                account=account,
                max_body_bytes=services.settings.max_body_bytes,
            )
            app.include_router(webhook.router())
            webhooks.append(webhook)
            transport = httpx.ASGITransport(app=app)
            http = await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://testserver"))
            return WeChatServer(http, services, webhook, account)

        yield factory
        for webhook in webhooks:
            await webhook.drain()


@pytest.fixture
async def wechat(make_wechat: WeChatFactory) -> WeChatServer:
    """A plaintext-mode account with the default passive budget."""
    return await make_wechat()
