"""Admins' client pages: find and edit one client (tier, name, company, phone), import many from CSV."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BeforeValidator, ValidationInfo
from sqlalchemy import or_, select

from bots.common import PathId, read_limited_body
from core.audit import record
from core.db.models import Client
from core.dialogue.forms import normalize_phone
from core.errors import Conflict, InvalidInput, NotFound
from core.masking import mask_phone
from handlers.console import client_import
from handlers.console.access import require_role
from handlers.console.bodies import Body, context_of, parsed, trimmed
from handlers.console.dependencies import AdminPrincipal, CurrentPrincipal
from handlers.console.web import text_field
from handlers.services import Services

if TYPE_CHECKING:
    from handlers.console.console import Console

SEARCH_LIMIT = 50


def _tier(value: Any, info: ValidationInfo) -> str:
    name, tiers = str(info.field_name), context_of(info)["tiers"]
    chosen = text_field({name: value}, name, limit=1).upper()
    if chosen not in tiers:
        raise InvalidInput(f"{name} must be one of {', '.join(tiers)}")
    return chosen


def tiers_in_force(services: Services) -> dict[str, Any]:
    return {"tiers": services.policies.tiers}


class ClientEdit(Body):
    # The tiers in force come with the request (the routing document may change them).
    tier: Annotated[str, BeforeValidator(_tier)] = ""
    name: Annotated[str, trimmed(128, required=False)] = ""
    company: Annotated[str, trimmed(200, required=False)] = ""
    # An empty phone field leaves the number on record (the page shows it masked); "-" removes it.
    phone: Annotated[str, trimmed(32, required=False)] = ""


def client_routes(console: Console) -> APIRouter:
    router = console.private()
    services = console.services

    def tiers() -> tuple[str, ...]:
        return services.policies.tiers

    @router.get("/api/admin/clients")
    async def search(principal: CurrentPrincipal, q: str = "") -> JSONResponse:
        require_role(principal, "admin")
        term = q.strip()[:64]
        query = select(Client).order_by(Client.id.desc()).limit(SEARCH_LIMIT)
        if term:
            like = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(
                or_(
                    Client.name.like(like, escape="\\"),
                    Client.company.like(like, escape="\\"),
                    Client.phone.like(like, escape="\\"),
                )
            )
        async with services.db.transaction() as session:
            rows = (await session.execute(query)).scalars().all()
            return JSONResponse({"tiers": list(tiers()), "clients": [_client(c) for c in rows]})

    @router.post("/api/admin/clients/{client_id}")
    async def edit(
        client_id: PathId,
        principal: AdminPrincipal,
        body: Annotated[ClientEdit, Depends(parsed(ClientEdit, context=tiers_in_force))],
    ) -> JSONResponse:
        tier, name, company, raw_phone = body.tier, body.name, body.company, body.phone
        phone = normalize_phone(raw_phone) if raw_phone not in ("", "-") else None
        if raw_phone not in ("", "-") and phone is None:
            raise InvalidInput("phone is not a mobile or landline number")
        now = services.clock.now()
        async with services.db.transaction() as session:
            client = await session.get(Client, client_id, with_for_update=True)
            if client is None:
                raise NotFound(f"no client {client_id}")
            before = client_import.audit_fields(client)
            client.tier, client.name, client.company = tier, name, company
            if raw_phone:
                client.phone = phone
            after = client_import.audit_fields(client)
            if after != before or (raw_phone and phone is not None):
                record(
                    session,
                    principal.user_id,
                    "client_changed",
                    f"client:{client_id}",
                    now,
                    {"before": before, "after": after},
                )
            return JSONResponse(_client(client))

    @router.post("/api/admin/clients-import/preview")
    async def preview(request: Request, principal: CurrentPrincipal) -> JSONResponse:
        """What a commit of this file would do; writes nothing."""
        require_role(principal, "admin")
        raw = await read_limited_body(request, client_import.MAX_BYTES)
        rows = client_import.parse(raw, tiers())
        async with services.db.transaction() as session:
            await client_import.match(session, rows)
        return JSONResponse(_summary(raw, rows))

    @router.post("/api/admin/clients-import/commit")
    async def commit(request: Request, principal: CurrentPrincipal, digest: str = "") -> JSONResponse:
        """Writes the valid rows of the previewed file in one transaction and reports the skipped ones."""
        require_role(principal, "admin")
        raw = await read_limited_body(request, client_import.MAX_BYTES)
        if digest != client_import.digest(raw):
            raise Conflict("this is not the file that was previewed; preview it again")
        rows = client_import.parse(raw, tiers())
        now = services.clock.now()
        async with services.db.transaction() as session:
            await client_import.match(session, rows)
            changes = await client_import.write(session, rows, now)
            summary = _summary(raw, rows)
            record(
                session,
                principal.user_id,
                "clients_imported",
                "clients",
                now,
                {
                    "created": summary["created"],
                    "updated": summary["updated"],
                    "skipped": [r["line"] for r in summary["rows"] if r["action"] == "skip"],
                    "changes": changes,
                },
            )
        return JSONResponse(summary)

    return router


def _summary(raw: bytes, rows: list[client_import.ImportRow]) -> dict[str, Any]:
    return {
        "digest": client_import.digest(raw),
        "rows": [r.json() for r in rows],
        "created": sum(r.action == "create" for r in rows),
        "updated": sum(r.action == "update" for r in rows),
        "skipped": sum(r.action == "skip" for r in rows),
    }


def _client(client: Client) -> dict[str, Any]:
    return {
        "id": client.id,
        "name": client.name,
        "company": client.company,
        "phone": mask_phone(client.phone),
        "tier": client.tier,
    }
