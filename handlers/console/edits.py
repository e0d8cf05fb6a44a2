"""Ticket edits from the console that the dialogue does not own: category (a reclassification) and priority."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Ticket, TicketEvent
from core.dialogue.forms import CATEGORIES
from core.errors import InvalidInput
from core.learning import labels
from core.learning.labels import classified_text

PRIORITIES = ("P1", "P2", "P3", "P4")


async def reclassify(session: AsyncSession, ticket: Ticket, category: str, actor: str, now: datetime) -> bool:
    """Change the category; recorded as "reclassified" with the text, for tuning the keyword rules, and as the
    strongest confirmed label the learned model trains on."""
    _check("category", category, CATEGORIES)
    if category == ticket.category:
        return False
    data = {"text": await classified_text(session, ticket), "status": ticket.status}
    _record(session, ticket, "reclassified", ticket.category, category, data, actor, now)
    ticket.category = category
    await labels.confirm(session, ticket, labels.REP, category, now)
    return True


async def reprioritize(session: AsyncSession, ticket: Ticket, priority: str, actor: str, now: datetime) -> bool:
    """Change the priority; recorded as a "priority" event."""
    _check("priority", priority, PRIORITIES)
    if priority == ticket.priority:
        return False
    _record(session, ticket, "priority", ticket.priority, priority, {}, actor, now)
    ticket.priority = priority
    return True


# What sets one field of a ticket: (session, ticket, the new value, actor, now) -> whether it changed.
Edit = Callable[[AsyncSession, Ticket, str, str, datetime], Awaitable[bool]]
# The fields a rep sets from the console, each by its own route (/api/tickets/{number}/<field>).
EDITS: dict[str, Edit] = {"category": reclassify, "priority": reprioritize}


def _check(field: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InvalidInput(f"{field} must be one of {', '.join(choices)}")


def _record(
    session: AsyncSession,
    ticket: Ticket,
    kind: str,
    before: str | None,
    after: str,
    data: dict[str, Any],
    actor: str,
    now: datetime,
) -> None:
    session.add(
        TicketEvent(ticket_id=ticket.id, actor=actor, kind=kind, before=before, after=after, data=data, created_at=now)
    )
    ticket.updated_at = now
