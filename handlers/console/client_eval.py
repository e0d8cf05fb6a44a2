"""The client evaluation page (客户评估): ranked figures for supervisors and admins; scores and tiers by admins."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import select

from bots.common import PathId, read_limited_body
from core import client_score_import
from core.client_eval import INDICATORS, decide, evaluate, save_suggestions, score_value, set_scores
from core.clock import as_utc
from core.db.models import Client, TierSuggestion
from core.errors import NotFound
from core.reports import local_midnight
from handlers.console.access import require_role
from handlers.console.dependencies import CurrentPrincipal
from handlers.console.web import json_body, page

if TYPE_CHECKING:
    from datetime import datetime

    from handlers.console.console import Console

READERS = ("supervisor", "admin")
DEFAULT_DAYS = 90
PAGE = 100


def client_eval_routes(console: Console) -> APIRouter:
    router = console.private()
    services = console.services
    zone = ZoneInfo(services.settings.timezone)
    rules = services.settings.client_evaluation

    def period(days: int) -> tuple[datetime, datetime, str]:
        """The last `days` whole local days up to and including today."""
        today = as_utc(services.clock.now()).astimezone(zone).date()
        first = today - timedelta(days=days - 1)
        label = f"{first.isoformat()}..{today.isoformat()}"
        return local_midnight(first, zone), local_midnight(today + timedelta(days=1), zone), label

    @router.get("/client-evaluation", include_in_schema=False)
    async def evaluation_page(request: Request, principal: CurrentPrincipal) -> HTMLResponse:
        require_role(principal, *READERS)
        return page(request, "client_eval.html")

    @router.get("/api/client-evaluation")
    async def view(
        principal: CurrentPrincipal,
        days: Annotated[int, Query(ge=7, le=366)] = DEFAULT_DAYS,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = PAGE,
    ) -> JSONResponse:
        require_role(principal, *READERS)
        start, end, label = period(days)
        async with services.db.transaction() as session:
            rows = await evaluate(
                session, start, end, now=services.clock.now(), tiers=services.policies.tiers, rules=rules
            )
            pending = await _pending(session)
        return JSONResponse(
            {
                "period": label,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "tiers": list(services.policies.tiers),
                "weights": rules.model_dump(),
                "total": len(rows),
                "offset": offset,
                "clients": [
                    r.to_json() | {"rank": offset + i + 1} for i, r in enumerate(rows[offset : offset + limit])
                ],
                "suggestions": pending,
                "may_edit": principal.role == "admin",
            }
        )

    @router.post("/api/admin/client-evaluation/suggest")
    async def make_suggestions(
        principal: CurrentPrincipal, days: Annotated[int, Query(ge=7, le=366)] = DEFAULT_DAYS
    ) -> JSONResponse:
        """Evaluates now and keeps the suggested tier changes for admins to accept or dismiss."""
        require_role(principal, "admin")
        start, end, label = period(days)
        now = services.clock.now()
        async with services.db.transaction() as session:
            rows = await evaluate(session, start, end, now=now, tiers=services.policies.tiers, rules=rules)
            added = await save_suggestions(session, rows, label, now)
        async with services.db.transaction() as session:
            return JSONResponse({"added": added, "suggestions": await _pending(session)})

    @router.post("/api/admin/tier-suggestions/{suggestion_id}/{decision}")
    async def decision(suggestion_id: PathId, decision: str, principal: CurrentPrincipal) -> JSONResponse:
        require_role(principal, "admin")
        if decision not in ("accept", "dismiss"):
            raise NotFound("unknown decision; accept or dismiss")
        now = services.clock.now()
        async with services.db.transaction() as session:
            row = await decide(session, suggestion_id, accept=decision == "accept", user_id=principal.user_id, now=now)
            return JSONResponse(_suggestion(row, None))

    @router.post("/api/admin/client-scores/{client_id}")
    async def edit_scores(client_id: PathId, request: Request, principal: CurrentPrincipal) -> JSONResponse:
        require_role(principal, "admin")
        data = await json_body(request)
        values = {name: score_value(data.get(name), name) for name in INDICATORS if name in data}
        async with services.db.transaction() as session:
            saved = await set_scores(session, client_id, values, user_id=principal.user_id, now=services.clock.now())
        return JSONResponse({"client_id": client_id, **saved})

    @router.post("/api/admin/client-scores-import")
    async def import_scores(request: Request, principal: CurrentPrincipal) -> JSONResponse:
        """All rows or none: a file with a bad row is refused whole, with every bad row's line and reason."""
        require_role(principal, "admin")
        raw = await read_limited_body(request, client_score_import.MAX_BYTES)
        now = services.clock.now()
        async with services.db.transaction() as session:
            rows = await client_score_import.parse(session, raw)
            written = await client_score_import.write(session, rows, user_id=principal.user_id, now=now)
        return JSONResponse({"imported": written})

    return router


async def _pending(session: Any) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(TierSuggestion, Client.name, Client.company)
        .join(Client, Client.id == TierSuggestion.client_id)
        .where(TierSuggestion.status == "pending")
        .order_by(TierSuggestion.id)
    )
    return [_suggestion(s, (name, company)) for s, name, company in rows]


def _suggestion(row: TierSuggestion, client: tuple[str, str] | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": row.id,
        "client_id": row.client_id,
        "period": row.period,
        "from_tier": row.from_tier,
        "to_tier": row.to_tier,
        "score": row.score,
        "reasons": row.reasons,
        "status": row.status,
    }
    if client is not None:
        data["name"], data["company"] = client
    return data
