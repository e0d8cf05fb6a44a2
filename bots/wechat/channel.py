"""WeChat Official Account channel: customer-service messages (客服消息) through the API, in a worker thread."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import timedelta
from typing import Any

import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from bots.wechat.settings import CHANNEL, WeChatAccount
from core.channel import (
    ChannelCapabilities,
    PermanentSendError,
    SendResult,
    TransientSendError,
    WindowClosed,
    split_text,
)
from core.messages import ConversationRef, OutboundMessage

log = logging.getLogger(__name__)

# 45015: the client has not written for 48 hours; 45047: too many messages since they last wrote.
WINDOW_CLOSED = frozenset({45015, 45047})
# The access token is invalid or expired (another process may have refreshed it): refresh once.
TOKEN_INVALID = frozenset({40001, 40014, 42001})
# -1 system busy; 45009 / 45011 rate limits. 40013 / 40125 / 40164 (bad app id, bad secret, server IP
# not whitelisted) come from the token endpoint and are fixed in configuration, after which retries succeed.
TRANSIENT = frozenset({-1, 45009, 45011, 40013, 40125, 40164})
# Custom-service text is limited to 2048 bytes; 600 CJK characters stay below it in UTF-8.
MAX_TEXT = 600


class KefuWeChatClient(WeChatClient):  # type: ignore[misc]
    """wechatpy's client pointed at the configured API base, token URL included, with a request timeout."""

    def __init__(self, account: WeChatAccount) -> None:
        super().__init__(
            account.app_id,
            account.app_secret.get_secret_value(),
            timeout=account.api_timeout_seconds,
            # Token errors are retried by WeChatChannel, once, so a bad token cannot loop.
            auto_retry=False,
        )
        self.API_BASE_URL = account.api_base
        self._token_lock = threading.Lock()

    def fetch_access_token(self) -> dict[str, Any]:
        """Fetch a token from `<api_base>token` (wechatpy hard-codes api.weixin.qq.com)."""
        with self._token_lock:
            response = self._http.get(
                url=f"{self.API_BASE_URL}token",
                params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
                timeout=self.timeout,
            )
            try:
                response.raise_for_status()
            except requests.RequestException:
                raise WeChatClientException(
                    None, None, client=self, request=response.request, response=response
                ) from None
            result = response.json()
            if not isinstance(result, dict) or "access_token" not in result:
                errcode = result.get("errcode") if isinstance(result, dict) else None
                errmsg = result.get("errmsg") if isinstance(result, dict) else "no access_token"
                raise WeChatClientException(errcode, errmsg, client=self, request=response.request, response=response)
            expires_in = int(result.get("expires_in", 7200))
            self.session.set(self.access_token_key, result["access_token"], expires_in)
            self.expires_at = int(time.time()) + expires_in
            return result


class WeChatChannel:
    """Sends text through message/custom/send; buttons arrive already degraded to numbered options."""

    name = CHANNEL
    capabilities = ChannelCapabilities(buttons=False, max_text_length=MAX_TEXT, reply_window=timedelta(hours=48))

    def __init__(self, account: WeChatAccount, client: KefuWeChatClient | None = None) -> None:
        self.account = account
        self.client = client or KefuWeChatClient(account)

    async def send(self, ref: ConversationRef, message: OutboundMessage) -> SendResult:
        external_id: str | None = None
        for piece in split_text(message.text, self.capabilities.max_text_length):
            # wechatpy is synchronous; a thread keeps the event loop free during the HTTP call.
            external_id = await asyncio.to_thread(self._send_text, ref.external_user_id, piece)
        return SendResult(external_id=external_id)

    def _send_text(self, openid: str, text: str) -> str | None:
        refreshed = False
        while True:
            try:
                result = self.client.message.send_text(openid, text)
            except WeChatClientException as exc:
                if exc.errcode in TOKEN_INVALID and not refreshed:
                    log.info("wechat access token rejected (%s); refreshing once", exc.errcode)
                    refreshed = True
                    self._refresh_token()
                    continue
                raise _send_error(exc) from None
            except requests.RequestException as exc:
                raise TransientSendError(f"wechat API unreachable: {type(exc).__name__}") from None
            if not isinstance(result, dict):
                raise TransientSendError("wechat API answered something other than JSON")
            msgid = result.get("msgid")
            return str(msgid) if msgid is not None else None

    def _refresh_token(self) -> None:
        try:
            self.client.fetch_access_token()
        except WeChatClientException as exc:
            raise _send_error(exc) from None
        except requests.RequestException as exc:
            raise TransientSendError(f"wechat token endpoint unreachable: {type(exc).__name__}") from None


def _send_error(exc: WeChatClientException) -> Exception:
    """Map a wechatpy error to the outbox's vocabulary: park, retry later, or give up."""
    code = exc.errcode
    if code is None:
        status = getattr(exc.response, "status_code", None)
        if status is None or status >= 500 or status == 429:
            return TransientSendError(f"wechat API HTTP {status}")
        return PermanentSendError(f"wechat API HTTP {status}")
    if code in WINDOW_CLOSED:
        return WindowClosed(f"wechat errcode {code}: {exc.errmsg}")
    if code in TRANSIENT or code in TOKEN_INVALID:
        # A token still refused after a refresh is most likely a race with another process's refresh.
        return TransientSendError(f"wechat errcode {code}: {exc.errmsg}")
    return PermanentSendError(f"wechat errcode {code}: {exc.errmsg}")
