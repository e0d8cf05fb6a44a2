"""The console's reports: figures with filters, CSV downloads, the weekly archive; supervisors and admins only."""

from __future__ import annotations

import csv
import io
from html import escape
from zoneinfo import ZoneInfo

from sqlalchemy import select

from core.clock import ManualClock
from core.db.models import WeeklyReport
from core.report_tables import TABLES, safe_cell
from core.weekly_report import WeeklyRecipients, WeeklyReportWriter
from handlers.services import Services
from tests.console.conftest import SignIn
from tests.support.reports_fixture import FORMULA_NAME, NOW, seed_week

WEEK = {"start": "2026-11-23", "end": "2026-11-29"}


def _rows(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff"), "Excel needs the BOM to read UTF-8"
    return list(csv.reader(io.StringIO(text[1:])))


async def test_supervisors_and_admins_read_reports_reps_do_not(services: Services, signed_in: SignIn) -> None:
    rep = await signed_in("rep1")
    supervisor = await signed_in("sup1", role="supervisor")
    admin = await signed_in("root", role="admin")
    paths = [
        "/console/reports",
        "/console/reports/archive",
        "/console/api/reports/options",
        "/console/api/reports/data",
        "/console/api/reports/csv/summary",
        "/console/api/reports/archive",
    ]
    for path in paths:
        assert (await rep.get(path)).status_code == 403, path
        assert (await supervisor.get(path)).status_code == 200, path
        assert (await admin.get(path)).status_code == 200, path


async def test_figures_and_filters_over_http(services: Services, clock: ManualClock, signed_in: SignIn) -> None:
    clock.set(NOW)
    people = await seed_week(services)
    supervisor = await signed_in("sup1", role="supervisor")
    week = (await supervisor.get("/console/api/reports/data", params=WEEK)).json()
    assert week["totals"]["tickets"] == 7 and week["totals"]["satisfaction_avg"] == 4.0
    wechat = (await supervisor.get("/console/api/reports/data", params={**WEEK, "channel": "wechat"})).json()
    assert wechat["totals"]["tickets"] == 3
    bob = (await supervisor.get("/console/api/reports/data", params={**WEEK, "rep": people.bob})).json()
    assert bob["totals"]["tickets"] == 2
    cs = (await supervisor.get("/console/api/reports/data", params={**WEEK, "department": "cs"})).json()
    assert cs["totals"]["tickets"] == 5
    # Without dates: the last 30 local days up to today (1 December), which hold all nine tickets.
    default = (await supervisor.get("/console/api/reports/data")).json()
    assert default["totals"]["tickets"] == 9 and default["series"]["buckets"][-1] == "2026-12-01"
    assert (await supervisor.get("/console/api/reports/data", params={"start": "23/11/2026"})).status_code == 400
    backwards = {"start": "2026-11-29", "end": "2026-11-23"}
    assert (await supervisor.get("/console/api/reports/data", params=backwards)).status_code == 400
    options = (await supervisor.get("/console/api/reports/options")).json()
    assert {"web", "wechat", "telegram"} <= set(options["channels"])
    assert any(r["name"] == "鲍勃" for r in options["reps"]) and options["today"] == "2026-12-01"


async def test_every_table_exports_to_csv(services: Services, clock: ManualClock, signed_in: SignIn) -> None:
    clock.set(NOW)
    await seed_week(services)
    supervisor = await signed_in("sup1", role="supervisor")
    reps = await supervisor.get("/console/api/reports/csv/reps", params=WEEK)
    assert reps.status_code == 200 and reps.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="kefu-reps-2026-11-23-2026-11-29.csv"' in reps.headers["content-disposition"]
    rows = _rows(reps.content.decode("utf-8"))
    assert rows[0] == [
        "客服",
        "工单数",
        "首次响应中位数（分钟）",
        "首次响应 n",
        "平均满意度",
        "评分数",
        "重开率",
        "已解决 n",
    ]
    assert rows[1] == ["安妮", "3", "20.0", "3", "4.5", "2", "0.0%", "3"]
    assert rows[2] == ["鲍勃", "2", "27.5", "2", "3.0", "1", "100.0%", "1"]
    # The rep named like a formula is written as text.
    assert rows[3][0] == "'" + FORMULA_NAME
    # Ticket 5 belongs to nobody: the table adds up to the week's 7 tickets.
    assert rows[4] == ["（未分配）", "1", "", "", "", "", "", ""]
    assert sum(int(r[1]) for r in rows[1:]) == 7
    keywords = _rows((await supervisor.get("/console/api/reports/csv/keywords", params=WEEK)).text)
    assert keywords[1:3] == [["价格", "2"], ["投诉", "2"]]
    categories = _rows((await supervisor.get("/console/api/reports/csv/categories", params=WEEK)).text)
    assert categories[0] == ["时间段", "咨询", "投诉", "建议", "其他"]
    assert categories[1] == ["2026-11-23", "1", "1", "0", "0"] and len(categories) == 8
    for table in ("summary", "satisfaction", "departments"):
        assert (await supervisor.get(f"/console/api/reports/csv/{table}", params=WEEK)).status_code == 200
    assert (await supervisor.get("/console/api/reports/csv/passwords", params=WEEK)).status_code == 404


async def test_the_weekly_archive_lists_shows_and_downloads(
    services: Services, clock: ManualClock, signed_in: SignIn
) -> None:
    clock.set(NOW)
    await seed_week(services)
    zone = ZoneInfo(services.settings.timezone)
    writer = WeeklyReportWriter(services.db, services.texts, "zh", zone, forms=services.forms)
    await writer.create("2026-W48", now=NOW, recipients=WeeklyRecipients(email=False, telegram=False))
    supervisor = await signed_in("sup1", role="supervisor")
    listed = (await supervisor.get("/console/api/reports/archive")).json()["reports"]
    assert [(r["week"], r["start"], r["end"]) for r in listed] == [("2026-W48", "2026-11-23", "2026-11-29")]
    assert listed[0]["tables"] == [*TABLES, "needs"]
    needs = _rows((await supervisor.get("/console/reports/archive/2026-W48/needs.csv")).text)
    assert needs[0][:3] == ["客户等级", "分组", "类别"]
    page = await supervisor.get("/console/reports/archive/2026-W48")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "客服周报 2026-W48" in page.text and "<svg" in page.text and "<script" not in page.text
    assert "content-security-policy" in page.headers
    downloaded = await supervisor.get("/console/reports/archive/2026-W48/reps.csv")
    assert _rows(downloaded.text)[1][0] == "安妮"
    assert (await supervisor.get("/console/reports/archive/2026-W47")).status_code == 404
    assert (await supervisor.get("/console/reports/archive/week-48")).status_code == 400


async def test_page_api_csv_and_weekly_archive_agree(services: Services, clock: ManualClock, signed_in: SignIn) -> None:
    clock.set(NOW)
    await seed_week(services)
    zone = ZoneInfo(services.settings.timezone)
    writer = WeeklyReportWriter(services.db, services.texts, "zh", zone, forms=services.forms)
    await writer.create("2026-W48", now=NOW, recipients=WeeklyRecipients(email=False, telegram=False))
    supervisor = await signed_in("sup1", role="supervisor")
    data = (await supervisor.get("/console/api/reports/data", params=WEEK)).json()
    async with services.db.transaction() as session:
        archived = (await session.execute(select(WeeklyReport))).scalar_one()
    # The figures the archive keeps are the API's (the archive adds the calendar warning of its day, and the
    # needs trends, a week against the four before it).
    kept = dict(archived.data)
    kept.pop("calendar_warning")
    assert kept.pop("needs")["baseline_weeks"] == 4
    assert kept == {k: v for k, v in data.items() if k not in ("tables", "alert_texts")}
    html = (await supervisor.get("/console/reports/archive/2026-W48")).text
    for table in TABLES:
        api_table = data["tables"][table]
        # What the page shows (the API's rows) is what the CSV download and the archived CSV hold, cell for cell.
        expected = [api_table["header"], *([safe_cell(c) for c in row] for row in api_table["rows"])]
        downloaded = _rows((await supervisor.get(f"/console/api/reports/csv/{table}", params=WEEK)).text)
        stored = _rows((await supervisor.get(f"/console/reports/archive/2026-W48/{table}.csv")).text)
        assert downloaded == expected, table
        assert stored == expected, table
    # The archived page shows each summary figure with its n, as the page does.
    summary = data["tables"]["summary"]
    assert summary["header"] == ["指标", "数值", "样本数 n"]
    figures = {key: (value, n) for key, (_, value, n) in zip(summary["keys"], summary["rows"], strict=True)}
    assert figures["f_sla_first_response"] == ("71.4%", "7") and figures["f_satisfaction_avg"] == ("4.0", "3")
    assert figures["f_unclassified_rate"] == ("16.7%", "6") and figures["f_handoff_rate"] == ("14.3%", "7")
    for label, value, n in summary["rows"]:
        assert f"<td>{escape(label)}</td><td>{escape(value)}</td><td>{n}</td>" in html, label
