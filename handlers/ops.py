"""Ticket operations shared by the CLI (and later the console): list, show, transition."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import as_utc
from core.db.models import Conversation, Ticket, TicketEvent
from core.errors import NotFound
from core.tickets.lifecycle import TicketStatus, TransitionRequest
from core.tickets.takeover import ensure_not_held_by_other
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
        ticket = await _by_number(session, number)
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


async def transition_ticket(
    services: Services, number: str, request: TransitionRequest, *, by: int | None = None, override: bool = False
) -> str:
    """Move a ticket; resolving through the dialogue also tells the client and starts the feedback flow.

    `by` is the rep asking (None: the CLI); while another rep holds the conversation they get HeldByOther
    unless `override` (supervisors and admins).
    """
    async with services.db.transaction() as session:
        ticket = await _by_number(session, number)
        # The conversation first, as the engine's turns lock it: a close that releases it cannot deadlock them.
        conversation = await session.get(Conversation, ticket.conversation_id, with_for_update=True)
        linked = conversation is not None and conversation.ticket_id == ticket.id
        if by is not None and conversation is not None and linked:
            await ensure_not_held_by_other(session, conversation, by, override=override)
        moved_here = request.to is not TicketStatus.RESOLVED or conversation is None
        if moved_here:
            await services.desk.move(session, ticket, request, services.clock.now())
            status = ticket.status
    if moved_here:
        if request.to is TicketStatus.CLOSED and linked and conversation is not None:
            # A closed ticket ends the client's session where the channel has sessions (WeCom kf).
            await services.engine.end_channel_session(conversation.id)
        return status
    assert conversation is not None
    # Resolving tells the client, whether or not the client has since moved on to another issue.
    await services.engine.resolve(conversation.id, request.solution or "", request.actor, ticket_id=ticket.id)
    return TicketStatus.RESOLVED.value


async def _by_number(session: AsyncSession, number: str) -> Ticket:
    ticket = (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one_or_none()
    if ticket is None:
        raise NotFound(f"no ticket {number}")
    return ticket
