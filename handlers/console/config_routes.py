"""Admins' settings pages: the config documents (routing, SLA, hours, canned replies, texts) and departments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bots.common import db_int
from core.audit import record
from core.db.models import Department, User
from core.dialogue.forms import CATEGORIES
from core.errors import InvalidInput, NotFound
from handlers import config_documents
from handlers.console.access import require_role
from handlers.console.bodies import ABSENT, Body, checked, parsed, trimmed
from handlers.console.dependencies import AdminPrincipal, CurrentPrincipal
from handlers.console.users import STAFF
from handlers.console.web import page, text_field

if TYPE_CHECKING:
    from handlers.console.console import Console

# A document is posted as {"revision": n, "body": {...}}; every text of both languages overridden fits.
MAX_BODY = config_documents.MAX_DOCUMENT_BYTES


def _revision(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{name} (the one the page was loaded with) is required")
    return value


class Document(Body):
    revision: Annotated[int, checked(_revision)] = ABSENT
    # Checked by the loader of its kind when saved (config_documents.check).
    body: Any = None


def known_setting(name: str) -> str:
    """The path's setting name, refused (400) when there is none so named: before the body is read."""
    config_documents.kind(name)
    return name


def _code(value: Any, name: str) -> str:
    code = text_field({name: value}, name, limit=64)
    if not code.replace("-", "").replace("_", "").isalnum() or not code.isascii() or code != code.lower():
        raise InvalidInput(f"{name} must be lower-case letters, digits, '-' or '_'")
    return code


class DepartmentEdit(Body):
    name: Annotated[str, trimmed(128)] = ""
    # Checked against the users in the route's transaction (_head).
    head_user_id: Any = None


class NewDepartment(Body):
    # Fields are checked in this order: the first bad one is the one named.
    code: Annotated[str, checked(_code)] = ""
    name: Annotated[str, trimmed(128)] = ""
    head_user_id: Any = None


def config_routes(console: Console) -> APIRouter:
    router = console.private()
    services = console.services

    @router.get("/settings", include_in_schema=False)
    async def settings_page(request: Request, principal: CurrentPrincipal) -> HTMLResponse:
        require_role(principal, "admin")
        return page(request, "settings.html")

    @router.get("/api/admin/config/{name}")
    async def read(name: str, principal: CurrentPrincipal) -> JSONResponse:
        require_role(principal, "admin")
        revision, body = await config_documents.current(services, name)
        result: dict[str, Any] = {
            "name": name,
            "revision": revision,
            "body": body,
            "shipped": config_documents.shipped(services, name),
        }
        if name == "texts":
            texts = services.texts
            result["languages"] = texts.languages
            result["catalog"] = [
                {"key": key, "shipped": {lang: texts.shipped(key, lang) for lang in texts.languages}}
                for key in texts.overridable()
            ]
        if name == "sla":
            result["categories"] = list(CATEGORIES)
        return JSONResponse(result)

    @router.post("/api/admin/config/{name}")
    async def write(
        principal: AdminPrincipal,
        name: Annotated[str, Depends(known_setting)],
        body: Annotated[Document, Depends(parsed(Document, MAX_BODY))],
    ) -> JSONResponse:
        saved = await config_documents.save(
            services, name, body.body, user_id=principal.user_id, expected_revision=body.revision
        )
        return JSONResponse({"name": name, "revision": saved})

    @router.get("/api/admin/departments")
    async def departments(principal: CurrentPrincipal) -> JSONResponse:
        require_role(principal, "admin")
        async with services.db.transaction() as session:
            rows = (await session.execute(select(Department).order_by(Department.id))).scalars().all()
            staff = (
                await session.execute(
                    select(User).where(User.active.is_(True), User.role.in_(STAFF)).order_by(User.display_name)
                )
            ).scalars()
            return JSONResponse(
                {
                    "departments": [_department(d) for d in rows],
                    "categories": list(CATEGORIES),
                    "users": [{"id": u.id, "name": u.display_name, "username": u.username} for u in staff],
                }
            )

    @router.post("/api/admin/departments")
    async def add_department(
        principal: AdminPrincipal, body: Annotated[NewDepartment, Depends(parsed(NewDepartment))]
    ) -> JSONResponse:
        code, name = body.code, body.name
        now = services.clock.now()
        async with services.db.transaction() as session:
            if (await session.execute(select(Department.id).where(Department.code == code))).first():
                raise InvalidInput(f"department {code} exists already")
            head = await _head(session, body.head_user_id)
            dept = Department(code=code, name=name, head_user_id=head, created_at=now)
            session.add(dept)
            await session.flush()
            record(
                session,
                principal.user_id,
                "department_added",
                f"department:{code}",
                now,
                {"before": None, "after": _department(dept)},
            )
            return JSONResponse(_department(dept), status_code=201)

    @router.post("/api/admin/departments/{code}")
    async def edit_department(
        code: str, principal: AdminPrincipal, body: Annotated[DepartmentEdit, Depends(parsed(DepartmentEdit))]
    ) -> JSONResponse:
        name = body.name
        now = services.clock.now()
        async with services.db.transaction() as session:
            dept = (
                await session.execute(select(Department).where(Department.code == code).with_for_update())
            ).scalar_one_or_none()
            if dept is None:
                raise NotFound(f"no department {code}")
            before = _department(dept)
            dept.name = name
            dept.head_user_id = await _head(session, body.head_user_id)
            after = _department(dept)
            if after != before:
                record(
                    session,
                    principal.user_id,
                    "department_changed",
                    f"department:{code}",
                    now,
                    {"before": before, "after": after},
                )
            return JSONResponse(after)

    return router


def _department(dept: Department) -> dict[str, Any]:
    return {"code": dept.code, "name": dept.name, "head_user_id": dept.head_user_id}


async def _head(session: AsyncSession, value: Any) -> int | None:
    """The head's user id (an active member of staff), or None for no head."""
    if value is None or value == "":
        return None
    if not isinstance(value, int) or db_int(value) is None:
        raise InvalidInput("head_user_id must be a user id or null")
    user = await session.get(User, value)
    if user is None or not user.active or user.role not in STAFF:
        raise InvalidInput(f"user {value} is not active staff and cannot head a department")
    return value
