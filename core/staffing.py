"""Which departments have open tickets and nobody to see them (no active rep, no head)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Department, Ticket, User, UserDepartment
from core.tickets.lifecycle import OPEN_STATUSES


@dataclass(frozen=True, slots=True)
class Unstaffed:
    """A department whose open tickets no rep of its own sees (supervisors and admins still do)."""

    code: str
    name: str
    open_tickets: int


async def unstaffed_departments(session: AsyncSession) -> list[Unstaffed]:
    """Departments with open tickets but no active rep (primary or extra department) and no head."""
    extra = select(UserDepartment.user_id).where(UserDepartment.department_id == Department.id)
    staffed = (
        select(User.id)
        .where(User.active.is_(True), or_(User.department_id == Department.id, User.id.in_(extra)))
        .exists()
    )
    open_count = (
        select(func.count())
        .select_from(Ticket)
        .where(Ticket.department_id == Department.id, Ticket.status.in_([s.value for s in OPEN_STATUSES]))
        .scalar_subquery()
    )
    rows = await session.execute(
        select(Department.code, Department.name, open_count)
        .where(Department.head_user_id.is_(None), ~staffed, open_count > 0)
        .order_by(Department.code)
    )
    return [Unstaffed(code, name, int(count)) for code, name, count in rows.all()]
