"""Who may work on which ticket, whatever the door (console, reps' Telegram group): one rule for all."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import User, UserDepartment

# Supervisors and admins work on every ticket; reps on those of their departments and what they hold.
SEES_ALL_ROLES = frozenset({"supervisor", "admin"})


def sees_all(role: str) -> bool:
    """Supervisors and admins see every ticket."""
    return role in SEES_ALL_ROLES


async def department_ids(session: AsyncSession, user: User) -> frozenset[int]:
    """Every department whose tickets the user works: the primary one and the extra ones."""
    extra = (
        await session.execute(select(UserDepartment.department_id).where(UserDepartment.user_id == user.id))
    ).scalars()
    ids = set(extra)
    if user.department_id is not None:
        ids.add(user.department_id)
    return frozenset(ids)


def may_work_on(
    *,
    user_id: int,
    role: str,
    departments: frozenset[int],
    department_id: int | None,
    assignee_id: int | None,
    holder: int | None,
) -> bool:
    """A ticket of one of the user's departments, assigned to them or held by them (or any, for supervisors)."""
    if sees_all(role):
        return True
    return department_id in departments or user_id in (assignee_id, holder)
