"""Telegram's errors as core's send errors: one mapping for the clients' chats, the reps' group and the heads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

from core.channel import PermanentSendError, RecipientGone, Throttled, TransientSendError

T = TypeVar("T")


async def bot_call(call: Callable[[], Awaitable[T]], *, on_retry_after: Callable[[float], None]) -> T:
    """Make one Bot API call; Telegram's refusals come out as Throttled, permanent or transient send errors.

    `on_retry_after` hears Telegram's flood-control wait first, so the caller's limiter holds the chat back.
    """
    try:
        return await call()
    except TelegramRetryAfter as exc:
        on_retry_after(float(exc.retry_after))
        raise Throttled(f"telegram flood control: {exc.message}", retry_after=float(exc.retry_after)) from None
    except TelegramForbiddenError as exc:
        # Blocked by the user, the account deleted, or the bot removed from the group.
        raise RecipientGone(f"telegram 403: {exc.message}") from None
    except TelegramMigrateToChat as exc:
        # A group became a supergroup under a new id.
        raise PermanentSendError(f"telegram chat migrated to {exc.migrate_to_chat_id}") from None
    except (TelegramBadRequest, TelegramEntityTooLarge) as exc:
        # Chat not found, bad markup, no rights, text too long: the same call fails the same way again.
        raise PermanentSendError(f"telegram 400: {exc.message}") from None
    except (TelegramServerError, TelegramNetworkError, ClientDecodeError) as exc:
        raise TransientSendError(f"telegram unavailable: {type(exc).__name__}") from None
    except TelegramAPIError as exc:
        # 401 (token revoked), 409 and the unclassified rest are fixed outside the message: retry later.
        raise TransientSendError(f"telegram error: {type(exc).__name__}: {exc.message}") from None
