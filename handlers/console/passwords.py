"""Password hashes: argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.errors import InvalidInput

_HASHER = PasswordHasher()
# Checked when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY = _HASHER.hash("kefu-no-such-user")
MIN_LENGTH = 10


def hash_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_LENGTH} characters")
    return _HASHER.hash(password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored or _DUMMY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """True when `password` matches `stored`; a missing hash never matches. Runs off the event loop."""
    return await asyncio.to_thread(_verify, stored, password)
