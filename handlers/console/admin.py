"""Supervisors' reports, and for admins the users and the settings in force."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlalchemy import func, select

from bots.common import PathId
from core.audit import record
from core.db.models import Department, Ticket, User
from core.errors import InvalidInput, NotFound
from handlers.console.access import require_role
from handlers.console.bodies import ABSENT, Body, checked, parsed, trimmed
from handlers.console.dependencies import AdminPrincipal, CurrentPrincipal
from handlers.console.users import create_user, set_password

if TYPE_CHECKING:
    from handlers.console.console import Console


def _departments(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(d, str) for d in value):
        raise InvalidInput(f"{name} must be a list of department codes")
    return value


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{name} must be true or false")
    return value


class NewUser(Body):
    # In the order the fields are checked: the first bad one is the one named.
    departments: Annotated[list[str], checked(_departments)] = Field(default_factory=list)
    username: Annotated[str, trimmed(64)] = ""
    name: Annotated[str, trimmed(128)] = ""
    role: Annotated[str, trimmed(16)] = ""
    password: Annotated[str, trimmed(256)] = ""


class NewPassword(Body):
    password: Annotated[str, trimmed(256)] = ""


class Active(Body):
    active: Annotated[bool, checked(_flag)] = ABSENT


def admin_routes(console: Console) -> APIRouter:
    router = console.private()
    services = console.services

    @router.get("/api/reports")
    async def reports(principal: CurrentPrincipal) -> JSONResponse:
        require_role(principal, "supervisor", "admin")
        async with services.db.transaction() as session:
            by_status = dict((await session.execute(select(Ticket.status, func.count()).group_by(Ticket.status))).all())
            by_category = dict(
                (await session.execute(select(Ticket.category, func.count()).group_by(Ticket.category))).all()
            )
            breached = await session.scalar(
                select(func.count()).where(Ticket.first_response_breached | Ticket.resolution_breached)
            )
            score = await session.scalar(select(func.avg(Ticket.satisfaction)).where(Ticket.satisfaction.is_not(None)))
        return JSONResponse(
            {
                "by_status": {str(k): int(v) for k, v in by_status.items()},
                "by_category": {str(k): int(v) for k, v in by_category.items()},
                "breached": int(breached or 0),
                "satisfaction": round(float(score), 2) if score is not None else None,
            }
        )

    @router.get("/api/admin/users")
    async def users(principal: CurrentPrincipal) -> JSONResponse:
        require_role(principal, "admin")
        async with services.db.transaction() as session:
            rows = (
                await session.execute(
                    select(User, Department.code)
                    .outerjoin(Department, Department.id == User.department_id)
                    .order_by(User.id)
                )
            ).all()
        return JSONResponse(
            {
                "users": [
                    {
                        "id": u.id,
                        "username": u.username,
                        "name": u.display_name,
                        "role": u.role,
                        "department": code,
                        "active": u.active,
                    }
                    for u, code in rows
                ]
            }
        )

    @router.post("/api/admin/users")
    async def add_user(principal: AdminPrincipal, body: Annotated[NewUser, Depends(parsed(NewUser))]) -> JSONResponse:
        async with services.db.transaction() as session:
            user = await create_user(
                session,
                username=body.username,
                display_name=body.name,
                role=body.role,
                password=body.password,
                departments=body.departments,
                now=services.clock.now(),
                actor_id=principal.user_id,
                min_score=console.settings.password_min_score,
            )
            return JSONResponse({"id": user.id, "username": user.username}, status_code=201)

    @router.post("/api/admin/users/{user_id}/password")
    async def reset_password(
        user_id: int, principal: AdminPrincipal, body: Annotated[NewPassword, Depends(parsed(NewPassword))]
    ) -> JSONResponse:
        """An admin sets a user's password; every session of that user ends."""
        password = body.password
        async with services.db.transaction() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise NotFound(f"user {user_id} does not exist")
            ended = await set_password(
                session,
                user,
                password,
                now=services.clock.now(),
                actor_id=principal.user_id,
                keep_session=principal.session_id if user_id == principal.user_id else None,
                min_score=console.settings.password_min_score,
            )
        return JSONResponse({"id": user_id, "sessions_ended": ended})

    @router.get("/api/admin/settings")
    async def settings_view(principal: CurrentPrincipal) -> JSONResponse:
        """The settings in force that a person may read: no secrets, no connection strings."""
        require_role(principal, "admin")
        current = services.settings
        return JSONResponse(
            {
                "language": current.language,
                "timezone": current.timezone,
                "max_message_chars": current.max_message_chars,
                "followup_cutoff_hours": current.followup_cutoff_hours,
                "channels": services.registry.names(),
                "dialogue": current.dialogue.model_dump(),
                "tickets": current.tickets.model_dump(),
                "console": console.settings.model_dump(),
            }
        )

    @router.post("/api/admin/users/{user_id}/active")
    async def set_active(
        user_id: PathId, principal: AdminPrincipal, body: Annotated[Active, Depends(parsed(Active))]
    ) -> JSONResponse:
        active = body.active
        if user_id == principal.user_id and not active:
            raise InvalidInput("an admin cannot disable their own account")
        async with services.db.transaction() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise NotFound(f"user {user_id} does not exist")
            user.active = active
            action = "user_enabled" if active else "user_disabled"
            record(session, principal.user_id, action, f"user:{user_id}", services.clock.now())
        return JSONResponse({"id": user_id, "active": active})

    return router
