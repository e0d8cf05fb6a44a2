"""Tickets as the `kefu tickets` commands list and show them (moving a ticket is `Engine.move_ticket`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from core.clock import as_utc
from core.db.models import Ticket, TicketEvent
from core.engine.reps import ticket_by_number
from core.transcript import delivery_log
from handlers.services import Services


@dataclass(frozen=True)
class TicketRow:
    """One line of `kefu tickets list`."""

    number: str
    status: str
    priority: str
    category: str
    title: str
    created_at: str


async def list_tickets(services: Services, status: str | None = None, limit: int = 50) -> list[TicketRow]:
    async with services.db.transaction() as session:
        query = select(Ticket).order_by(Ticket.id.desc()).limit(limit)
        if status:
            query = query.where(Ticket.status == status)
        return [
            TicketRow(t.number, t.status, t.priority, t.category, t.title, as_utc(t.created_at).isoformat())
            for t in (await session.execute(query)).scalars()
        ]


async def show_ticket(services: Services, number: str) -> dict[str, Any]:
    async with services.db.transaction() as session:
        ticket = await ticket_by_number(session, number)
        events = (
            await session.execute(
                select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
            )
        ).scalars()
        fields = (
            "number",
            "status",
            "priority",
            "category",
            "channel",
            "title",
            "details",
            "solution",
            "root_cause",
            "improvement",
            "satisfaction",
            "assignee_id",
            "resolved_by_id",
            "reopen_count",
        )
        shown: dict[str, Any] = {f: getattr(ticket, f) for f in fields}
        for f in ("first_response_due", "resolution_due", "first_response_at", "resolved_at", "closed_at"):
            value = getattr(ticket, f)
            shown[f] = as_utc(value).isoformat() if value else None
        shown["events"] = [
            {
                "at": as_utc(e.created_at).isoformat(),
                "actor": e.actor,
                "kind": e.kind,
                "before": e.before,
                "after": e.after,
                "data": e.data,
            }
            for e in events
        ]
        # The conversation as delivered: replies parked while the client's window is closed show as such.
        shown["messages"] = await delivery_log(session, ticket.conversation_id)
        return shown
