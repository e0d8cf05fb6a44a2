"""Who may see which ticket: reps those of their departments (and what they hold), supervisors and admins all."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.access import may_work_on
from core.db.models import Conversation, Ticket
from core.errors import NotFound
from handlers.console.auth import Principal
from handlers.console.errors import Forbidden


def require_role(principal: Principal, *roles: str) -> None:
    if principal.role not in roles:
        raise Forbidden("role")


def visible_tickets(principal: Principal) -> ColumnElement[bool] | None:
    """A WHERE clause limiting tickets to the principal's, or None when they see everything."""
    if principal.sees_all:
        return None
    mine: list[ColumnElement[Any]] = [Ticket.assignee_id == principal.user_id]
    if principal.departments:
        mine.append(Ticket.department_id.in_(sorted(principal.departments)))
    held = select(Conversation.id).where(Conversation.holder_user_id == principal.user_id)
    mine.append(Ticket.conversation_id.in_(held))
    return or_(false(), *mine)


def may_see(principal: Principal, ticket: Ticket, conversation: Conversation | None) -> bool:
    holder = conversation.holder_user_id if conversation is not None else None
    return may_see_ids(principal, ticket.department_id, ticket.assignee_id, holder)


def may_see_ids(principal: Principal, department_id: int | None, assignee_id: int | None, holder: int | None) -> bool:
    """may_see on the ids alone, for checks made without the rows (the live streams' fan-out)."""
    return may_work_on(
        user_id=principal.user_id,
        role=principal.role,
        departments=principal.departments,
        department_id=department_id,
        assignee_id=assignee_id,
        holder=holder,
    )


async def ticket_for(session: AsyncSession, principal: Principal, number: str) -> tuple[Ticket, Conversation]:
    """The ticket by number and its conversation; 404 when it does not exist, 403 when it is not theirs."""
    ticket = (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one_or_none()
    if ticket is None:
        raise NotFound(f"no ticket {number}")
    conversation = await session.get(Conversation, ticket.conversation_id)
    if conversation is None:
        raise NotFound(f"ticket {number} has no conversation")
    if not may_see(principal, ticket, conversation):
        raise Forbidden("ticket")
    return ticket, conversation
