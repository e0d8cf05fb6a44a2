"""The conversation view: transcript across the client's channels, ticket panel, client panel, reply window."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.channel import ChannelRegistry, outside_window
from core.clock import as_utc
from core.db.models import (
    ChannelIdentity,
    Client,
    Conversation,
    Department,
    Message,
    OutboxMessage,
    Ticket,
    TicketEvent,
    User,
)
from core.masking import CONTACT_SLOTS, mask_contact, mask_email, mask_phone, mask_text, mask_value
from core.messages import ConversationRef
from handlers.console.auth import Principal
from handlers.console.voice import needs_decoding

TRANSCRIPT_LIMIT = 500
EARLIER_TICKETS = 20


def _iso(moment: datetime | None) -> str | None:
    return as_utc(moment).isoformat() if moment else None


def reply_window(registry: ChannelRegistry, conversation: Conversation, now: datetime) -> dict[str, Any]:
    """Whether a reply goes out now, as a template message, or waits (parked) for the client to write again."""
    window = registry.capabilities(conversation.channel).reply_window
    last = as_utc(conversation.last_inbound_at) if conversation.last_inbound_at else None
    if window is None:
        return {"limited": False, "open": True, "outcome": "sent", "closes_at": None, "hours": None}
    closes = last + window if last else None
    is_open = closes is not None and now < closes
    outcome = "sent"
    if not is_open:
        ref = ConversationRef.from_json(conversation.ref)
        outcome = outside_window(registry.get(conversation.channel), ref.account)
    return {
        "limited": True,
        "open": is_open,
        "outcome": outcome,
        "closes_at": _iso(closes),
        "hours": int(window.total_seconds() // 3600),
    }


def attachment_json(number: str, message: Message, index: int, item: dict[str, Any]) -> dict[str, Any]:
    """Where the page finds the file; voice notes browsers cannot play get a decoded copy to play."""
    stored = bool(item.get("local_path"))
    url = f"/console/api/tickets/{number}/media/{message.id}/{index}" if stored else None
    mime = item.get("mime_type")
    return {
        "kind": str(item.get("kind", "file")),
        "mime_type": mime,
        "name": item.get("name"),
        "url": url,
        "play_url": f"{url}?play=wav" if url and needs_decoding(mime) else url,
    }


def _client_messages(ticket: Ticket) -> Any:
    return select(Conversation.id).where(Conversation.client_id == ticket.client_id)


async def transcript(session: AsyncSession, ticket: Ticket) -> tuple[list[dict[str, Any]], int]:
    """The client's messages on every channel, oldest first (the latest TRANSCRIPT_LIMIT), contact data masked."""
    conversations = _client_messages(ticket)
    total = int(
        await session.scalar(select(func.count(Message.id)).where(Message.conversation_id.in_(conversations))) or 0
    )
    rows = (
        await session.execute(
            select(Message, OutboxMessage.status, User.display_name)
            .outerjoin(OutboxMessage, OutboxMessage.message_id == Message.id)
            .outerjoin(User, User.id == Message.author_user_id)
            .where(Message.conversation_id.in_(conversations))
            .order_by(Message.id.desc())
            .limit(TRANSCRIPT_LIMIT)
        )
    ).all()
    messages = []
    for message, delivery, author in reversed(rows):
        payload = message.payload or {}
        shown = mask_text(message.text) if message.text else message.text
        messages.append(
            {
                "id": message.id,
                "direction": message.direction,
                "channel": message.channel,
                "type": message.type,
                "text": shown,
                "masked": shown != message.text,
                "at": _iso(message.created_at),
                "author": author,
                "delivery": delivery,
                "attachments": [
                    attachment_json(ticket.number, message, i, dict(a))
                    for i, a in enumerate(payload.get("attachments", []))
                    if isinstance(a, dict)
                ],
            }
        )
    return messages, total


def _actor_label(actor: str, names: dict[int, str]) -> str:
    if actor.startswith("user:") and actor[5:].isdigit():
        return names.get(int(actor[5:]), actor)
    return actor


async def ticket_panel(session: AsyncSession, ticket: Ticket, conversation: Conversation) -> dict[str, Any]:
    events = list(
        (
            await session.execute(
                select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
            )
        ).scalars()
    )
    user_ids = {ticket.assignee_id, conversation.holder_user_id}
    user_ids |= {int(e.actor[5:]) for e in events if e.actor.startswith("user:") and e.actor[5:].isdigit()}
    names = {
        u.id: u.display_name
        for u in (await session.execute(select(User).where(User.id.in_([i for i in user_ids if i])))).scalars()
    }
    department = await session.get(Department, ticket.department_id) if ticket.department_id else None
    details: dict[str, Any] = {}
    evidence: list[Any] = []
    for key, value in (ticket.details or {}).items():
        if key == "evidence":
            evidence = list(value) if isinstance(value, list) else []
        elif key in CONTACT_SLOTS and isinstance(value, str):
            details[key] = mask_contact(value)
        else:
            details[key] = mask_value(value)
    return {
        "number": ticket.number,
        "status": ticket.status,
        "category": ticket.category,
        "priority": ticket.priority,
        "title": mask_text(ticket.title),
        "channel": ticket.channel,
        "details": details,
        "masked_details": sorted(k for k in details if k in CONTACT_SLOTS),
        "evidence_count": len(evidence),
        "department": department.name if department else None,
        "department_code": department.code if department else None,
        "assignee": names.get(ticket.assignee_id) if ticket.assignee_id else None,
        "holder": names.get(conversation.holder_user_id) if conversation.holder_user_id else None,
        "holder_id": conversation.holder_user_id,
        "linked": conversation.ticket_id == ticket.id,
        "conversation_state": conversation.state,
        "first_response_due": _iso(ticket.first_response_due),
        "first_response_at": _iso(ticket.first_response_at),
        "resolution_due": _iso(ticket.resolution_due),
        "resolved_at": _iso(ticket.resolved_at),
        "closed_at": _iso(ticket.closed_at),
        "first_response_breached": ticket.first_response_breached,
        "resolution_breached": ticket.resolution_breached,
        "sla_paused": ticket.sla_paused_at is not None,
        "solution": ticket.solution,
        "root_cause": ticket.root_cause,
        "improvement": ticket.improvement,
        "satisfaction": ticket.satisfaction,
        "events": [
            {
                "id": e.id,
                "kind": e.kind,
                "actor": _actor_label(e.actor, names),
                "before": e.before,
                "after": e.after,
                "text": mask_text(str(e.data.get("text", ""))) if e.kind in ("note", "reclassified") else "",
                "at": _iso(e.created_at),
            }
            for e in events
        ],
    }


async def client_panel(session: AsyncSession, ticket: Ticket) -> dict[str, Any]:
    client = await session.get(Client, ticket.client_id)
    assert client is not None
    identities = (
        await session.execute(select(ChannelIdentity.channel).where(ChannelIdentity.client_id == client.id))
    ).scalars()
    earlier = (
        await session.execute(
            select(Ticket)
            .where(Ticket.client_id == client.id, Ticket.id != ticket.id)
            .order_by(Ticket.id.desc())
            .limit(EARLIER_TICKETS)
        )
    ).scalars()
    return {
        "name": client.name,
        "company": client.company,
        "tier": client.tier,
        "phone": mask_phone(client.phone),
        "email": mask_email(client.email),
        "channels": sorted(set(identities)),
        "earlier": [
            {
                "number": t.number,
                "status": t.status,
                "category": t.category,
                "title": mask_text(t.title),
                "at": _iso(t.created_at),
            }
            for t in earlier
        ],
    }


async def reveal(session: AsyncSession, ticket: Ticket) -> dict[str, Any]:
    """The unmasked contact data of the ticket: client, details, title, and transcript texts (the caller audits it).

    Only what masking changed is returned; the page shows it in place for this view and forgets it on reload.
    """
    client = await session.get(Client, ticket.client_id)
    assert client is not None
    details = {
        k: v
        for k, v in (ticket.details or {}).items()
        if isinstance(v, str) and (k in CONTACT_SLOTS or mask_text(v) != v)
    }
    texts = (
        await session.execute(
            select(Message.id, Message.text)
            .where(Message.conversation_id.in_(_client_messages(ticket)), Message.text.is_not(None))
            .order_by(Message.id.desc())
            .limit(TRANSCRIPT_LIMIT)
        )
    ).all()
    messages = {str(id): text for id, text in texts if text and mask_text(text) != text}
    notes = (
        await session.execute(
            select(TicketEvent.id, TicketEvent.data).where(
                TicketEvent.ticket_id == ticket.id, TicketEvent.kind.in_(("note", "reclassified"))
            )
        )
    ).all()
    events = {
        str(id): text for id, data in notes if (text := str((data or {}).get("text", ""))) and mask_text(text) != text
    }
    return {
        "phone": client.phone,
        "email": client.email,
        "details": details,
        "title": ticket.title,
        "messages": messages,
        "events": events,
    }


def principal_json(principal: Principal) -> dict[str, Any]:
    return {
        "id": principal.user_id,
        "username": principal.username,
        "name": principal.display_name,
        "role": principal.role,
        "language": principal.language,
    }
