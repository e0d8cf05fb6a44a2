"""Ticket edits from the console that the dialogue does not own: category (a reclassification) and priority."""

from __future__ import annotations

from datetime import datetime

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
    if category not in CATEGORIES:
        raise InvalidInput(f"category must be one of {', '.join(CATEGORIES)}")
    if category == ticket.category:
        return False
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            actor=actor,
            kind="reclassified",
            before=ticket.category,
            after=category,
            data={"text": await classified_text(session, ticket), "status": ticket.status},
            created_at=now,
        )
    )
    ticket.category = category
    ticket.updated_at = now
    await labels.confirm(session, ticket, labels.REP, category, now)
    return True


def reprioritize(session: AsyncSession, ticket: Ticket, priority: str, actor: str, now: datetime) -> bool:
    if priority not in PRIORITIES:
        raise InvalidInput(f"priority must be one of {', '.join(PRIORITIES)}")
    if priority == ticket.priority:
        return False
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            actor=actor,
            kind="priority",
            before=ticket.priority,
            after=priority,
            data={},
            created_at=now,
        )
    )
    ticket.priority = priority
    ticket.updated_at = now
    return True
