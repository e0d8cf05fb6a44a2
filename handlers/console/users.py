"""People of the console: roles, creating users, and the departments whose tickets a rep works."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import record
from core.db.models import ConsoleSession, Department, User, UserDepartment
from core.errors import Conflict, InvalidInput
from handlers.console.passwords import MIN_SCORE, hash_password

# The roles of the agency's people in the console.
STAFF = ("rep", "supervisor", "admin")

USERNAME = re.compile(r"^[A-Za-z0-9._-]{2,64}$")


def normalize_username(name: str) -> str:
    return name.strip().lower()[:64]


async def create_user(
    session: AsyncSession,
    *,
    username: str,
    display_name: str,
    role: str,
    password: str,
    departments: Sequence[str] = (),
    email: str | None = None,
    now: datetime,
    actor_id: int | None = None,
    min_score: int = MIN_SCORE,
) -> User:
    """A new active user; the first department is the one tickets are assigned in, the rest are also visible."""
    name = normalize_username(username)
    if not USERNAME.match(name):
        raise InvalidInput("a user name has 2 to 64 letters, digits, dots, dashes or underscores")
    if role not in STAFF:
        raise InvalidInput(f"role must be one of {', '.join(STAFF)}")
    if not display_name.strip():
        raise InvalidInput("a display name is needed")
    if (await session.execute(select(User.id).where(User.username == name))).first() is not None:
        raise Conflict(f"user {name} exists already")
    found: list[Department] = []
    for code in departments:
        department = (await session.execute(select(Department).where(Department.code == code))).scalar_one_or_none()
        if department is None:
            raise InvalidInput(f"no department {code}")
        found.append(department)
    if role == "rep" and not found:
        raise InvalidInput("a rep needs at least one department")
    user = User(
        username=name,
        display_name=display_name.strip()[:128],
        role=role,
        password_hash=hash_password(password, (name, display_name), min_score),
        department_id=found[0].id if found else None,
        email=email or None,
        on_duty=True,
        active=True,
        created_at=now,
    )
    session.add(user)
    await session.flush()
    for department in found[1:]:
        session.add(UserDepartment(user_id=user.id, department_id=department.id))
    record(session, actor_id, "user_created", f"user:{user.id}", now, {"role": role})
    return user


async def set_password(
    session: AsyncSession,
    user: User,
    password: str,
    *,
    now: datetime,
    actor_id: int | None,
    keep_session: str | None = None,
    min_score: int = MIN_SCORE,
) -> int:
    """Give the user a new password and end their sessions (but `keep_session`); the number of sessions ended."""
    user.password_hash = hash_password(password, (user.username, user.display_name), min_score)
    ended = await session.execute(
        delete(ConsoleSession).where(ConsoleSession.user_id == user.id, ConsoleSession.id != (keep_session or ""))
    )
    count = int(getattr(ended, "rowcount", 0) or 0)
    action = "password_changed" if actor_id == user.id else "password_reset"
    record(session, actor_id, action, f"user:{user.id}", now, {"sessions_ended": count})
    return count
