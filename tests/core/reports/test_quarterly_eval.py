"""The quarterly client evaluation: due after the quarter, archived once beside the weekly reports, mailed once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from core.clock import ManualClock
from core.db.models import Ticket, TierSuggestion, WeeklyReport, WeeklyReportDelivery
from core.errors import InvalidInput
from core.quarterly_eval import due_quarter, quarter_period
from core.settings import Settings, WeeklyReportSettings
from handlers.services import Services, build_services
from handlers.weekly_reports import WeeklyReports
from tests.core.reports.test_weekly_report import _with_smtp, smtp, supervisor
from tests.support.cli import run_kefu
from tests.support.client_eval_fixture import seed_clients
from tests.support.smtp import Inbox

ZONE = ZoneInfo("Asia/Shanghai")
__all__ = ["smtp"]  # the real SMTP server fixture


def shanghai(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZONE).astimezone(UTC)


def test_the_quarter_due_turns_over_on_its_first_day_at_the_report_time() -> None:
    schedule = WeeklyReportSettings()
    assert due_quarter(shanghai(2027, 1, 1, 8, 59), ZONE, schedule) == "2026-Q3"
    assert due_quarter(shanghai(2027, 1, 1, 9, 0), ZONE, schedule) == "2026-Q4"
    assert due_quarter(shanghai(2026, 12, 6, 12), ZONE, schedule) == "2026-Q3"
    assert due_quarter(shanghai(2026, 4, 1, 9), ZONE, schedule) == "2026-Q1"
    assert due_quarter(shanghai(2026, 4, 1, 8), ZONE, schedule) == "2025-Q4"
    start, end = quarter_period("2026-Q4", ZONE)
    assert start == datetime(2026, 10, 1, tzinfo=ZONE) and end == datetime(2027, 1, 1, tzinfo=ZONE)
    with pytest.raises(InvalidInput):
        quarter_period("2026-Q5", ZONE)


async def test_archived_once_with_suggestions_and_mailed_to_supervisors(
    services: Services, clock: ManualClock, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    _with_smtp(services, port)
    ids = await seed_clients(services)
    await supervisor(services)
    job = WeeklyReports(services)
    with pytest.raises(InvalidInput, match="not over"):
        await job.evaluations.create("2026-Q4", now=shanghai(2026, 12, 31, 23), recipients=job.recipients)
    now = shanghai(2027, 1, 1, 9)
    clock.set(now)
    assert await job.quarterly(now) == "2026-Q4"
    assert await job.quarterly(now) is None
    assert await job.deliver_pending() == 1
    assert await job.deliver_pending() == 0
    async with services.db.transaction() as session:
        row = (await session.execute(select(WeeklyReport).where(WeeklyReport.week == "2026-Q4"))).scalar_one()
        deliveries = (await session.execute(select(WeeklyReportDelivery))).scalars().all()
        suggestions = (await session.execute(select(TierSuggestion))).scalars().all()
    # Over the whole quarter the falling client has no earlier quarter to fall from: only the strong client's
    # move up is suggested.
    assert row.data["kind"] == "client_evaluation" and row.data["clients"] == 4 and row.data["suggestions"] == 1
    assert [(s.client_id, s.period, s.to_tier, s.status) for s in suggestions] == [
        (ids.strong, "2026-Q4", "A", "pending")
    ]
    assert [(d.channel, d.recipient, d.status) for d in deliveries] == [("email", "boss@agency.example", "sent")]
    [(recipients, message)] = inbox.messages
    assert recipients == ["boss@agency.example"] and message["Subject"] == "客户评估 2026-Q4"
    assert "客户 4 位，其中有评分的 3 位；等级调整建议 1 条" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "王小明 星光传媒" in html and "<script" not in html
    attachments = {a.get_filename(): a.get_content() for a in message.iter_attachments()}
    csv = attachments["kefu-2026-Q4-client_evaluation.csv"]
    lines = csv.lstrip("\ufeff").split("\r\n")
    assert lines[0].startswith("排名,客户,等级,评分,工单,投诉")
    # All seven tickets of the quarter: 3 complaints; rated 5, 5, 3, 2, 1 → 3.2; deadlines met 11 of 14; score
    # (2.25 + 1 + 0.5 + 2 × 0.55 + 4/7 + 11/14) / 11 = 56.4.
    assert lines[1] == "1,李雷 远航广告,B,100.0,0,0,,,,,0,,5,5,5,B → A"
    assert lines[2].startswith("2,王小明 星光传媒,B,56.4,7,3,42.9%,3.2,,78.6%,1,2026-11-10,4,3,2,")


def test_kefu_reports_quarterly_by_hand(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    kefu = partial(run_kefu, env={"KEFU_DATABASE_URL": url})

    async def prepare() -> None:
        built = build_services(Settings(database_url=url))
        await built.start()
        await seed_clients(built)
        async with built.db.transaction() as session:
            # Every ticket moved 70 days back, into 2026-Q3: a quarter over, and begun before this installation.
            for ticket in (await session.execute(select(Ticket))).scalars():
                ticket.created_at = ticket.created_at - timedelta(days=70)
        await built.stop()

    async def archived() -> list[str]:
        built = build_services(Settings(database_url=url))
        try:
            async with built.db.transaction() as session:
                return list((await session.execute(select(WeeklyReport.week))).scalars())
        finally:
            await built.stop()

    asyncio.run(prepare())

    made = kefu("reports", "quarterly", "--quarter", "2026-Q3")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == "client evaluation 2026-Q3 generated"
    again = kefu("reports", "quarterly", "--quarter", "2026-Q3")
    assert again.returncode == 0 and "already exists" in again.stdout
    bad = kefu("reports", "quarterly", "--quarter", "2026-3")
    assert bad.returncode == 2 and "YYYY-Qn" in bad.stderr
    year = datetime.now(ZONE).year
    refused = kefu("reports", "quarterly", "--quarter", f"{year + 1}-Q1")
    assert refused.returncode == 2 and "not over yet" in refused.stderr, refused.stderr
    # 2026-Q2 began before this installation and holds no ticket: nothing to archive.
    empty = kefu("reports", "quarterly", "--quarter", "2026-Q2")
    assert empty.returncode == 2 and "before kefu was installed" in empty.stderr
    assert asyncio.run(archived()) == ["2026-Q3"]
