"""The console and the weekly report tell when the holiday calendar runs out; deadlines past it are estimates."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select

from core.clock import ManualClock, as_utc
from core.db.models import WeeklyReport
from core.weekly_report import WeeklyRecipients
from handlers.services import Services
from handlers.weekly_reports import WeeklyReports
from tests.console.conftest import SignIn
from tests.console.helpers import escalate

SH_OFFSET_HOURS = 8
LAST = date(2026, 12, 31)  # the last day chinese-calendar 1.11 covers


async def _save_hours(admin: Any, body: dict[str, Any]) -> None:
    current = (await admin.get("/console/api/admin/config/business_hours")).json()
    saved = await admin.post(
        "/console/api/admin/config/business_hours", {"revision": current["revision"], "body": body}
    )
    assert saved.status_code == 200, saved.text


async def test_admins_see_a_banner_from_thirty_days_before_the_end(
    services: Services, clock: ManualClock, signed_in: SignIn
) -> None:
    # 23:00 on 30 November in Shanghai: 31 days before the end; half past midnight on 1 December: 30.
    clock.set(datetime(2026, 11, 30, 15, tzinfo=UTC))
    admin = await signed_in("ada", role="admin")
    supervisor = await signed_in("sue", role="supervisor")
    assert (await admin.get("/console/api/me")).json()["notices"] == []
    clock.set(datetime(2026, 11, 30, 16, 30, tzinfo=UTC))
    notices = (await admin.get("/console/api/me")).json()["notices"]
    assert [n["kind"] for n in notices] == ["calendar"]
    assert "2026-12-31" in notices[0]["text"] and "2027" in notices[0]["text"] and "30" in notices[0]["text"]
    # Only admins keep the settings that fix it.
    assert (await supervisor.get("/console/api/me")).json()["notices"] == []
    # An admin who enters 2027 from the State Council notice on the settings page ends the warning.
    body = (await admin.get("/console/api/admin/config/business_hours")).json()["shipped"]
    await _save_hours(admin, body | {"holidays": ["2027-01-01"], "covered_years": [2027]})
    assert (await admin.get("/console/api/me")).json()["notices"] == []


async def test_deadlines_in_an_uncovered_year_are_marked_estimated(
    services: Services, clock: ManualClock, signed_in: SignIn
) -> None:
    # Thursday 31 December 2026, 16:00 in Shanghai: resolution deadlines fall in 2027.
    clock.set(datetime(2026, 12, 31, 16 - SH_OFFSET_HOURS, tzinfo=UTC))
    admin = await signed_in("ada", role="admin")
    _, number = await escalate(services, "v1")
    ticket = (await admin.get(f"/console/api/tickets/{number}")).json()["ticket"]
    for field in ("first_response_due", "resolution_due"):
        due = as_utc(datetime.fromisoformat(ticket[field])).astimezone(services.calendar.tz).date()
        assert ticket[f"{field}_estimated"] is (due > LAST), (field, due)
    assert ticket["resolution_due_estimated"] is True
    inbox = (await admin.get("/console/api/inbox", params={"queue": "waiting"})).json()["items"]
    shown = {item["number"]: item for item in inbox}[number]
    deadline = as_utc(datetime.fromisoformat(shown["deadline"])).astimezone(services.calendar.tz).date()
    assert shown["deadline_estimated"] is (deadline > LAST)
    # With 2027 entered by hand the same deadlines are firm.
    body = (await admin.get("/console/api/admin/config/business_hours")).json()["shipped"]
    await _save_hours(admin, body | {"covered_years": [2027]})
    ticket = (await admin.get(f"/console/api/tickets/{number}")).json()["ticket"]
    assert ticket["resolution_due_estimated"] is False and ticket["first_response_due_estimated"] is False


async def test_the_weekly_report_carries_the_warning(services: Services, clock: ManualClock) -> None:
    clock.set(datetime(2026, 12, 7, 2, tzinfo=UTC))  # Monday 10:00 in Shanghai
    assert await WeeklyReports(services).tick() == "2026-W49"
    # The scheduler's writer, a month earlier: the calendar still had 38 days to go.
    writer = WeeklyReports(services).writer
    none = WeeklyRecipients(email=False, telegram=False)
    assert await writer.create("2026-W47", now=datetime(2026, 11, 23, 2, tzinfo=UTC), recipients=none)
    async with services.db.transaction() as session:
        rows = {r.week: r for r in (await session.execute(select(WeeklyReport))).scalars()}
    warned = rows["2026-W49"]
    assert warned.data["calendar_warning"] == {"last_covered": "2026-12-31", "days_left": 24}
    assert "2026-12-31" in warned.html and "2027" in warned.html
    assert rows["2026-W47"].data["calendar_warning"] is None and "2026-12-31" not in rows["2026-W47"].html
