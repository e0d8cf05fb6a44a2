"""Persistence of conversations: identities and their conversation rows, locks, and inbound messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import ChannelIdentity, Client, Conversation, Message
from core.dialogue.model import State
from core.errors import NotFound
from core.messages import Direction, InboundMessage


class DuplicateMessage(Exception):
    """The external message id was seen before on this channel account."""


async def find_or_create_identity(
    session: AsyncSession, msg: InboundMessage, now: datetime
) -> tuple[Client, ChannelIdentity]:
    """The client and channel identity that sent `msg`, created on first contact."""
    query = select(ChannelIdentity).where(
        ChannelIdentity.channel == msg.ref.channel,
        ChannelIdentity.account == msg.ref.account,
        ChannelIdentity.external_id == msg.ref.external_user_id,
    )
    identity = (await session.execute(query)).scalar_one_or_none()
    if identity is None:
        try:
            async with session.begin_nested():
                client = Client(name=msg.display_name or "", language=msg.language, created_at=now)
                session.add(client)
                await session.flush()
                identity = ChannelIdentity(
                    client_id=client.id,
                    channel=msg.ref.channel,
                    account=msg.ref.account,
                    external_id=msg.ref.external_user_id,
                    display_name=msg.display_name,
                    created_at=now,
                )
                session.add(identity)
                await session.flush()
        except IntegrityError:
            # Another process created the same identity a moment ago; use theirs.
            identity = (await session.execute(query)).scalar_one()
    client_row = await session.get(Client, identity.client_id)
    assert client_row is not None
    return client_row, identity


async def find_or_create_conversation(
    session: AsyncSession,
    client: Client,
    identity: ChannelIdentity,
    msg: InboundMessage,
    now: datetime,
    language: str,
) -> Conversation:
    """The identity's conversation, created on first contact, locked for this transaction."""
    query = select(Conversation.id).where(Conversation.identity_id == identity.id)
    conversation_id = (await session.execute(query)).scalar_one_or_none()
    if conversation_id is None:
        try:
            async with session.begin_nested():
                row = Conversation(
                    identity_id=identity.id,
                    client_id=client.id,
                    channel=msg.ref.channel,
                    ref=msg.ref.to_json(),
                    state=State.NEW.value,
                    slots={},
                    context={},
                    language=language,
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
                await session.flush()
                conversation_id = row.id
        except IntegrityError:
            conversation_id = (await session.execute(query)).scalar_one()
    conversation = await locked_conversation(session, conversation_id)
    conversation.ref = msg.ref.to_json()
    return conversation


async def locked_conversation(session: AsyncSession, conversation_id: int) -> Conversation:
    """The conversation row, locked for this transaction."""
    # FOR UPDATE serializes turns of one conversation across processes on PostgreSQL;
    # SQLite's BEGIN IMMEDIATE already serializes every writer.
    conversation = (
        await session.execute(
            select(Conversation)
            .where(Conversation.id == conversation_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if conversation is None:
        raise NotFound(f"conversation {conversation_id} does not exist")
    return conversation


async def store_inbound(
    session: AsyncSession, conversation: Conversation, msg: InboundMessage, now: datetime
) -> Message:
    """Store the message; a repeated external id raises DuplicateMessage (the unique constraint decides)."""
    payload: dict[str, Any] = dict(msg.payload)
    if msg.attachments:
        payload["attachments"] = [a.to_json() for a in msg.attachments]
    if msg.button_id:
        payload["button_id"] = msg.button_id
    row = Message(
        conversation_id=conversation.id,
        direction=Direction.INBOUND.value,
        channel=msg.ref.channel,
        account=msg.ref.account,
        external_id=msg.external_id,
        type=msg.type.value,
        text=msg.text,
        payload=payload,
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        raise DuplicateMessage(msg.external_id) from None
    return row
