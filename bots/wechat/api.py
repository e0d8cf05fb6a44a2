"""One account's WeChat API: its shared token and one retried call, for the OA channel, the kf channel and media."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from typing import Any, TypeVar

import requests
from wechatpy.exceptions import WeChatClientException

from bots.wechat.token import TokenProvider
from core.channel import PermanentSendError, TransientSendError, WindowClosed

log = logging.getLogger(__name__)

T = TypeVar("T")


class WeChatApi:
    """Runs `work(token)` in a thread with the shared token; a rejected token is refreshed once and retried.

    Errors come out in the outbox's vocabulary (TransientSendError, WindowClosed, PermanentSendError) by the API's
    own error codes; the channel and the media downloader share one instance, so one refresh serves both.
    """

    def __init__(
        self,
        client: Any,
        tokens: TokenProvider,
        *,
        name: str,
        token_invalid: Collection[int],
        window_closed: Collection[int],
        transient: Collection[int],
    ) -> None:
        self.client = client
        self.tokens = tokens
        self.name = name
        # The codes of a rejected access token (refreshed once), of a closed reply window (the message is parked
        # until the client writes again) and of failures worth retrying later; any other code is final.
        self.token_invalid = token_invalid
        self.window_closed = window_closed
        self.transient = transient

    async def __call__(self, work: Callable[[str], T]) -> T:
        try:
            token = await self.tokens.get()
            try:
                # wechatpy is synchronous; a thread keeps the event loop free during the HTTP call.
                return await asyncio.to_thread(work, token)
            except WeChatClientException as exc:
                if exc.errcode not in self.token_invalid:
                    raise
                log.info("%s access token rejected (%s); refreshing once", self.name, exc.errcode)
            token = await self.tokens.refresh(failed=token)
            return await asyncio.to_thread(work, token)
        except WeChatClientException as exc:
            raise self.send_error(exc) from None
        except requests.RequestException as exc:
            raise TransientSendError(f"{self.name} API unreachable: {type(exc).__name__}") from None

    def send_error(self, exc: WeChatClientException) -> Exception:
        """Map a wechatpy error to the outbox's vocabulary: park, retry later, or give up."""
        code = exc.errcode
        if code is None:
            status = getattr(exc.response, "status_code", None)
            if status is None or status >= 500 or status == 429:
                return TransientSendError(f"{self.name} API HTTP {status}")
            return PermanentSendError(f"{self.name} API HTTP {status}")
        if code in self.window_closed:
            return WindowClosed(f"{self.name} errcode {code}: {exc.errmsg}")
        if code in self.transient or code in self.token_invalid:
            # A token still refused after a refresh is most likely a race with another process's refresh.
            return TransientSendError(f"{self.name} errcode {code}: {exc.errmsg}")
        return PermanentSendError(f"{self.name} errcode {code}: {exc.errmsg}")

    def stream(self, url: str, params: dict[str, str] | None = None) -> requests.Response:
        """GET `url` (absolute, or relative to the API base) as a stream, on the client's HTTP session."""
        absolute = url if url.startswith(("http://", "https://")) else f"{self.client.API_BASE_URL}{url}"
        response: requests.Response = self.client._http.get(
            absolute, params=params, timeout=self.client.timeout, stream=True
        )
        return response
