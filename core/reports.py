"""Service-quality figures over tickets (报告制度, 服务质量评估): volume, complaints, speed, SLA, satisfaction.

One module because every figure reads the same period's tickets once and the policy's report is one
whole; the table and chart rendering live apart (`report_tables.py`, `report_svg.py`).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import KeyedColumnElement

from core.channel import CHANNEL_NAMES
from core.clock import as_utc
from core.db.models import Department, Ticket, TicketEvent, User, UserDepartment
from core.errors import InvalidInput
from core.tickets.lifecycle import OPEN_STATUSES

CATEGORIES = ("inquiry", "complaint", "suggestion", "other")
SCORES = (1, 2, 3, 4, 5)
# Longer ranges are charted per ISO week: two months of daily bars are already hard to read.
DAILY_UP_TO_DAYS = 62
TOP_KEYWORDS = 10
MAX_RANGE_DAYS = 3 * 366
# An open ticket whose deadline is this close counts as near its deadline (the console's inbox uses its own
# setting, sla_risk_minutes, which the console passes in).
NEAR_DEADLINE = timedelta(minutes=60)
OPEN = tuple(s.value for s in OPEN_STATUSES)
# Roles that work a department's tickets: an admin alone does not answer clients.
WORKING_ROLES = ("rep", "supervisor")

# Who a ticket counts for in the per-rep table: whoever resolved it, else whoever it is assigned to.
ticket_owner = func.coalesce(Ticket.resolved_by_id, Ticket.assignee_id)


@dataclass(frozen=True)
class ReportFilter:
    """Tickets created in [start, end) (aware datetimes), optionally of one channel, department code or rep."""

    start: datetime
    end: datetime
    channel: str | None = None
    department: str | None = None
    rep_id: int | None = None

    @classmethod
    def for_days(
        cls,
        first: date,
        last: date,
        zone: ZoneInfo,
        *,
        channel: str | None = None,
        department: str | None = None,
        rep_id: int | None = None,
    ) -> ReportFilter:
        """Whole local days first..last, both included."""
        if last < first:
            raise InvalidInput("the end date is before the start date")
        if (last - first).days > MAX_RANGE_DAYS:
            raise InvalidInput(f"a report covers at most {MAX_RANGE_DAYS} days")
        if channel and channel not in CHANNEL_NAMES:
            # An unknown name would select no ticket and look like an empty week.
            raise InvalidInput(f"unknown channel {channel!r}; one of {', '.join(CHANNEL_NAMES)}")
        return cls(
            local_midnight(first, zone),
            local_midnight(last + timedelta(days=1), zone),
            channel or None,
            department or None,
            rep_id,
        )


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)


@dataclass
class Durations:
    """Median and 90th percentile (nearest rank) of elapsed wall-clock minutes."""

    count: int = 0
    median_minutes: float | None = None
    p90_minutes: float | None = None

    @classmethod
    def of(cls, minutes: Sequence[float]) -> Durations:
        if not minutes:
            return cls()
        ordered = sorted(minutes)
        return cls(len(ordered), round(statistics.median(ordered), 1), round(nearest_rank(ordered, 0.9), 1))


def nearest_rank(ordered: Sequence[float], q: float) -> float:
    """The smallest value with at least q of the values at or below it."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass
class Figures:
    """The counted figures of one group of tickets (all of them, one rep's, one department's)."""

    tickets: int = 0
    complaints: int = 0
    resolved_once: int = 0
    reopened: int = 0
    feedback_asked: int = 0
    no_feedback: int = 0
    rated: int = 0
    satisfaction_sum: int = 0
    first_response_decided: int = 0
    first_response_met: int = 0
    resolution_decided: int = 0
    resolution_met: int = 0
    first_response_pending: int = 0
    resolution_pending: int = 0
    handoffs: int = 0
    open: int = 0
    open_past_deadline: int = 0
    open_near_deadline: int = 0
    unassigned: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "tickets": self.tickets,
            "handoffs": self.handoffs,
            "handoff_rate": rate(self.handoffs, self.tickets),
            "open": self.open,
            "open_past_deadline": self.open_past_deadline,
            "open_near_deadline": self.open_near_deadline,
            "unassigned": self.unassigned,
            "complaints": self.complaints,
            "complaint_rate": rate(self.complaints, self.tickets),
            "reopened": self.reopened,
            "resolved_once": self.resolved_once,
            "reopen_rate": rate(self.reopened, self.resolved_once),
            "feedback_asked": self.feedback_asked,
            "no_feedback": self.no_feedback,
            "no_feedback_rate": rate(self.no_feedback, self.feedback_asked),
            "rated": self.rated,
            "satisfaction_avg": round(self.satisfaction_sum / self.rated, 2) if self.rated else None,
            # The rate's n is "decided": answered (resolved), or past the deadline without it. Tickets whose
            # deadline is still ahead are "pending" and in no rate: a fresh week is not 100 % met.
            "sla_first_response": {
                "decided": self.first_response_decided,
                "met": self.first_response_met,
                "rate": rate(self.first_response_met, self.first_response_decided),
                "pending": self.first_response_pending,
            },
            "sla_resolution": {
                "decided": self.resolution_decided,
                "met": self.resolution_met,
                "rate": rate(self.resolution_met, self.resolution_decided),
                "pending": self.resolution_pending,
            },
        }


@dataclass
class Report:
    """Everything the reports page, the CSV files and the weekly report show for one filter."""

    start: datetime
    end: datetime
    granularity: str
    totals: Figures
    unclassified: int
    first_response: Durations
    resolution: Durations
    buckets: list[str]
    series: dict[str, list[int]]
    satisfaction: dict[int, int]
    keywords: list[tuple[str, int]]
    reps: list[dict[str, Any]] = field(default_factory=list)
    departments: list[dict[str, Any]] = field(default_factory=list)
    filter: dict[str, Any] = field(default_factory=dict)
    # Departments with open tickets (of any date) and nobody active to work them: {code, name, open}.
    unstaffed: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        totals = self.totals.to_json()
        # A handoff (转人工) asks for a person, not for a category: only the other tickets are the keywords'
        # to classify, and only their misses are "unclassified".
        totals["keyword_tickets"] = self.totals.tickets - self.totals.handoffs
        totals["unclassified"] = self.unclassified
        totals["unclassified_rate"] = rate(self.unclassified, totals["keyword_tickets"])
        totals["first_response"] = vars(self.first_response) | {
            "unanswered": self.totals.tickets - self.first_response.count
        }
        totals["resolution"] = vars(self.resolution) | {"unresolved": self.totals.tickets - self.resolution.count}
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "filter": self.filter,
            "granularity": self.granularity,
            "totals": totals,
            "series": {"buckets": self.buckets, "categories": self.series},
            "satisfaction": {str(k): v for k, v in self.satisfaction.items()},
            "keywords": [{"phrase": p, "count": c} for p, c in self.keywords],
            "reps": self.reps,
            "departments": self.departments,
            "alerts": [{"kind": "department_unstaffed", **d} for d in self.unstaffed],
        }


def _count(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _figure_columns(now: datetime, near: timedelta) -> list[Any]:
    """Aggregates computed by the database, in the order of Figures' fields."""
    t = Ticket
    first_due_passed = and_(t.first_response_due.is_not(None), t.first_response_due < now)
    resolution_due_passed = and_(t.resolution_due.is_not(None), t.resolution_due < now)
    first_decided = and_(t.first_response_due.is_not(None), or_(t.first_response_at.is_not(None), first_due_passed))
    resolution_decided = and_(t.resolution_due.is_not(None), or_(t.resolved_at.is_not(None), resolution_due_passed))
    # An open ticket's running clock, as the inbox shows it: first response until answered, then resolution.
    deadline = case((t.first_response_at.is_(None), t.first_response_due), else_=t.resolution_due)
    running = and_(t.status.in_(OPEN), t.sla_paused_at.is_(None), deadline.is_not(None))
    return [
        func.count(t.id),
        _count(t.category == "complaint"),
        # Reopening clears resolved_at, so a reopened ticket still open was resolved once too.
        _count(or_(t.resolved_at.is_not(None), t.reopen_count > 0)),
        _count(t.reopen_count > 0),
        _count(t.feedback_at.is_not(None)),
        _count(and_(t.feedback_at.is_not(None), t.satisfaction.is_(None))),
        _count(t.satisfaction.is_not(None)),
        func.coalesce(func.sum(t.satisfaction), 0),
        _count(first_decided),
        _count(
            and_(
                t.first_response_at.is_not(None),
                t.first_response_due.is_not(None),
                t.first_response_at <= t.first_response_due,
                t.first_response_breached.is_(False),
            )
        ),
        _count(resolution_decided),
        _count(
            and_(
                t.resolved_at.is_not(None),
                t.resolution_due.is_not(None),
                t.resolved_at <= t.resolution_due,
                t.resolution_breached.is_(False),
            )
        ),
        _count(and_(t.first_response_due.is_not(None), ~first_decided)),
        _count(and_(t.resolution_due.is_not(None), ~resolution_decided)),
        _count(t.handoff.is_(True)),
        _count(t.status.in_(OPEN)),
        _count(and_(running, deadline < now)),
        _count(and_(running, deadline >= now, deadline < now + near)),
        _count(ticket_owner.is_(None)),
    ]


def _figures(row: Iterable[Any]) -> Figures:
    return Figures(*(int(v or 0) for v in row))


async def _conditions(session: AsyncSession, flt: ReportFilter) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [Ticket.created_at >= as_utc(flt.start), Ticket.created_at < as_utc(flt.end)]
    if flt.channel:
        conds.append(Ticket.channel == flt.channel)
    if flt.department:
        department_id = await session.scalar(select(Department.id).where(Department.code == flt.department))
        if department_id is None:
            raise InvalidInput(f"no department {flt.department!r}")
        conds.append(Ticket.department_id == department_id)
    if flt.rep_id is not None:
        conds.append(ticket_owner == flt.rep_id)
    return conds


async def _grouped(
    session: AsyncSession,
    conds: list[ColumnElement[bool]],
    key: KeyedColumnElement[Any] | Any,
    now: datetime,
    near: timedelta,
) -> dict[Any, Figures]:
    rows = await session.execute(select(key, *_figure_columns(now, near)).where(*conds).group_by(key))
    return {row[0]: _figures(row[1:]) for row in rows}


def _minutes(start: datetime, end: datetime | None) -> float | None:
    if end is None:
        return None
    return max(0.0, (as_utc(end) - as_utc(start)).total_seconds() / 60)


def _unclassified(data: dict[str, Any] | None, category: str) -> bool:
    """The keywords did not decide the category: not confident, or (older rows) no verdict and "other"."""
    if data and "confident" in data:
        return not bool(data["confident"])
    return str((data or {}).get("category") or category) == "other"


def bucket_labels(start: datetime, end: datetime, zone: ZoneInfo, granularity: str) -> list[str]:
    first = as_utc(start).astimezone(zone).date()
    last = (as_utc(end).astimezone(zone) - timedelta(microseconds=1)).date()
    labels: list[str] = []
    day = first
    while day <= last:
        label = bucket_of(day, granularity)
        if not labels or labels[-1] != label:
            labels.append(label)
        day += timedelta(days=1)
    return labels


def bucket_of(day: date, granularity: str) -> str:
    if granularity == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return day.isoformat()


async def build_report(
    session: AsyncSession, flt: ReportFilter, *, now: datetime, zone: ZoneInfo, near: timedelta = NEAR_DEADLINE
) -> Report:
    """All figures of the tickets the filter selects; `now` decides which SLA deadlines have passed."""
    conds = await _conditions(session, flt)
    totals = _figures((await session.execute(select(*_figure_columns(now, near)).where(*conds))).one())
    days = (as_utc(flt.end) - as_utc(flt.start)).days
    granularity = "day" if days <= DAILY_UP_TO_DAYS else "week"
    labels = bucket_labels(flt.start, flt.end, zone, granularity)
    position = {label: i for i, label in enumerate(labels)}
    series = {c: [0] * len(labels) for c in CATEGORIES}

    # One narrow row per ticket: the time series and the percentiles are computed here, not in SQL.
    rows = (
        await session.execute(
            select(
                Ticket.id,
                Ticket.created_at,
                Ticket.category,
                Ticket.first_response_at,
                Ticket.resolved_at,
                ticket_owner,
                Ticket.department_id,
                Ticket.handoff,
            ).where(*conds)
        )
    ).all()
    categories: dict[int, str] = {}
    handoffs: set[int] = set()
    first_all: list[float] = []
    resolution_all: list[float] = []
    first_by_owner: dict[int | None, list[float]] = defaultdict(list)
    first_by_dept: dict[int | None, list[float]] = defaultdict(list)
    resolution_by_dept: dict[int | None, list[float]] = defaultdict(list)
    for ticket_id, created, category, first_at, resolved_at, owner, department_id, handoff in rows:
        categories[ticket_id] = category
        if handoff:
            handoffs.add(ticket_id)
        label = bucket_of(as_utc(created).astimezone(zone).date(), granularity)
        if label in position:
            series.setdefault(category, [0] * len(labels))[position[label]] += 1
        first = _minutes(created, first_at)
        if first is not None:
            first_all.append(first)
            first_by_owner[owner].append(first)
            first_by_dept[department_id].append(first)
        resolution = _minutes(created, resolved_at)
        if resolution is not None:
            resolution_all.append(resolution)
            resolution_by_dept[department_id].append(resolution)

    # The first classification verdict of each ticket (a later reclassification is a rep's decision).
    verdicts: dict[int, dict[str, Any]] = {}
    events = await session.execute(
        select(TicketEvent.ticket_id, TicketEvent.data)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .where(TicketEvent.kind == "classified", *conds)
        .order_by(TicketEvent.id)
    )
    for ticket_id, data in events:
        verdicts.setdefault(ticket_id, data if isinstance(data, dict) else {})
    unclassified = sum(
        1 for tid, cat in categories.items() if tid not in handoffs and _unclassified(verdicts.get(tid), cat)
    )
    keywords: Counter[str] = Counter()
    for data in verdicts.values():
        matched = data.get("matched")
        if isinstance(matched, list):
            keywords.update({str(p) for p in matched if isinstance(p, str) and p})

    scores = dict(
        (
            await session.execute(
                select(Ticket.satisfaction, func.count())
                .where(*conds, Ticket.satisfaction.is_not(None))
                .group_by(Ticket.satisfaction)
            )
        ).all()
    )
    reps = await _rep_table(session, conds, now, near, first_by_owner)
    departments = await _department_table(session, conds, now, near, first_by_dept, resolution_by_dept)
    unstaffed = await unstaffed_departments(session, flt.department)
    return Report(
        start=flt.start,
        end=flt.end,
        granularity=granularity,
        totals=totals,
        unclassified=unclassified,
        first_response=Durations.of(first_all),
        resolution=Durations.of(resolution_all),
        buckets=labels,
        series=series,
        satisfaction={s: int(scores.get(s, 0)) for s in SCORES},
        keywords=sorted(keywords.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_KEYWORDS],
        reps=reps,
        departments=departments,
        unstaffed=unstaffed,
        filter={
            "channel": flt.channel,
            "department": flt.department,
            "rep_id": flt.rep_id,
        },
    )


async def _rep_table(
    session: AsyncSession,
    conds: list[ColumnElement[bool]],
    now: datetime,
    near: timedelta,
    first_by_owner: dict[int | None, list[float]],
) -> list[dict[str, Any]]:
    by_owner = await _grouped(session, conds, ticket_owner, now, near)
    # Satisfaction is credited to whoever resolved the ticket (Ticket.resolved_by_id), nobody else.
    credited = {
        rep: (int(n), float(avg))
        for rep, n, avg in await session.execute(
            select(Ticket.resolved_by_id, func.count(), func.avg(Ticket.satisfaction))
            .where(*conds, Ticket.satisfaction.is_not(None), Ticket.resolved_by_id.is_not(None))
            .group_by(Ticket.resolved_by_id)
        )
    }
    ids = sorted({k for k in by_owner if k is not None} | set(credited))
    names = dict((await session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))).all())
    table = []
    for rep in ids:
        figures = by_owner.get(rep, Figures())
        rated, avg = credited.get(rep, (0, None))
        first = Durations.of(first_by_owner.get(rep, []))
        table.append(
            {
                "id": rep,
                "name": names.get(rep, str(rep)),
                "tickets": figures.tickets,
                "first_response_median_minutes": first.median_minutes,
                "first_response_p90_minutes": first.p90_minutes,
                "first_response_count": first.count,
                "rated": rated,
                "satisfaction_avg": round(avg, 2) if avg is not None else None,
                "reopened": figures.reopened,
                "resolved_once": figures.resolved_once,
                "reopen_rate": rate(figures.reopened, figures.resolved_once),
                "complaints": figures.complaints,
            }
        )
    table.sort(key=lambda r: (-r["tickets"], r["name"]))
    return table


async def _department_table(
    session: AsyncSession,
    conds: list[ColumnElement[bool]],
    now: datetime,
    near: timedelta,
    first_by_dept: dict[int | None, list[float]],
    resolution_by_dept: dict[int | None, list[float]],
) -> list[dict[str, Any]]:
    by_dept = await _grouped(session, conds, Ticket.department_id, now, near)
    known = {d.id: d for d in (await session.execute(select(Department))).scalars()}
    table = []
    for dept_id, figures in by_dept.items():
        department = known.get(dept_id) if dept_id is not None else None
        data = figures.to_json()
        first = Durations.of(first_by_dept.get(dept_id, []))
        resolution = Durations.of(resolution_by_dept.get(dept_id, []))
        table.append(
            {
                "code": department.code if department else None,
                "name": department.name if department else None,
                "tickets": figures.tickets,
                "unassigned": figures.unassigned,
                "open": figures.open,
                "open_past_deadline": figures.open_past_deadline,
                "complaints": figures.complaints,
                "complaint_rate": data["complaint_rate"],
                "first_response_median_minutes": first.median_minutes,
                "first_response_count": first.count,
                "resolution_median_minutes": resolution.median_minutes,
                "resolution_count": resolution.count,
                "sla_first_response_rate": data["sla_first_response"]["rate"],
                "sla_first_response_decided": figures.first_response_decided,
                "sla_resolution_rate": data["sla_resolution"]["rate"],
                "sla_resolution_decided": figures.resolution_decided,
                "satisfaction_avg": data["satisfaction_avg"],
                "rated": figures.rated,
                "reopen_rate": data["reopen_rate"],
                "resolved_once": figures.resolved_once,
            }
        )
    table.sort(key=lambda r: (-r["tickets"], r["code"] or ""))
    return table


async def unstaffed_departments(session: AsyncSession, only: str | None = None) -> list[dict[str, Any]]:
    """Departments with open tickets (of any date) but no active rep or supervisor in them and no active head.

    Such tickets wait unassigned and nobody is notified of them: the report says so instead of hiding them.
    """
    open_counts = dict(
        (
            await session.execute(
                select(Ticket.department_id, func.count())
                .where(Ticket.status.in_(OPEN), Ticket.department_id.is_not(None))
                .group_by(Ticket.department_id)
            )
        ).all()
    )
    if not open_counts:
        return []
    staffed = set(
        (
            await session.execute(
                select(User.department_id).where(
                    User.active.is_(True), User.role.in_(WORKING_ROLES), User.department_id.in_(list(open_counts))
                )
            )
        ).scalars()
    )
    extra = (
        await session.execute(
            select(UserDepartment.department_id)
            .join(User, User.id == UserDepartment.user_id)
            .where(User.active.is_(True), User.role.in_(WORKING_ROLES))
        )
    ).scalars()
    staffed.update(extra)
    heads = (
        await session.execute(
            select(Department.id).join(User, User.id == Department.head_user_id).where(User.active.is_(True))
        )
    ).scalars()
    staffed.update(heads)
    departments = (
        await session.execute(select(Department).where(Department.id.in_(list(open_counts))).order_by(Department.code))
    ).scalars()
    return [
        {"department": d.code, "name": d.name, "open": int(open_counts[d.id])}
        for d in departments
        if d.id not in staffed and (only is None or d.code == only)
    ]
