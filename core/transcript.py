"""Reading a conversation's transcript as the client sees it: inbound messages and delivered replies."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import as_utc
from core.db.models import ChannelIdentity, Conversation, Message, OutboxMessage
from core.messages import Direction


async def conversation_of(session: AsyncSession, channel: str, account: str, external_id: str) -> int | None:
    """The conversation id of a channel identity, if it has written before."""
    query = (
        select(Conversation.id)
        .join(ChannelIdentity, ChannelIdentity.id == Conversation.identity_id)
        .where(
            ChannelIdentity.channel == channel,
            ChannelIdentity.account == account,
            ChannelIdentity.external_id == external_id,
        )
    )
    return (await session.execute(query)).scalar_one_or_none()


def message_json(message: Message) -> dict[str, Any]:
    payload = message.payload or {}
    return {
        "id": message.id,
        "direction": message.direction,
        "type": message.type,
        "text": message.text,
        "buttons": list(payload.get("buttons", [])),
        "attachments": list(payload.get("attachments", [])),
        "created_at": as_utc(message.created_at).isoformat(),
    }


async def client_view(
    session: AsyncSession, conversation_id: int, after_id: int = 0, limit: int = 200
) -> list[Message]:
    """Messages after `after_id` in order, stopping before the first reply not yet delivered.

    Stopping (rather than skipping) keeps a reader that resumes from the last id it saw from
    ever missing a reply that is delivered late.
    """
    rows = await session.execute(
        select(Message, OutboxMessage.status)
        .outerjoin(OutboxMessage, OutboxMessage.message_id == Message.id)
        .where(Message.conversation_id == conversation_id, Message.id > after_id)
        .order_by(Message.id)
        .limit(limit)
    )
    visible: list[Message] = []
    for message, status in rows.all():
        if message.direction == Direction.OUTBOUND and status not in ("sent", None):
            break
        visible.append(message)
    return visible


async def delivery_log(session: AsyncSession, conversation_id: int) -> list[dict[str, Any]]:
    """Every message of a conversation with how each reply fared: sent, pending, parked (window_closed), failed.

    What the ticket history shows, so a reply waiting for the client's reply window is visible.
    """
    rows = await session.execute(
        select(Message, OutboxMessage.status, OutboxMessage.last_error, OutboxMessage.attempts)
        .outerjoin(OutboxMessage, OutboxMessage.message_id == Message.id)
        .where(Message.conversation_id == conversation_id)
        .order_by(Message.id)
    )
    log: list[dict[str, Any]] = []
    for message, status, error, attempts in rows.all():
        entry: dict[str, Any] = {
            "at": as_utc(message.created_at).isoformat(),
            "direction": message.direction,
            "type": message.type,
            "text": message.text,
            "author_user_id": message.author_user_id,
        }
        if message.direction == Direction.OUTBOUND:
            entry.update(delivery=status, error=error, attempts=attempts)
        log.append(entry)
    return log
