"""WeCom 微信客服 (kf) channel: kf/send_msg, kf/sync_msg and session-state transfers, in a worker thread."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

import requests
from wechatpy.exceptions import WeChatClientException
from wechatpy.work import WeChatClient

from bots.wechat.api_client import ExplicitTokenMixin
from bots.wechat.kf_settings import CHANNEL, WeComKfAccount
from bots.wechat.token import MemoryStateStore, StateStore, TokenProvider
from bots.wechat.window import ReplyWindow
from core.channel import (
    ChannelCapabilities,
    PermanentSendError,
    RepInfo,
    SendResult,
    TransientSendError,
    WindowClosed,
    split_text,
)
from core.clock import SystemClock
from core.messages import ConversationRef, OutboundMessage

log = logging.getLogger(__name__)
T = TypeVar("T")

# 95001: too many messages since the client last wrote; 95002: the client has not written for 48 hours;
# 95013: the session has ended. All three lift when the client writes again, so the reply is parked.
WINDOW_CLOSED = frozenset({95001, 95002, 95013})
# WeCom's invalid / expired access token (40001 is "bad secret" there, not a token error): refresh once.
TOKEN_INVALID = frozenset({40014, 42001})
# -1 busy; 45009 / 45033 rate and concurrency limits; 40001 / 40013 / 60020 (bad secret, bad corp id,
# server IP not trusted) come from gettoken and are fixed in configuration, after which retries succeed.
TRANSIENT = frozenset({-1, 45009, 45033, 40001, 40013, 60020})
# kf text is limited to 2048 bytes; 600 CJK characters stay below it in UTF-8.
MAX_TEXT = 600
# kf/service_state/trans states.
STATE_BOT = 1
STATE_POOL = 2
STATE_HUMAN = 3


class KefuWeComClient(ExplicitTokenMixin, WeChatClient):  # type: ignore[misc]
    """wechatpy's WeCom client pointed at the configured API base, gettoken included, with a request timeout."""

    api_name = "wecom"
    token_endpoint = "gettoken"

    def __init__(self, account: WeComKfAccount) -> None:
        super().__init__(
            account.corp_id,
            account.secret.get_secret_value(),
            timeout=account.api_timeout_seconds,
            # Token errors are retried by WeComKfChannel, once, so a bad token cannot loop.
            auto_retry=False,
        )
        self._init_explicit_token(
            account.api_base, {"corpid": account.corp_id, "corpsecret": account.secret.get_secret_value()}
        )


class WeComKfChannel:
    """Sends text through kf/send_msg as the conversation's kf account; buttons arrive degraded to numbers.

    Inside the client's window only (48 hours, 5 messages per client message); beyond it the reply waits.
    Implements core.channel.Handover: a rep's claim moves the WeCom session to human service.
    """

    name = CHANNEL
    capabilities = ChannelCapabilities(buttons=False, max_text_length=MAX_TEXT, reply_window=timedelta(hours=48))

    def __init__(
        self, account: WeComKfAccount, store: StateStore | None = None, *, client: KefuWeComClient | None = None
    ) -> None:
        self.account = account
        self.client = client or KefuWeComClient(account)
        # Without a shared store (tests, one-off tools) the token lives in this process only.
        self.store: StateStore = store or MemoryStateStore(SystemClock())
        # The prefix keeps the corp's kf token apart from an Official Account's token in the same store.
        self.tokens = TokenProvider(self.store, f"wecom-kf:{account.corp_id}", self._fetch_token)
        self.window = ReplyWindow(self.store, f"{CHANNEL}:{account.corp_id}")

    async def send(self, ref: ConversationRef, message: OutboundMessage) -> SendResult:
        remaining = await self.window.remaining(ref.account, ref.external_user_id)
        external_id: str | None = None
        sent = 0
        try:
            for piece in split_text(message.text, self.capabilities.max_text_length):
                if remaining is not None and sent >= remaining:
                    raise WindowClosed("no kf message left in the client's window")
                data: dict[str, Any] = {
                    "touser": ref.external_user_id,
                    "open_kfid": ref.account,
                    "msgtype": "text",
                    "text": {"content": piece},
                }
                result = await self.api(partial(self.client.post_json, "kf/send_msg", data))
                sent += 1
                msgid = result.get("msgid")
                external_id = str(msgid) if msgid is not None else external_id
        finally:
            if sent:
                await self.window.used(ref.account, ref.external_user_id, sent)
        return SendResult(external_id=external_id)

    async def handover(self, ref: ConversationRef, *, to_human: bool, rep: RepInfo | None) -> None:
        """A rep claimed the conversation (to their WeCom userid, see WeComKfAccount.servicers) or released it."""
        servicer: str | None = None
        if to_human:
            servicer = self.account.servicer_for(rep.username) if rep is not None else self.account.default_servicer
        await self.transfer(ref, to_human, servicer)

    async def sync_page(self, open_kfid: str, cursor: str, callback_token: str) -> dict[str, Any]:
        """One page of kf/sync_msg; wechatpy's client.kf.sync_msg would drop open_kfid, so it is posted here."""
        data = {"cursor": cursor, "token": callback_token, "limit": 1000, "open_kfid": open_kfid}
        return await self.api(lambda token: self.client.post_json("kf/sync_msg", data, token))

    async def transfer(self, ref: ConversationRef, to_human: bool, servicer_userid: str | None = None) -> None:
        """Hand the client's kf session to a human (claim) or back to the bot (release).

        WeCom's "human" state needs a servicer; without one the session goes to the waiting pool,
        where any servicer of the kf account can pick it up.
        """
        data: dict[str, Any] = {"open_kfid": ref.account, "external_userid": ref.external_user_id}
        if not to_human:
            data["service_state"] = STATE_BOT
        elif servicer_userid:
            data.update(service_state=STATE_HUMAN, servicer_userid=servicer_userid)
        else:
            data["service_state"] = STATE_POOL
        await self.api(lambda token: self.client.post_json("kf/service_state/trans", data, token))

    async def api(self, work: Callable[[str], T]) -> T:
        """Run `work(token)` in a thread with the shared token; a rejected token is refreshed once and retried.

        Errors come out in the outbox's vocabulary (TransientSendError, WindowClosed, PermanentSendError).
        """
        try:
            token = await self.tokens.get()
            try:
                # wechatpy is synchronous; a thread keeps the event loop free during the HTTP call.
                return await asyncio.to_thread(work, token)
            except WeChatClientException as exc:
                if exc.errcode not in TOKEN_INVALID:
                    raise
                log.info("wecom access token rejected (%s); refreshing once", exc.errcode)
            token = await self.tokens.refresh(failed=token)
            return await asyncio.to_thread(work, token)
        except WeChatClientException as exc:
            raise send_error(exc) from None
        except requests.RequestException as exc:
            raise TransientSendError(f"wecom API unreachable: {type(exc).__name__}") from None

    async def _fetch_token(self) -> tuple[str, int]:
        return await asyncio.to_thread(self.client.request_token)


def send_error(exc: WeChatClientException) -> Exception:
    """Map a wechatpy error to the outbox's vocabulary: park, retry later, or give up."""
    code = exc.errcode
    if code is None:
        status = getattr(exc.response, "status_code", None)
        if status is None or status >= 500 or status == 429:
            return TransientSendError(f"wecom API HTTP {status}")
        return PermanentSendError(f"wecom API HTTP {status}")
    if code in WINDOW_CLOSED:
        return WindowClosed(f"wecom errcode {code}: {exc.errmsg}")
    if code in TRANSIENT or code in TOKEN_INVALID:
        # A token still refused after a refresh is most likely a race with another process's refresh.
        return TransientSendError(f"wecom errcode {code}: {exc.errmsg}")
    return PermanentSendError(f"wecom errcode {code}: {exc.errmsg}")
