"""Supervisors' reports: figures with filters, their CSV files, and the weekly report archive."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import select

from bots.common import MAX_DB_INT
from core.clock import as_utc
from core.db.models import Department, Ticket, User, WeeklyReport, WeeklyReportDelivery
from core.errors import InvalidInput, NotFound
from core.quarterly_eval import QUARTER, quarter_first_day
from core.report_tables import TABLES, ReportTables, to_csv
from core.reports import Report, ReportFilter, build_report
from core.weekly_report import week_monday
from handlers.console.access import require_role
from handlers.console.auth import Principal
from handlers.console.dependencies import CurrentPrincipal
from handlers.console.users import STAFF
from handlers.console.web import page

if TYPE_CHECKING:
    from handlers.console.console import Console

READERS = ("supervisor", "admin")
DEFAULT_DAYS = 30
EARLIEST, LATEST = date(1970, 1, 1), date(9998, 12, 31)


def _day(value: str | None, what: str) -> date | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{what} must be a date YYYY-MM-DD") from None
    # Periods are computed a day and a time zone beyond their ends: date.max and date.min have no room.
    if not EARLIEST <= day <= LATEST:
        raise InvalidInput(f"{what} must lie between {EARLIEST} and {LATEST}")
    return day


def csv_response(text: str, filename: str) -> Response:
    return Response(
        text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{filename}"', "cache-control": "no-store"},
    )


def reports_routes(console: Console) -> APIRouter:
    router = console.private()
    services = console.services
    zone = ZoneInfo(services.settings.timezone)

    async def report_for(
        principal: CurrentPrincipal,
        start: str | None = None,
        end: str | None = None,
        channel: str | None = None,
        department: str | None = None,
        rep: Annotated[int | None, Query(ge=0, le=MAX_DB_INT)] = None,
    ) -> tuple[Principal, Report]:
        """The report the query's filters ask for, once the principal may read reports (a dependency)."""
        require_role(principal, *READERS)
        now = services.clock.now()
        last = _day(end, "to") or as_utc(now).astimezone(zone).date()
        first = _day(start, "from") or last - timedelta(days=DEFAULT_DAYS - 1)
        flt = ReportFilter.for_days(first, last, zone, channel=channel, department=department, rep_id=rep)
        async with services.db.transaction() as session:
            return principal, await build_report(session, flt, now=now, zone=zone)

    @router.get("/reports", include_in_schema=False)
    async def reports_page(request: Request, principal: CurrentPrincipal) -> HTMLResponse:
        require_role(principal, *READERS)
        return page(request, "reports.html")

    @router.get("/reports/archive", include_in_schema=False)
    async def archive_page(request: Request, principal: CurrentPrincipal) -> HTMLResponse:
        require_role(principal, *READERS)
        return page(request, "archive.html")

    @router.get("/api/reports/options")
    async def options(principal: CurrentPrincipal) -> JSONResponse:
        require_role(principal, *READERS)
        async with services.db.transaction() as session:
            departments = (await session.execute(select(Department).order_by(Department.code))).scalars().all()
            reps = (
                await session.execute(select(User).where(User.role.in_(STAFF)).order_by(User.display_name))
            ).scalars()
            channels = (await session.execute(select(Ticket.channel).distinct())).scalars().all()
            return JSONResponse(
                {
                    "channels": sorted(set(channels) | set(services.registry.names())),
                    "departments": [{"code": d.code, "name": d.name} for d in departments],
                    "reps": [{"id": u.id, "name": u.display_name} for u in reps],
                    "today": as_utc(services.clock.now()).astimezone(zone).date().isoformat(),
                    "default_days": DEFAULT_DAYS,
                }
            )

    @router.get("/api/reports/data")
    async def data(asked: tuple[Principal, Report] = Depends(report_for)) -> JSONResponse:
        principal, report = asked
        tables = ReportTables(services.texts, principal.language)
        body = report.to_json()
        # The page shows these very rows, so what it shows is what the CSV files and the weekly report hold.
        body["tables"] = {
            name: dict(zip(("header", "rows"), tables.table(name, report), strict=True)) for name in TABLES
        }
        body["tables"]["summary"]["keys"] = [key for key, _, _ in tables.summary_figures(report)]
        body["alert_texts"] = tables.alerts(report)
        return JSONResponse(body)

    @router.get("/api/reports/csv/{table}")
    async def csv_export(table: str, asked: tuple[Principal, Report] = Depends(report_for)) -> Response:
        principal, report = asked
        if table not in TABLES:
            raise NotFound(f"no table {table}")
        text = to_csv(ReportTables(services.texts, principal.language).table(table, report))
        first = as_utc(report.start).astimezone(zone).date()
        last = as_utc(report.end).astimezone(zone).date() - timedelta(days=1)
        return csv_response(text, f"kefu-{table}-{first.isoformat()}-{last.isoformat()}.csv")

    @router.get("/api/reports/archive")
    async def archive(principal: CurrentPrincipal) -> JSONResponse:
        require_role(principal, *READERS)
        async with services.db.transaction() as session:
            rows = (
                await session.execute(
                    select(
                        WeeklyReport.id,
                        WeeklyReport.week,
                        WeeklyReport.period_start,
                        WeeklyReport.period_end,
                        WeeklyReport.created_at,
                        WeeklyReport.created_by,
                        WeeklyReport.csv,
                    ).order_by(WeeklyReport.week.desc())
                )
            ).all()
            deliveries = (
                await session.execute(select(WeeklyReportDelivery.report_id, WeeklyReportDelivery.status))
            ).all()
        status: dict[int, dict[str, int]] = {}
        for report_id, state in deliveries:
            counts = status.setdefault(report_id, {})
            counts[state] = counts.get(state, 0) + 1
        return JSONResponse(
            {
                "reports": [
                    {
                        "week": week,
                        "start": as_utc(start).astimezone(zone).date().isoformat(),
                        "end": (as_utc(end).astimezone(zone).date() - timedelta(days=1)).isoformat(),
                        "created_at": as_utc(created).isoformat(),
                        "created_by": created_by,
                        "deliveries": status.get(report_id, {}),
                        # The files this report was made with: the needs file came later than the six tables.
                        "tables": [*(t for t in TABLES if t in (files or {})), *sorted(set(files or {}) - set(TABLES))],
                    }
                    for report_id, week, start, end, created, created_by, files in rows
                ]
            }
        )

    async def stored(week: str) -> WeeklyReport:
        # The archive holds weekly reports (2026-W48) and quarterly client evaluations (2026-Q4): 400 on others.
        quarter_first_day(week) if QUARTER.match(week) else week_monday(week)
        async with services.db.transaction() as session:
            row = (await session.execute(select(WeeklyReport).where(WeeklyReport.week == week))).scalar_one_or_none()
        if row is None:
            raise NotFound(f"no weekly report for {week}")
        return row

    @router.get("/reports/archive/{week}", include_in_schema=False)
    async def archived(week: str, principal: CurrentPrincipal) -> HTMLResponse:
        require_role(principal, *READERS)
        return HTMLResponse((await stored(week)).html, headers={"cache-control": "no-store"})

    @router.get("/reports/archive/{week}/{table}.csv", include_in_schema=False)
    async def archived_csv(week: str, table: str, principal: CurrentPrincipal) -> Response:
        require_role(principal, *READERS)
        row = await stored(week)
        text = (row.csv or {}).get(table)
        if text is None:
            raise NotFound(f"no table {table} in {week}")
        return csv_response(str(text), f"kefu-{week}-{table}.csv")

    return router
