"""Signature checks shared by the Official Account and WeCom callbacks."""

from __future__ import annotations

import hashlib
import hmac


class BadSignature(Exception):
    """The request was not signed with the account's token."""


def sign(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the sorted parts joined together."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def same(expected: str, given: str) -> bool:
    """Constant-time comparison, so a signature cannot be guessed byte by byte from response times."""
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))
