"""WeChat Official Account channel: customer-service messages (客服消息) through the API, in a worker thread."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from wechatpy import WeChatClient

from bots.wechat.api import WeChatApi
from bots.wechat.api_client import ExplicitTokenMixin
from bots.wechat.media import MediaDownloader
from bots.wechat.settings import CHANNEL, DEFAULT_ACCOUNT, WeChatAccount
from bots.wechat.templates import template_data
from bots.wechat.token import MemoryStateStore, StateStore, TokenProvider
from bots.wechat.window import ReplyWindow
from core.channel import (
    ChannelCapabilities,
    PermanentSendError,
    SendResult,
    Throttled,
    WindowClosed,
    split_text,
)
from core.clock import Clock, SystemClock
from core.messages import ConversationRef, MessageKind, OutboundMessage
from core.ratelimit import KeyedRateLimiter

log = logging.getLogger(__name__)
T = TypeVar("T")

# 45015: the client has not written for 48 hours; 45047: too many messages since they last wrote.
WINDOW_CLOSED = frozenset({45015, 45047})
# The access token is invalid or expired (another process may have refreshed it): refresh once.
TOKEN_INVALID = frozenset({40001, 40014, 42001})
# -1 system busy; 45009 / 45011 rate limits. 40013 / 40125 / 40164 (bad app id, bad secret, server IP
# not whitelisted) come from the token endpoint and are fixed in configuration, after which retries succeed.
TRANSIENT = frozenset({-1, 45009, 45011, 40013, 40125, 40164})
# Custom-service text is limited to 2048 bytes; 600 CJK characters stay below it in UTF-8.
MAX_TEXT = 600


class KefuWeChatClient(ExplicitTokenMixin, WeChatClient):  # type: ignore[misc]
    """wechatpy's client pointed at the configured API base, token URL included, with a request timeout."""

    def __init__(self, account: WeChatAccount) -> None:
        super().__init__(
            account.app_id,
            account.app_secret.get_secret_value(),
            timeout=account.api_timeout_seconds,
            # Token errors are retried by WeChatChannel, once, so a bad token cannot loop.
            auto_retry=False,
        )
        self._init_explicit_token(
            account.api_base,
            {
                "grant_type": "client_credential",
                "appid": account.app_id,
                "secret": account.app_secret.get_secret_value(),
            },
        )


class WeChatChannel:
    """One Official Account's sends through message/custom/send; buttons arrive degraded to numbered options.

    Inside the client's window (48 hours, 5 messages per client message) as customer-service messages;
    outside it the template of the message's kind (or the default template) goes instead, if there is one.
    """

    name = CHANNEL
    capabilities = ChannelCapabilities(buttons=False, max_text_length=MAX_TEXT, reply_window=timedelta(hours=48))

    def __init__(
        self,
        account: WeChatAccount,
        store: StateStore | None = None,
        *,
        client: KefuWeChatClient | None = None,
        media_dir: Path | None = None,
        clock: Clock | None = None,
        limiter: KeyedRateLimiter | None = None,
    ) -> None:
        self.account = account
        self.client = client or KefuWeChatClient(account)
        # Without a shared store (tests, one-off tools) the token lives in this process only.
        store = store or MemoryStateStore(clock or SystemClock())
        self.clock = clock or store.clock
        self.tokens = TokenProvider(store, account.app_id, self._fetch_token)
        # `await self.api(work)`: the token and the retried call, shared with the media downloader.
        self.api = WeChatApi(
            self.client,
            self.tokens,
            name="wechat",
            token_invalid=TOKEN_INVALID,
            window_closed=WINDOW_CLOSED,
            transient=TRANSIENT,
        )
        self.window = ReplyWindow(store, f"{CHANNEL}:{account.app_id}")
        self.limiter = limiter or KeyedRateLimiter(account.send_rate_per_second, 1.0, self.clock)
        self.media = MediaDownloader(self.api, media_dir, account.media_max_bytes) if media_dir is not None else None

    def reaches_outside_window(self, account: str) -> bool:
        """Whether a reply outside the 48-hour window goes out as this account's template."""
        return account == self.account.name and self.account.template_for(MessageKind.DEFAULT) is not None

    async def send(self, ref: ConversationRef, message: OutboundMessage) -> SendResult:
        openid = ref.external_user_id
        pieces = split_text(message.text, self.capabilities.max_text_length)
        remaining = await self.window.remaining(self.account.name, openid)
        if remaining == 0 and self.account.template_for(message.kind) is None:
            # Parked without using any of the account's send rate.
            raise WindowClosed("no customer-service message left in the client's window")
        # All pieces or none: a row retried after a partial send would repeat its first pieces.
        wait = self.limiter.acquire(self.account.name, len(pieces))
        if wait > 0:
            raise Throttled(f"wechat account {self.account.name}: send rate limit", retry_after=wait)
        external_id: str | None = None
        sent = 0
        try:
            for i, piece in enumerate(pieces):
                if remaining is not None and sent >= remaining:
                    reason = "no customer-service message left in the client's window"
                    return await self._outside_window(openid, "".join(pieces[i:]), message.kind, reason)
                data = {"touser": openid, "msgtype": "text", "text": {"content": piece}}
                try:
                    result = await self.api(partial(self.client.post_json, "message/custom/send", data))
                except WindowClosed as exc:
                    return await self._outside_window(openid, "".join(pieces[i:]), message.kind, str(exc))
                sent += 1
                external_id = _msgid(result)
        finally:
            if sent:
                await self.window.used(self.account.name, openid, sent)
        return SendResult(external_id=external_id)

    async def _outside_window(self, openid: str, text: str, kind: str, reason: str) -> SendResult:
        """What has not gone out yet goes as one template message (not limited to the window), else waits."""
        template = self.account.template_for(kind)
        if template is None:
            raise WindowClosed(reason)
        return await self._send_template(openid, text, template.template_id, template.remark)

    async def _send_template(self, openid: str, text: str, template_id: str, remark: str) -> SendResult:
        data = {"touser": openid, "template_id": template_id, "data": template_data(text, remark)}
        result = await self.api(partial(self.client.post_json, "message/template/send", data))
        log.info("wechat window closed; sent template %s instead", template_id)
        return SendResult(external_id=_msgid(result))

    async def _fetch_token(self) -> tuple[str, int]:
        return await asyncio.to_thread(self.client.request_token)


class WeChatAccounts:
    """The "wechat" channel of every configured Official Account: a send goes out through its row's account."""

    name = CHANNEL
    capabilities = WeChatChannel.capabilities

    def __init__(self, channels: Iterable[WeChatChannel]) -> None:
        self._channels = {channel.account.name: channel for channel in channels}

    def get(self, account: str = DEFAULT_ACCOUNT) -> WeChatChannel | None:
        return self._channels.get(account)

    def names(self) -> list[str]:
        return sorted(self._channels)

    def reaches_outside_window(self, account: str) -> bool:
        """Whether that account has a template for a reply outside the 48-hour window."""
        channel = self._channels.get(account)
        return channel is not None and channel.reaches_outside_window(account)

    async def send(self, ref: ConversationRef, message: OutboundMessage) -> SendResult:
        channel = self._channels.get(ref.account)
        if channel is None:
            # A row of an account removed from the configuration: visible as failed, not retried forever.
            raise PermanentSendError(f"wechat account {ref.account!r} is not configured")
        return await channel.send(ref, message)


def account_channel(channel: object, account: str) -> WeChatChannel | None:
    """The WeChatChannel of `account` in what the registry holds under "wechat" (one account or several)."""
    if isinstance(channel, WeChatAccounts):
        return channel.get(account)
    if isinstance(channel, WeChatChannel) and channel.account.name == account:
        return channel
    return None


def _msgid(result: dict[str, Any]) -> str | None:
    msgid = result.get("msgid")
    return str(msgid) if msgid is not None else None
