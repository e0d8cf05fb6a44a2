"""Secrets never reach a log line: bot tokens, signed query strings, passwords and session cookies are masked.

Installed once at start as the log record factory, so every record is cleaned when it is made, whichever
logger or handler it goes to (uvicorn's access log, whose handlers uvicorn configures itself, included).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

MASK = "[redacted]"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Telegram bot tokens in API and file URLs (…/bot123:ABC/getFile, …/file/bot123:ABC/photos/…).
    (re.compile(r"(/bot)\d+:[A-Za-z0-9_-]+"), r"\1" + MASK),
    # Bare Telegram bot tokens: a bot id, a colon and 35 characters.
    (re.compile(r"\b\d{6,}:[A-Za-z0-9_-]{30,}"), MASK),
    # Signed or secret query parameters and form fields.
    (
        re.compile(
            r"\b((?:access_token|msg_signature|signature|password|passwd|secret|corpsecret|token)=)[^&\s\"'<>;,]+",
            re.IGNORECASE,
        ),
        r"\1" + MASK,
    ),
    # JSON or dict renderings of passwords and secrets.
    (
        re.compile(r"""(["']?(?:password|passwd|secret|access_token|token)["']?\s*[:=]\s*["'])[^"']*""", re.IGNORECASE),
        r"\1" + MASK,
    ),
    (re.compile(r"\b(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE), r"\1" + MASK),
)


_SECRET_KEY = re.compile(r"password|passwd|secret|token|signature|cookie", re.IGNORECASE)


class Redactor:
    """Masks known secret shapes and the deployment's own secret values in text."""

    def __init__(self, secrets: Iterable[str] = (), cookies: Iterable[str] = ()) -> None:
        # Short values would mask ordinary words; real secrets are long.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)
        names = [re.escape(c) for c in cookies if c]
        self.cookie = re.compile(r"\b((?:" + "|".join(names) + r")=)[^;\s&\"']+") if names else None

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        if self.cookie is not None:
            text = self.cookie.sub(r"\1" + MASK, text)
        return text

    def value(self, value: Any) -> Any:
        """A log argument with secrets masked; numbers stay numbers, so %d still formats."""
        if value is None or isinstance(value, int | float | bool):
            return value
        text = value if isinstance(value, str) else str(value)
        cleaned = self(text)
        return value if cleaned == text and not isinstance(value, str) else cleaned

    def clean(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, str):
            record.msg = self(record.msg)
        if isinstance(record.args, dict):
            # A lone mapping argument: values under secret-sounding keys go whatever they look like.
            record.args = {k: MASK if _SECRET_KEY.search(str(k)) else self.value(v) for k, v in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(self.value(v) for v in record.args)
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text: a traceback whose message names a URL is masked once, here.
            record.exc_text = self(logging.Formatter().formatException(record.exc_info))


_installed: dict[str, Any] = {}


def install(secrets: Iterable[str] = (), cookies: Iterable[str] = ()) -> Redactor:
    """Clean every log record made from now on; installing again replaces the secrets, never stacks."""
    redactor = Redactor(secrets, cookies)
    base: Callable[..., logging.LogRecord] = _installed.get("base") or logging.getLogRecordFactory()
    _installed["base"] = base

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        redactor.clean(record)
        return record

    logging.setLogRecordFactory(make)
    return redactor
