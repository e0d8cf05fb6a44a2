"""One account's WeChat API: its shared token and one retried call, for the OA channel, the kf channel and media."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from typing import Any, TypeVar

import requests
from wechatpy.exceptions import WeChatClientException

from bots.wechat.token import TokenProvider
from core.channel import TransientSendError

log = logging.getLogger(__name__)

T = TypeVar("T")


class WeChatApi:
    """Runs `work(token)` in a thread with the shared token; a rejected token is refreshed once and retried.

    Errors come out in the outbox's vocabulary through `errors` (TransientSendError, WindowClosed,
    PermanentSendError); the channel and the media downloader share one instance, so one refresh serves both.
    """

    def __init__(
        self,
        client: Any,
        tokens: TokenProvider,
        *,
        name: str,
        token_invalid: Collection[int],
        errors: Callable[[WeChatClientException], Exception],
    ) -> None:
        self.client = client
        self.tokens = tokens
        self.name = name
        self.token_invalid = token_invalid
        self.errors = errors

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
            raise self.errors(exc) from None
        except requests.RequestException as exc:
            raise TransientSendError(f"{self.name} API unreachable: {type(exc).__name__}") from None

    def stream(self, url: str, params: dict[str, str] | None = None) -> requests.Response:
        """GET `url` (absolute, or relative to the API base) as a stream, on the client's HTTP session."""
        absolute = url if url.startswith(("http://", "https://")) else f"{self.client.API_BASE_URL}{url}"
        response: requests.Response = self.client._http.get(
            absolute, params=params, timeout=self.client.timeout, stream=True
        )
        return response
