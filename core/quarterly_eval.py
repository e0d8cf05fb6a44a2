"""The quarterly client evaluation (客户评估): which quarter is due, its HTML and CSV, archived like weekly reports."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from html import escape
from typing import ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from core.client_eval import INDICATORS, ClientEvaluation, evaluate, save_suggestions
from core.clock import as_utc
from core.errors import InvalidInput
from core.report_tables import Cell, Table, html_table, percent, to_csv
from core.reports import local_midnight
from core.settings import ClientEvaluationSettings, WeeklyReportSettings
from core.weekly_report import ArchiveContent, ArchiveWriter, require_period_over

QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
# The archived HTML ranks this many clients; the CSV file holds them all.
HTML_ROWS = 30
KIND = "client_evaluation"


def quarter_label(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def quarter_first_day(quarter: str) -> date:
    match = QUARTER.match(quarter)
    if not match:
        raise InvalidInput("a quarter is written YYYY-Qn, e.g. 2026-Q4")
    return date(int(match.group(1)), 3 * (int(match.group(2)) - 1) + 1, 1)


def _next_quarter(first: date) -> date:
    return date(first.year + 1, 1, 1) if first.month == 10 else date(first.year, first.month + 3, 1)


def quarter_period(quarter: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The quarter's first day 00:00 to the next quarter's first day 00:00, local time."""
    first = quarter_first_day(quarter)
    return local_midnight(first, zone), local_midnight(_next_quarter(first), zone)


def require_quarter_over(quarter: str, now: datetime, zone: ZoneInfo) -> None:
    """InvalidInput unless `quarter` has ended by `now`: it is archived once, so never with incomplete figures."""
    require_period_over(quarter, now, zone, quarter_period, "quarter")


def due_quarter(now: datetime, zone: ZoneInfo, schedule: WeeklyReportSettings) -> str:
    """The latest ended quarter whose evaluation is due at `now`: from the next quarter's first day at `at`."""
    local = as_utc(now).astimezone(zone)
    current = quarter_first_day(quarter_label(local.date()))
    previous = date(current.year - 1, 10, 1) if current.month == 1 else date(current.year, current.month - 3, 1)
    hour, minute = (int(p) for p in schedule.at.split(":"))
    if local >= datetime.combine(current, time(hour, minute), tzinfo=zone):
        return quarter_label(previous)
    before = date(previous.year - 1, 10, 1) if previous.month == 1 else date(previous.year, previous.month - 3, 1)
    return quarter_label(before)


@dataclass(eq=False)
class QuarterlyEvaluationWriter(ArchiveWriter):
    """Evaluates an ended quarter, keeps its tier suggestions and archives it with one delivery per supervisor."""

    tiers: tuple[str, ...]
    rules: ClientEvaluationSettings
    page: ClassVar[str] = "console.client_eval"
    noun: ClassVar[str] = "quarter"
    period = staticmethod(quarter_period)

    async def content(
        self, session: AsyncSession, label: str, start: datetime, end: datetime, now: datetime
    ) -> ArchiveContent:
        """The ranking and its tier suggestions, the suggestions kept for the admins in the same transaction."""
        rows = await evaluate(session, start, end, now=now, tiers=self.tiers, rules=self.rules)
        added = await save_suggestions(session, rows, label, now)
        suggested = [r for r in rows if r.suggestion is not None]
        data = {
            "kind": KIND,
            "clients": len(rows),
            "scored": sum(r.score is not None for r in rows),
            "suggestions": len(suggested),
            "new_suggestions": added,
            "weights": self.rules.model_dump(),
        }
        return ArchiveContent(self.html(label, rows), data, {KIND: to_csv(self.table(rows))})

    HEADER = (
        "rank",
        "client",
        "tier",
        "score",
        "tickets",
        "complaints",
        "complaint_rate",
        "satisfaction",
        "trend",
        "sla",
        "reopened",
        "last_contact",
        *INDICATORS,
        "suggestion",
    )

    def table(self, rows: list[ClientEvaluation]) -> Table:
        body: list[list[Cell]] = []
        for rank, e in enumerate(rows, start=1):
            data = e.to_json()
            body.append(
                [
                    rank,
                    f"{e.name} {e.company}".strip(),
                    e.tier,
                    data["score"],
                    e.current.tickets,
                    e.current.complaints,
                    percent(data["complaint_rate"]),
                    data["satisfaction_avg"],
                    data["satisfaction_change"],
                    percent(data["sla_met_rate"]),
                    e.current.reopened,
                    as_utc(e.last_contact).astimezone(self.zone).date().isoformat() if e.last_contact else "",
                    *(e.scores.get(n) for n in INDICATORS),
                    f"{e.tier} → {e.suggestion['to_tier']}" if e.suggestion else "",
                ]
            )
        return [self.t(h) for h in self.HEADER], body

    def html(self, quarter: str, rows: list[ClientEvaluation]) -> str:
        """A whole HTML document without scripts or style attributes, for e-mail and the console archive."""
        title = self.tr("client_eval_title", quarter=quarter)
        header, body = self.table(rows)
        suggested = [line for line, e in zip(body, rows, strict=True) if e.suggestion is not None]
        parts = [
            "<!doctype html>",
            f'<html lang="{"zh-CN" if self.language == "zh" else "en"}"><head><meta charset="utf-8">',
            f'<title>{escape(title)}</title><link rel="icon" href="data:,"></head><body>',
            f"<h1>{escape(title)}</h1>",
            f"<p>{escape(self.t('note'))}</p>",
            f"<h2>{escape(self.t('suggestions'))}</h2>",
            html_table((header, suggested)) if suggested else f"<p>{escape(self.t('no_suggestions'))}</p>",
            f"<h2>{escape(self.t('ranking'))}</h2>",
            html_table((header, body[:HTML_ROWS])),
            f"<p>{escape(self.tr('client_eval_attachment'))}</p>",
            "</body></html>",
        ]
        return "\n".join(parts)
