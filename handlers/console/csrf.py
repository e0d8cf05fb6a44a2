"""CSRF protection: a per-session token in a header on every state-changing request, double-submit at sign-in."""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from handlers.console.errors import Forbidden

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HEADER = "x-csrf-token"
LOGIN_COOKIE = "kefu_console_login"
LOGIN_FIELD = "csrf"
LOGIN_MAX_AGE = 3600


def check_session_token(request: Request, expected: str) -> None:
    """State-changing requests must carry the session's token, which a page of another site cannot read."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(HEADER, "")
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden("csrf")


class LoginTokens:
    """The sign-in form has no session yet: its token is a signed cookie repeated in a hidden field."""

    def __init__(self, secret: str, *, secure: bool) -> None:
        self._signer = URLSafeTimedSerializer(secret, salt="kefu-console-login")
        self._secure = secure

    def issue(self, request: Request, response: Response) -> str:
        """The token of this browser's sign-in form; the cookie is set when it is missing or stale."""
        current = self._read(request)
        if current is not None:
            return current
        token = secrets.token_urlsafe(24)
        response.set_cookie(
            LOGIN_COOKIE,
            self._signer.dumps(token),
            max_age=LOGIN_MAX_AGE,
            httponly=True,
            samesite="strict",
            secure=self._secure,
            path="/console/login",
        )
        return token

    def check(self, request: Request, sent: str) -> bool:
        current = self._read(request)
        return current is not None and bool(sent) and hmac.compare_digest(current.encode(), sent.encode())

    def _read(self, request: Request) -> str | None:
        raw = request.cookies.get(LOGIN_COOKIE)
        if not raw:
            return None
        try:
            value = self._signer.loads(raw, max_age=LOGIN_MAX_AGE)
        except BadSignature:
            return None
        return value if isinstance(value, str) else None
