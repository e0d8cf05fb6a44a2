"""The inbox: queues of tickets with their counts, in priority then SLA-deadline order, and search."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.clock import as_utc
from core.db.models import Client, Conversation, Department, Message, Ticket, User
from core.dialogue.model import State
from core.errors import InvalidInput
from core.masking import mask_text
from core.tickets.lifecycle import OPEN_STATUSES, TicketStatus
from handlers.console.access import visible_tickets
from handlers.console.auth import Principal

QUEUES = ("waiting", "mine", "department", "sla", "feedback")
OPEN = sorted(s.value for s in OPEN_STATUSES)
AFTER_RESOLUTION = [TicketStatus.RESOLVED.value, TicketStatus.FEEDBACK.value]
PREVIEW_CHARS = 120

# The clock that is running: first response until it happened, then resolution.
DEADLINE = case((Ticket.first_response_at.is_(None), Ticket.first_response_due), else_=Ticket.resolution_due)


def queue_filter(queue: str, principal: Principal, now: datetime, risk: timedelta) -> ColumnElement[bool]:
    """The condition of one queue; the caller adds the principal's visibility."""
    is_open = Ticket.status.in_(OPEN)
    if queue == "waiting":
        return and_(
            is_open,
            Conversation.state == State.HUMAN_QUEUE.value,
            Conversation.holder_user_id.is_(None),
            Conversation.ticket_id == Ticket.id,
        )
    if queue == "mine":
        return and_(
            is_open, or_(Ticket.assignee_id == principal.user_id, Conversation.holder_user_id == principal.user_id)
        )
    if queue == "department":
        if principal.sees_all:
            return is_open
        return and_(is_open, Ticket.department_id.in_(sorted(principal.departments) or [-1]))
    if queue == "sla":
        return and_(
            is_open,
            Ticket.sla_paused_at.is_(None),
            or_(Ticket.first_response_breached, Ticket.resolution_breached, now + risk >= DEADLINE),
        )
    if queue == "feedback":
        return Ticket.status.in_(AFTER_RESOLUTION)
    raise InvalidInput(f"queue must be one of {', '.join(QUEUES)}")


def _scoped(query: Select[Any], principal: Principal) -> Select[Any]:
    scope = visible_tickets(principal)
    return query if scope is None else query.where(scope)


TICKET_NUMBER = re.compile(r"^KF-\d{8}-\d{4,}$", re.IGNORECASE)
TICKET_PREFIX = re.compile(r"^KF-[\d-]*$", re.IGNORECASE)


def _search(term: str) -> ColumnElement[bool]:
    """Ticket numbers by the unique index (whole) or prefix; anything else also in names and message texts."""
    if TICKET_NUMBER.match(term):
        return Ticket.number == term.upper()
    if TICKET_PREFIX.match(term):
        return Ticket.number.startswith(term.upper(), autoescape=True)
    text_hit = exists().where(
        Message.conversation_id == Ticket.conversation_id, Message.text.icontains(term, autoescape=True)
    )
    return or_(
        Ticket.number.icontains(term, autoescape=True),
        Ticket.title.icontains(term, autoescape=True),
        Client.name.icontains(term, autoescape=True),
        Client.company.icontains(term, autoescape=True),
        text_hit,
    )


async def counts(session: AsyncSession, principal: Principal, now: datetime, risk: timedelta) -> dict[str, int]:
    result: dict[str, int] = {}
    for queue in QUEUES:
        query = (
            select(func.count(Ticket.id))
            .select_from(Ticket)
            .join(Conversation, Conversation.id == Ticket.conversation_id)
            .where(queue_filter(queue, principal, now, risk))
        )
        result[queue] = int(await session.scalar(_scoped(query, principal)) or 0)
    return result


async def page(
    session: AsyncSession,
    principal: Principal,
    *,
    queue: str,
    term: str,
    now: datetime,
    risk: timedelta,
    offset: int,
    limit: int,
) -> list[dict[str, Any]]:
    """One page of a queue (or, with a search term, of every ticket the principal sees)."""
    assignee = aliased(User)
    holder = aliased(User)
    query = (
        select(Ticket, Conversation, Client, Department.name, assignee.display_name, holder.display_name, DEADLINE)
        .join(Conversation, Conversation.id == Ticket.conversation_id)
        .join(Client, Client.id == Ticket.client_id)
        .outerjoin(Department, Department.id == Ticket.department_id)
        .outerjoin(assignee, assignee.id == Ticket.assignee_id)
        .outerjoin(holder, holder.id == Conversation.holder_user_id)
    )
    condition = _search(term[:100]) if term else queue_filter(queue, principal, now, risk)
    query = query.where(condition)
    query = _scoped(query, principal).order_by(Ticket.priority, DEADLINE.asc().nulls_last(), Ticket.id)
    rows = (await session.execute(query.offset(offset).limit(limit))).all()
    conversation_ids = [row[0].conversation_id for row in rows]
    last: dict[int, Message] = {}
    if conversation_ids:
        latest = (
            select(func.max(Message.id))
            .where(Message.conversation_id.in_(conversation_ids))
            .group_by(Message.conversation_id)
        )
        for found in (await session.execute(select(Message).where(Message.id.in_(latest)))).scalars():
            last[found.conversation_id] = found
    items = []
    for ticket, conversation, client, department, assignee_name, holder_name, deadline in rows:
        message = last.get(ticket.conversation_id)
        items.append(
            {
                "number": ticket.number,
                "title": mask_text(ticket.title),
                "status": ticket.status,
                "priority": ticket.priority,
                "category": ticket.category,
                "channel": ticket.channel,
                "department": department,
                "assignee": assignee_name,
                "holder": holder_name,
                "holder_id": conversation.holder_user_id,
                "conversation_id": conversation.id,
                "waiting": conversation.state == State.HUMAN_QUEUE.value and conversation.ticket_id == ticket.id,
                "client": client.name,
                "company": client.company,
                "tier": client.tier,
                "deadline": as_utc(deadline).isoformat() if deadline else None,
                "breached": bool(ticket.first_response_breached or ticket.resolution_breached),
                "paused": ticket.sla_paused_at is not None,
                # Masked before it is cut, so a number at the edge is not left half in clear.
                "last_text": (mask_text(message.text)[:PREVIEW_CHARS] if message and message.text else ""),
                "last_direction": message.direction if message else None,
                "last_at": as_utc(message.created_at).isoformat() if message else None,
            }
        )
    return items
