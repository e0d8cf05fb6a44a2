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
