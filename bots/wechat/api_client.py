"""What both WeChat API clients add to wechatpy: a token URL on the configured base, and explicit tokens."""

from __future__ import annotations

import threading
import time
from typing import Any

import requests
from wechatpy.exceptions import WeChatClientException

from core.channel import TransientSendError


class ExplicitTokenMixin:
    """Fetches tokens from `token_request()` and posts with a token given by the caller (the shared one)."""

    API_BASE_URL: str
    api_name = "wechat"
    token_endpoint = "token"
    token_params: dict[str, str]
    _http: Any
    timeout: Any
    session: Any
    access_token_key: str
    expires_at: int | None

    def _init_explicit_token(self, api_base: str, token_params: dict[str, str]) -> None:
        self.API_BASE_URL = api_base
        self.token_params = token_params
        self._token_lock = threading.Lock()

    def request_token(self) -> tuple[str, int]:
        """Ask the configured base for a new token: (access_token, expires_in); wechatpy hard-codes its URL."""
        response = self._http.get(
            url=f"{self.API_BASE_URL}{self.token_endpoint}", params=self.token_params, timeout=self.timeout
        )
        try:
            response.raise_for_status()
        except requests.RequestException:
            raise WeChatClientException(None, None, client=self, request=response.request, response=response) from None
        result = response.json()
        if not isinstance(result, dict) or "access_token" not in result:
            errcode = result.get("errcode") if isinstance(result, dict) else None
            errmsg = result.get("errmsg") if isinstance(result, dict) else "no access_token"
            raise WeChatClientException(errcode, errmsg, client=self, request=response.request, response=response)
        return str(result["access_token"]), int(result.get("expires_in", 7200))

    def fetch_access_token(self) -> dict[str, Any]:
        """The token refresh wechatpy calls itself, through the configured base."""
        with self._token_lock:
            token, expires_in = self.request_token()
            self.session.set(self.access_token_key, token, expires_in)
            self.expires_at = int(time.time()) + expires_in
            return {"access_token": token, "expires_in": expires_in}

    def post_json(self, endpoint: str, data: dict[str, Any], token: str) -> dict[str, Any]:
        """POST `data` to `endpoint` with an explicit token, so wechatpy never fetches one of its own."""
        result = self.post(endpoint, params={"access_token": token}, data=data)  # type: ignore[attr-defined]
        if not isinstance(result, dict):
            raise TransientSendError(f"{self.api_name} API answered something other than JSON")
        return result
