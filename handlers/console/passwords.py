"""Password hashes (argon2id with argon2-cffi's defaults, RFC 9106 low-memory profile) and strength (zxcvbn)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.errors import InvalidInput

_HASHER = PasswordHasher()
MIN_LENGTH = 10
MAX_LENGTH = 256
# zxcvbn's scale: 0 too guessable ... 4 very unguessable; 3 resists an offline attack on a slow hash.
MIN_SCORE = 3
# zxcvbn's work grows with the length; the first characters decide whether a password is guessable anyway.
_ESTIMATED_CHARS = 100


def check_strength(password: str, user_inputs: Sequence[str] = (), min_score: int = MIN_SCORE) -> None:
    """Refuse short, long, common and guessable passwords (words of the user's own name count as guessable)."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"a password has at most {MAX_LENGTH} characters")
    # zxcvbn's dictionaries are loaded by the first password set, not by every process.
    from zxcvbn import zxcvbn

    result = zxcvbn(password[:_ESTIMATED_CHARS], user_inputs=[u for u in user_inputs if u])
    if int(result["score"]) < min_score:
        advice = result["feedback"].get("warning") or "add more words that are not about you"
        raise InvalidInput(f"this password is too easy to guess ({advice})")


def hash_password(password: str, user_inputs: Sequence[str] = (), min_score: int = MIN_SCORE) -> str:
    """The argon2 hash of a new password that passed the strength check."""
    check_strength(password, user_inputs, min_score)
    return _HASHER.hash(password)


@cache
def _dummy_hash() -> str:
    """The hash checked when the user does not exist, so a wrong name costs as long as a wrong password."""
    # Made at the first sign-in with an unknown name, not at import: every kefu process and command imports this
    # module, and one hash at kefu's cost is about a quarter of a second of CPU and 64 MiB touched.
    return _HASHER.hash("kefu-no-such-user")


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """True when `password` matches `stored`; a missing hash never matches. Runs off the event loop."""
    return await asyncio.to_thread(_verify, stored, password)
