"""The WeCom kf harness: a fake WeCom API, the app with the kf webhook, and WeCom's side of the callbacks."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any
from xml.sax.saxutils import escape

import httpx
import pytest
import xmltodict
from pydantic import SecretStr
from sqlalchemy import func, select
from wechatpy.work.crypto import WeChatCrypto

from bots.wechat.kf_channel import WeComKfChannel
from bots.wechat.kf_routes import WeComKfWebhook
from bots.wechat.kf_settings import WeComKfAccount
from core.channel_state import ChannelStateStore
from core.db.models import Conversation, Message, OutboxMessage
from handlers.app import create_app
from handlers.services import Services
from tests.channels.wechat.kf_fake_api import CORP_SECRET, FakeWeComAPI, client_item


def element(name: str, value: str | int) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"


CORP_ID = "ww0123456789abcdef"
TOKEN = "kf-callback-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
KFID = "wkKefuTestAccount000000000000001"
USER = "wmKefuTestExternalUser0000000001"
TICKET_NO = re.compile(r"KF-\d{8}-\d{4}")


@pytest.fixture
def wecom_api() -> Iterator[FakeWeComAPI]:
    api = FakeWeComAPI()
    api.start()
    yield api
    api.stop()


def make_account(api: FakeWeComAPI, **overrides: Any) -> WeComKfAccount:
    values: dict[str, Any] = {
        "corp_id": CORP_ID,
        "secret": SecretStr(CORP_SECRET),
        "token": SecretStr(TOKEN),
        "aes_key": SecretStr(AES_KEY),
        "api_base": api.base,
        "api_timeout_seconds": 2.0,
    }
    values.update(overrides)
    return WeComKfAccount(**values)


class WeComServer:
    """Plays WeCom's side: encrypted, signed kf_msg_or_event callbacks, and the client's messages in the fake API."""

    def __init__(self, http: httpx.AsyncClient, services: Services, webhook: WeComKfWebhook, api: FakeWeComAPI):
        self.http = http
        self.services = services
        self.webhook = webhook
        self.api = api
        self.seen_sends = 0

    def now(self) -> int:
        return int(self.services.clock.now().timestamp())

    async def post(
        self,
        inner: str | None = None,
        *,
        open_kfid: str = KFID,
        timestamp: int | None = None,
        token: str = TOKEN,
        aes_key: str = AES_KEY,
        body: str | None = None,
    ) -> httpx.Response:
        """POST a callback encrypted and signed like WeCom (or `body` as is, signed over nothing useful)."""
        ts = str(self.now() if timestamp is None else timestamp)
        nonce = "n" + str(time.monotonic_ns())
        if inner is None:
            inner = (
                f"<xml>{element('ToUserName', CORP_ID)}{element('CreateTime', ts)}{element('MsgType', 'event')}"
                f"{element('Event', 'kf_msg_or_event')}{element('Token', 'SYNC-TOKEN')}"
                f"{element('OpenKfId', open_kfid)}</xml>"
            )
        envelope = xmltodict.parse(WeChatCrypto(token, aes_key, CORP_ID).encrypt_message(inner, nonce, ts))["xml"]
        params = {"msg_signature": envelope["MsgSignature"], "timestamp": ts, "nonce": nonce}
        if body is None:
            body = f"<xml>{element('ToUserName', CORP_ID)}{element('Encrypt', envelope['Encrypt'])}</xml>"
        return await self.http.post("/wecom/kf", params=params, content=body, headers={"Content-Type": "text/xml"})

    async def notify(self, **kwargs: Any) -> None:
        """One callback, answered "success", and the background pull it started, finished."""
        response = await self.post(**kwargs)
        assert response.status_code == 200 and response.text == "success", response.text
        await self.webhook.drain()

    async def say(self, text: str, *, msgid: str | None = None) -> str:
        """The client writes; returns what kefu sent back through kf/send_msg since the last call."""
        self.api.push(KFID, client_item(KFID, USER, "text", {"content": text}, msgid=msgid))
        await self.notify()
        return self.new_sends()

    def new_sends(self) -> str:
        texts = self.api.sent_texts()
        new, self.seen_sends = texts[self.seen_sends :], len(texts)
        return "\n".join(new)

    async def counts(self) -> tuple[int, int]:
        """(inbound messages, outbox rows) stored for the wecom channel."""
        async with self.services.db.transaction() as session:
            inbound = await session.scalar(
                select(func.count()).select_from(Message).where(Message.channel == "wecom", Message.direction == "in")
            )
            outbox = await session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.channel == "wecom")
            )
        return int(inbound or 0), int(outbox or 0)

    async def outbox_statuses(self) -> list[str]:
        async with self.services.db.transaction() as session:
            rows = await session.execute(
                select(OutboxMessage.status).where(OutboxMessage.channel == "wecom").order_by(OutboxMessage.id)
            )
            return list(rows.scalars())


WeComFactory = Callable[..., Awaitable[WeComServer]]


@pytest.fixture
async def make_wecom(services: Services, wecom_api: FakeWeComAPI) -> AsyncIterator[WeComFactory]:
    """Build the app with the kf channel and webhook; calling it again is a restart (new webhook, same database)."""
    async with AsyncExitStack() as stack:
        webhooks: list[WeComKfWebhook] = []

        async def factory(**overrides: Any) -> WeComServer:
            account = make_account(wecom_api, **overrides)
            store = ChannelStateStore(services.db, services.clock)
            channel = WeComKfChannel(account, store)
            services.registry.register(channel)
            app = create_app(services.settings, services=services, background=False)
            webhook = WeComKfWebhook(
                engine=services.engine,
                channel=channel,
                store=store,
                max_body_bytes=services.settings.max_body_bytes,
                lock_ttl=timedelta(seconds=2),
                poll_seconds=0.01,
            )
            app.include_router(webhook.router())
            webhooks.append(webhook)
            transport = httpx.ASGITransport(app=app)
            http = await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://testserver"))
            return WeComServer(http, services, webhook, wecom_api)

        yield factory
        for webhook in webhooks:
            await webhook.drain()


@pytest.fixture
async def wecom(make_wecom: WeComFactory) -> WeComServer:
    return await make_wecom()


async def kf_conversation(services: Services) -> int:
    """The id of the one kf conversation of the test."""
    async with services.db.transaction() as session:
        return (await session.execute(select(Conversation.id).where(Conversation.channel == "wecom"))).scalar_one()
