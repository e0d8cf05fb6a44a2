"""The weekly report (报告制度): which week is due, its HTML with inline SVG charts, and its archive row."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from html import escape
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.business_hours import BusinessCalendar
from core.calendar_coverage import CoverageWarning, coverage_warning
from core.clock import as_utc
from core.db.models import Department, Ticket, User, WeeklyReport, WeeklyReportDelivery
from core.db.session import Database
from core.dialogue.forms import Forms
from core.errors import InvalidInput
from core.needs_tables import NeedsTables
from core.needs_trends import NeedsTrends, TopicReader, build_needs_trends
from core.report_svg import horizontal_bars, stacked_bars
from core.report_tables import ReportTables, all_csv, html_table, to_csv
from core.reports import Report, ReportFilter, build_report, local_midnight
from core.settings import WeeklyReportSettings
from core.texts import Texts

WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def week_label(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def week_monday(week: str) -> date:
    match = WEEK.match(week)
    if not match:
        raise InvalidInput("a week is written YYYY-Www, e.g. 2026-W48")
    try:
        return date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
    except ValueError:
        raise InvalidInput(f"no such week {week}") from None


def week_period(week: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Monday 00:00 to the next Monday 00:00, local time."""
    monday = week_monday(week)
    return local_midnight(monday, zone), local_midnight(monday + timedelta(days=7), zone)


Period = Callable[[str, ZoneInfo], tuple[datetime, datetime]]


def require_period_over(label: str, now: datetime, zone: ZoneInfo, period: Period, noun: str) -> None:
    """InvalidInput unless the period has ended by `now`: it is archived once, so never with incomplete figures."""
    _, end = period(label, zone)
    if as_utc(now) < as_utc(end):
        raise InvalidInput(f"{noun} {label} is not over yet: it ends {end.date().isoformat()} 00:00 ({zone.key})")


def require_over(week: str, now: datetime, zone: ZoneInfo) -> None:
    """InvalidInput unless `week` has ended by `now`: a week is archived once, so an unfinished one never is."""
    require_period_over(week, now, zone, week_period, "week")


def release_time(week: str, zone: ZoneInfo, schedule: WeeklyReportSettings) -> datetime:
    """When the report of `week` is due: the configured weekday and time of the week after it."""
    hour, minute = (int(p) for p in schedule.at.split(":"))
    day = week_monday(week) + timedelta(days=7 + schedule.weekday)
    return datetime.combine(day, time(hour, minute), tzinfo=zone)


def due_week(now: datetime, zone: ZoneInfo, schedule: WeeklyReportSettings) -> str:
    """The latest week whose report is due at `now` (whether or not it exists yet)."""
    local = as_utc(now).astimezone(zone)
    last_week = week_label(local.date() - timedelta(days=local.weekday() + 7))
    if local >= release_time(last_week, zone, schedule):
        return last_week
    return week_label(week_monday(last_week) - timedelta(days=7))


async def predates_installation(session: AsyncSession, start: datetime, end: datetime) -> bool:
    """Whether [start, end) began before kefu was installed (its departments seeded) and holds no ticket."""
    installed = await session.scalar(select(func.min(Department.created_at)))
    if installed is None or as_utc(installed) <= as_utc(start):
        return False
    tickets = await session.scalar(
        select(func.count(Ticket.id)).where(Ticket.created_at >= as_utc(start), Ticket.created_at < as_utc(end))
    )
    return not tickets


async def add_deliveries(session: AsyncSession, row: WeeklyReport, recipients: WeeklyRecipients, now: datetime) -> None:
    """One pending delivery of an archived report per active supervisor and channel, in the report's transaction."""
    supervisors = (
        await session.execute(select(User).where(User.role == "supervisor", User.active.is_(True)))
    ).scalars()
    for user in supervisors:
        addresses = [("email", user.email if recipients.email else None)]
        addresses.append(
            ("telegram", str(user.telegram_user_id) if recipients.telegram and user.telegram_user_id else None)
        )
        for channel, recipient in addresses:
            if recipient:
                session.add(
                    WeeklyReportDelivery(
                        report_id=row.id,
                        channel=channel,
                        recipient=recipient,
                        user_id=user.id,
                        status="pending",
                        created_at=now,
                    )
                )


@dataclass(frozen=True)
class WeeklyRecipients:
    """Which channels the report goes out on: e-mail when SMTP is set up, Telegram when the bot is."""

    email: bool
    telegram: bool


async def _archived(session: AsyncSession, label: str) -> bool:
    return await session.scalar(select(WeeklyReport.id).where(WeeklyReport.week == label)) is not None


@dataclass(frozen=True)
class ArchiveContent:
    """What an archived report holds besides its label and period: the document, its figures, its CSV files."""

    html: str
    data: dict[str, Any]
    csv: dict[str, str]


@dataclass(eq=False)
class ArchiveWriter(ABC):
    """Archives a report of one period (a week, a quarter) exactly once, with one delivery per supervisor and channel.

    A subclass names its period function, its noun ("week", "quarter") and its console texts, and computes the content;
    its own fields follow these four.
    """

    db: Database
    texts: Texts
    language: str
    zone: ZoneInfo
    # The console page whose texts `t` reads.
    page: ClassVar[str] = "console.reports"
    # What a period is called in messages ("week", "quarter").
    noun: ClassVar[str]

    @staticmethod
    @abstractmethod
    def period(label: str, zone: ZoneInfo, /) -> tuple[datetime, datetime]:
        """The period `label` as [start, end), local midnights."""

    def t(self, key: str) -> str:
        """A text of the console page (no parameters: the page scripts read them too)."""
        return self.texts.get(f"{self.page}.{key}", self.language)

    def tr(self, key: str, **params: object) -> str:
        """A text of the archived report itself, filled in."""
        return self.texts.get(f"reports.{key}", self.language, **params)

    async def exists(self, label: str) -> bool:
        async with self.db.transaction() as session:
            return await _archived(session, label)

    async def predates_installation(self, label: str) -> bool:
        """Whether the period began before kefu was installed (its departments seeded) and holds no ticket."""
        start, end = self.period(label, self.zone)
        async with self.db.transaction() as session:
            return await predates_installation(session, start, end)

    def require_over(self, label: str, now: datetime) -> None:
        """InvalidInput unless the period has ended by `now`."""
        require_period_over(label, now, self.zone, self.period, self.noun)

    @abstractmethod
    async def content(
        self, session: AsyncSession, label: str, start: datetime, end: datetime, now: datetime
    ) -> ArchiveContent:
        """The period's report, computed in the archiving transaction."""

    async def create(
        self, label: str, *, now: datetime, recipients: WeeklyRecipients, created_by: str = "schedule"
    ) -> WeeklyReport | None:
        """The new archive row; None when the period already has one (written here earlier or by another process).

        InvalidInput for a period not over at `now`: its figures would be archived incomplete for good.
        """
        self.require_over(label, now)
        start, end = self.period(label, self.zone)
        try:
            async with self.db.transaction() as session:
                if await _archived(session, label):
                    return None
                content = await self.content(session, label, start, end, now)
                row = WeeklyReport(
                    week=label,
                    period_start=start,
                    period_end=end,
                    language=self.language,
                    html=content.html,
                    data=content.data,
                    csv=content.csv,
                    created_by=created_by,
                    created_at=now,
                )
                session.add(row)
                await session.flush()
                await add_deliveries(session, row, recipients, now)
                session.expunge(row)
                return row
        except IntegrityError:
            # Another process wrote the same period between our check and our insert: theirs stands.
            return None


@dataclass(eq=False)
class WeeklyReportWriter(ArchiveWriter):
    """Computes a week's report and writes it, with one delivery row per supervisor and channel, exactly once."""

    # Called when a report is made, so a calendar the admins saved since is the one checked.
    calendar: Callable[[], BusinessCalendar] | None = None
    # The inquiry form's topics, for the needs section; without them the report has no such section.
    forms: Forms | None = field(default=None, kw_only=True)
    tables: ReportTables = field(init=False)
    needs_tables: NeedsTables = field(init=False)
    noun: ClassVar[str] = "week"
    period = staticmethod(week_period)

    def __post_init__(self) -> None:
        self.tables = ReportTables(self.texts, self.language)
        self.needs_tables = NeedsTables(self.texts, self.language)

    async def content(
        self, session: AsyncSession, label: str, start: datetime, end: datetime, now: datetime
    ) -> ArchiveContent:
        report = await build_report(session, ReportFilter(start, end), now=now, zone=self.zone)
        warning = self.calendar_warning(now)
        needs = await self.needs(session, start, end)
        data = report.to_json()
        data["calendar_warning"] = warning.to_json() if warning is not None else None
        csv = all_csv(self.tables, report)
        if needs is not None:
            data["needs"] = needs.to_json()
            csv["needs"] = to_csv(self.needs_tables.csv_table(needs))
        return ArchiveContent(self.html(label, report, warning, needs), data, csv)

    async def needs(self, session: AsyncSession, start: datetime, end: datetime) -> NeedsTrends | None:
        """What clients asked about in [start, end) against the four weeks before; None without the forms."""
        if self.forms is None:
            return None
        return await build_needs_trends(session, start, end, TopicReader.of(self.forms, self.texts))

    def calendar_warning(self, now: datetime) -> CoverageWarning | None:
        if self.calendar is None:
            return None
        calendar = self.calendar()
        return coverage_warning(calendar, as_utc(now).astimezone(calendar.tz).date())

    # ------------------------------------------------------------ HTML

    def html(
        self, week: str, report: Report, warning: CoverageWarning | None = None, needs: NeedsTrends | None = None
    ) -> str:
        """A whole HTML document without scripts or style attributes, for e-mail and for the console archive."""
        start = as_utc(report.start).astimezone(self.zone)
        end = as_utc(report.end).astimezone(self.zone) - timedelta(days=1)
        title = self.tr("weekly_title", week=week)
        period = self.tr("weekly_period", start=start.date().isoformat(), end=end.date().isoformat())
        names = {c: self.tables.category(c) for c in report.series}
        charts = [
            stacked_bars(report.buckets, report.series, names, title=self.t("chart_categories")),
            horizontal_bars(
                [self.tr("score_label", score=s) for s in report.satisfaction],
                list(report.satisfaction.values()),
                title=self.t("chart_satisfaction"),
            ),
        ]
        parts = [
            "<!doctype html>",
            f'<html lang="{"zh-CN" if self.language == "zh" else "en"}"><head><meta charset="utf-8">',
            f'<title>{escape(title)}</title><link rel="icon" href="data:,"></head><body>',
            f"<h1>{escape(title)}</h1>",
            f"<p>{escape(period)}</p>",
            *([f"<p><strong>{escape(warning.text(self.texts, self.language))}</strong></p>"] if warning else []),
            f"<p>{escape(self.t('time_basis'))}</p>",
            *(f"<p><strong>{escape(line)}</strong></p>" for line in self.tables.alerts(report)),
            html_table(self.tables.summary(report)),
            *(f"<div>{svg}</div>" for svg in charts),
            f"<h2>{escape(self.t('reps'))}</h2>",
            html_table(self.tables.reps(report)),
            f"<h2>{escape(self.t('departments'))}</h2>",
            html_table(self.tables.departments(report)),
            f"<h2>{escape(self.t('keywords'))}</h2>",
            html_table(self.tables.keywords(report)),
            *(self.needs_tables.html(needs) if needs is not None else []),
            f"<p>{escape(self.t('weekly_attachments'))}</p>",
            "</body></html>",
        ]
        return "\n".join(parts)
