"""Report figures on a hand-made week: the expected numbers are worked out by hand in the comments."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bots.telegram.settings import CHANNEL as TELEGRAM
from bots.web.channel import CHANNEL as WEB
from bots.wechat.kf_settings import CHANNEL as WECOM
from bots.wechat.settings import CHANNEL as WECHAT
from core.channel import CHANNEL_NAMES
from core.db.models import Department, User
from core.errors import InvalidInput
from core.report_tables import ReportTables, safe_cell, to_csv
from core.reports import ReportFilter, build_report
from core.settings import PROJECT_ROOT
from core.weekly_report import WeeklyReportWriter
from core.wiring import Core
from tests.support.reports_fixture import FORMULA_NAME, NOW, local, seed_week

ZONE = ZoneInfo("Asia/Shanghai")
WEEK = (date(2026, 11, 23), date(2026, 11, 29))


async def _report(core: Core, first: date = WEEK[0], last: date = WEEK[1], **filters: object) -> dict:
    async with core.db.transaction() as session:
        flt = ReportFilter.for_days(first, last, ZONE, **filters)  # type: ignore[arg-type]
        return (await build_report(session, flt, now=NOW, zone=ZONE)).to_json()


async def test_figures_of_the_week(core: Core) -> None:
    people = await seed_week(core)
    report = await _report(core)
    totals = report["totals"]
    # Tickets 1–6 and 8; ticket 0 (22nd, 23:50 local) and 9 (30th) are outside the local week.
    assert totals["tickets"] == 7
    assert (totals["complaints"], totals["complaint_rate"]) == (2, 0.2857)
    # First responses 5, 10, 15, 20, 30, 40: median (15 + 20) / 2, p90 the 6th of 6 (nearest rank).
    assert totals["first_response"] == {"count": 6, "median_minutes": 17.5, "p90_minutes": 40.0, "unanswered": 1}
    # Resolutions 60, 90, 120, 300: median (90 + 120) / 2, p90 the 4th of 4.
    assert totals["resolution"] == {"count": 4, "median_minutes": 105.0, "p90_minutes": 300.0, "unresolved": 3}
    # (Ticket 5 was never answered; 4, 5 and 8 never resolved.)
    # First response: 7 decided (6 answered, ticket 5 overdue), met by 1, 2, 4, 6 (at the deadline) and 8.
    assert totals["sla_first_response"] == {"decided": 7, "met": 5, "rate": 0.7143, "pending": 0}
    # Resolution: all 7 deadlines passed; met by 1, 2 and 6.
    assert totals["sla_resolution"] == {"decided": 7, "met": 3, "rate": 0.4286, "pending": 0}
    # Open: 4, 5 and 8, all past their running deadline (4 and 8 resolution, 5 first response).
    assert (totals["open"], totals["open_past_deadline"], totals["open_near_deadline"]) == (3, 3, 0)
    # Ticket 5 belongs to nobody: the per-rep table plus the unassigned add up to every ticket.
    assert totals["unassigned"] == 1
    assert sum(r["tickets"] for r in report["reps"]) + totals["unassigned"] == totals["tickets"]
    # Scores 5, 4, 3.
    assert (totals["rated"], totals["satisfaction_avg"]) == (3, 4.0)
    assert report["satisfaction"] == {"1": 0, "2": 0, "3": 1, "4": 1, "5": 1}
    # Asked for feedback: 1, 2, 3, 6; ticket 6 got no score.
    assert (totals["feedback_asked"], totals["no_feedback"], totals["no_feedback_rate"]) == (4, 1, 0.25)
    # Resolved at least once: 1, 2, 3, 6; reopened: 3.
    assert (totals["resolved_once"], totals["reopened"], totals["reopen_rate"]) == (4, 1, 0.25)
    # Ticket 5 is a handoff (转人工): reported as such, not as a keyword miss. Of the 6 others, ticket 4 (not
    # confident, picked) is the one the keywords missed.
    assert (totals["handoffs"], totals["handoff_rate"]) == (1, 0.1429)
    assert (totals["keyword_tickets"], totals["unclassified"], totals["unclassified_rate"]) == (6, 1, 0.1667)
    assert report["granularity"] == "day"
    assert report["series"]["buckets"] == [f"2026-11-{d}" for d in range(23, 30)]
    assert report["series"]["categories"] == {
        "inquiry": [1, 0, 0, 0, 1, 0, 1],
        "complaint": [1, 1, 0, 0, 0, 0, 0],
        "suggestion": [0, 0, 1, 0, 0, 0, 0],
        "other": [0, 0, 0, 1, 0, 0, 0],
    }
    # 价格 (1, 6), 投诉 (2, 3), 报价 (1, 8), then the singles; ties in code-point order.
    assert report["keywords"] == [
        {"phrase": "价格", "count": 2},
        {"phrase": "投诉", "count": 2},
        {"phrase": "报价", "count": 2},
        {"phrase": "建议", "count": 1},
        {"phrase": "效果差", "count": 1},
    ]
    reps = {r["name"]: r for r in report["reps"]}
    assert [r["name"] for r in report["reps"]] == ["安妮", "鲍勃", FORMULA_NAME]
    # ann resolved 1, 2 (since reassigned to bob) and 6: first responses 10, 20, 30; scores 5 and 4.
    assert reps["安妮"] | {} == {
        "id": people.ann,
        "name": "安妮",
        "tickets": 3,
        "first_response_median_minutes": 20.0,
        "first_response_p90_minutes": 30.0,
        "first_response_count": 3,
        "rated": 2,
        "satisfaction_avg": 4.5,
        "reopened": 0,
        "resolved_once": 3,
        "reopen_rate": 0.0,
        "complaints": 1,
    }
    # bob: 3 and 8, first responses 40 and 15; ticket 3 (his only resolved one) was reopened.
    assert (reps["鲍勃"]["tickets"], reps["鲍勃"]["first_response_median_minutes"]) == (2, 27.5)
    assert (reps["鲍勃"]["satisfaction_avg"], reps["鲍勃"]["reopen_rate"]) == (3.0, 1.0)
    assert (reps[FORMULA_NAME]["tickets"], reps[FORMULA_NAME]["reopen_rate"]) == (1, None)
    departments = {d["code"]: d for d in report["departments"]}
    assert set(departments) == {"cs", "creative", None}
    cs = departments["cs"]
    # cs: 1, 2, 3, 6, 8. First responses 10, 20, 40, 30, 15; resolutions 60, 120, 300, 90; 4 of 5 answered in time.
    assert (cs["tickets"], cs["complaints"], cs["complaint_rate"]) == (5, 2, 0.4)
    assert (cs["first_response_median_minutes"], cs["resolution_median_minutes"]) == (20.0, 105.0)
    assert (cs["sla_first_response_rate"], cs["satisfaction_avg"], cs["reopen_rate"]) == (0.8, 4.0, 0.25)
    # Each rate with its n: 5 first responses decided, 3 scores, 4 resolved once; ticket 8 is open and overdue.
    assert (cs["sla_first_response_decided"], cs["rated"], cs["resolved_once"]) == (5, 3, 4)
    assert (cs["first_response_count"], cs["resolution_count"]) == (5, 4)
    assert (cs["unassigned"], cs["open"], cs["open_past_deadline"]) == (0, 1, 1)
    # The ticket without a department is the unassigned one.
    assert (departments[None]["tickets"], departments[None]["unassigned"]) == (1, 1)
    # Every open ticket's department has an active rep: no alert.
    assert report["alerts"] == []


async def test_filters(core: Core) -> None:
    people = await seed_week(core)
    # One local day: tickets 1 and 2.
    day = await _report(core, WEEK[0], WEEK[0])
    assert day["totals"]["tickets"] == 2 and day["series"]["buckets"] == ["2026-11-23"]
    # WeChat: 2, 3 and 8.
    wechat = await _report(core, channel="wechat")
    assert (wechat["totals"]["tickets"], wechat["totals"]["complaints"]) == (3, 2)
    cs = await _report(core, department="cs")
    assert cs["totals"]["tickets"] == 5 and [d["code"] for d in cs["departments"]] == ["cs"]
    bob = await _report(core, rep_id=people.bob)
    assert bob["totals"]["tickets"] == 2
    assert bob["totals"]["first_response"] == {
        "count": 2,
        "median_minutes": 27.5,
        "p90_minutes": 40.0,
        "unanswered": 0,
    }
    # Widening the range by a day on each side takes in tickets 0 and 9.
    wide = await _report(core, date(2026, 11, 22), date(2026, 11, 30))
    assert wide["totals"]["tickets"] == 9
    with pytest.raises(InvalidInput):
        await _report(core, department="nope")
    # The WeCom channel is stored, documented and filtered as "wecom"; a name kefu does not know is refused.
    assert (await _report(core, channel="wecom"))["totals"]["tickets"] == 0
    with pytest.raises(InvalidInput, match="wecom_kf"):
        await _report(core, channel="wecom_kf")


def test_the_channel_names_are_the_adapters_and_the_docs() -> None:
    assert {TELEGRAM, WECOM, WECHAT, WEB} == set(CHANNEL_NAMES)
    docs = (PROJECT_ROOT / "docs" / "reports.md").read_text()
    assert all(f"`{name}`" in docs for name in CHANNEL_NAMES) and "wecom_kf" not in docs


async def test_long_ranges_are_charted_per_week(core: Core) -> None:
    await seed_week(core)
    report = await _report(core, date(2026, 9, 1), date(2026, 12, 6))
    assert report["granularity"] == "week"
    buckets = report["series"]["buckets"]
    assert buckets[0] == "2026-W36" and buckets[-1] == "2026-W49" and len(buckets) == 14
    # W48 holds 1–6 and 8, W47 ticket 0, W49 ticket 9.
    inquiry = dict(zip(buckets, report["series"]["categories"]["inquiry"], strict=True))
    complaint = dict(zip(buckets, report["series"]["categories"]["complaint"], strict=True))
    assert (inquiry["2026-W48"], complaint["2026-W47"], complaint["2026-W48"], complaint["2026-W49"]) == (3, 1, 2, 1)


async def test_an_empty_range_has_no_rates(core: Core) -> None:
    report = await _report(core, date(2026, 1, 1), date(2026, 1, 7))
    totals = report["totals"]
    assert totals["tickets"] == 0 and totals["complaint_rate"] is None and totals["satisfaction_avg"] is None
    assert totals["first_response"] == {"count": 0, "median_minutes": None, "p90_minutes": None, "unanswered": 0}
    assert report["reps"] == [] and report["keywords"] == []


def test_csv_cells_that_would_be_formulas_are_quoted() -> None:
    assert [safe_cell(v) for v in ("=1+1", "+86 123", "-5", "@SUM(A1)", "正常", 3, -2.5, None)] == [
        "'=1+1",
        "'+86 123",
        "'-5",
        "'@SUM(A1)",
        "正常",
        "3",
        "-2.5",
        "",
    ]
    text = to_csv((["名称", "值"], [["=cmd|' /C calc'!A0", 1]]))
    assert text.startswith("\ufeff名称,值\r\n")
    assert "'=cmd|' /C calc'!A0,1" in text


async def test_tables_carry_the_figures(core: Core) -> None:
    await seed_week(core)
    async with core.db.transaction() as session:
        report = await build_report(session, ReportFilter.for_days(*WEEK, ZONE), now=NOW, zone=ZONE)
    tables = ReportTables(core.texts, "zh")
    header, rows = tables.reps(report)
    assert header[0] == "客服" and rows[0][:2] == ["安妮", 3]
    assert rows[-1][:2] == ["（未分配）", 1]
    assert sum(int(row[1] or 0) for row in rows) == 7
    summary = {label: (value, n) for label, value, n in tables.summary_rows(report)}
    assert summary["投诉率"] == ("28.6%", "7") and summary["首次响应时长中位数（分钟）"] == ("17.5", "6")
    assert summary["首次响应 SLA 达标率"] == ("71.4%", "7") and summary["平均满意度（1–5 分）"] == ("4.0", "3")
    assert summary["转人工工单占比"] == ("14.3%", "7") and summary["未能自动分类率（不含转人工）"] == ("16.7%", "6")
    english = {label: (value, n) for label, value, n in ReportTables(core.texts, "en").summary_rows(report)}
    assert english["Reopen rate"] == ("25.0%", "4")


async def test_undecided_deadlines_stay_out_of_the_rates(core: Core) -> None:
    await seed_week(core)
    # 13:30 on Monday 30 November: ticket 9 (10:00, answered at 10:05) is open, its resolution due at 14:00.
    async with core.db.transaction() as session:
        flt = ReportFilter.for_days(date(2026, 11, 30), date(2026, 11, 30), ZONE)
        report = (await build_report(session, flt, now=local(30, 13, 30), zone=ZONE)).to_json()
    totals = report["totals"]
    assert totals["tickets"] == 1
    assert totals["sla_first_response"] == {"decided": 1, "met": 1, "rate": 1.0, "pending": 0}
    # Not yet due: in no rate (no "100 % met" from a ticket whose clock still runs), counted apart.
    assert totals["sla_resolution"] == {"decided": 0, "met": 0, "rate": None, "pending": 1}
    assert (totals["open"], totals["open_near_deadline"], totals["open_past_deadline"]) == (1, 1, 0)
    async with core.db.transaction() as session:
        later = (await build_report(session, flt, now=local(30, 14, 30), zone=ZONE)).to_json()["totals"]
    assert later["sla_resolution"] == {"decided": 1, "met": 0, "rate": 0.0, "pending": 0}
    assert (later["open_near_deadline"], later["open_past_deadline"]) == (0, 1)


async def test_a_department_with_open_tickets_and_nobody_to_work_them_raises_an_alert(core: Core) -> None:
    people = await seed_week(core)
    async with core.db.transaction() as session:
        (await session.get(User, people.cat)).active = False  # type: ignore[union-attr]
    report = await _report(core)
    # Ticket 4 is open in 创意部, whose only rep has left and which has no head.
    assert report["alerts"] == [{"kind": "department_unstaffed", "department": "creative", "name": "创意部", "open": 1}]
    async with core.db.transaction() as session:
        tables = ReportTables(core.texts, "zh")
        built = await build_report(session, ReportFilter.for_days(*WEEK, ZONE), now=NOW, zone=ZONE)
    assert tables.alerts(built) == [
        "“创意部”有 1 张未结工单，但没有在岗的客服或负责人：这些工单无人分配、无人收到通知。"
    ]
    # The weekly report says it above its figures.
    html = WeeklyReportWriter(core.db, core.texts, "zh", ZONE).html("2026-W48", built)
    assert "“创意部”有 1 张未结工单" in html
    # A head who is active is enough.
    async with core.db.transaction() as session:
        creative = (await session.execute(select(Department).where(Department.code == "creative"))).scalar_one()
        creative.head_user_id = people.ann
    assert (await _report(core))["alerts"] == []
    # A report of another department does not raise it.
    async with core.db.transaction() as session:
        creative = (await session.execute(select(Department).where(Department.code == "creative"))).scalar_one()
        creative.head_user_id = None
    assert (await _report(core, department="cs"))["alerts"] == []
    assert len((await _report(core, department="creative"))["alerts"]) == 1
