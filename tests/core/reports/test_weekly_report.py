"""The weekly report: due on Monday 09:00 local, made exactly once, caught up after downtime, sent once."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select, update

from core.clock import ManualClock
from core.db.models import User, WeeklyReport, WeeklyReportDelivery
from core.errors import InvalidInput
from core.settings import Settings, SmtpSettings, WeeklyReportSettings
from core.weekly_report import WeeklyRecipients, WeeklyReportWriter, due_week, week_period
from handlers.services import Services, build_services
from handlers.weekly_reports import WeeklyReports
from tests.support.cli import run_kefu
from tests.support.reports_fixture import seed_week
from tests.support.smtp import Inbox

ZONE = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on 127.0.0.1 collecting what it receives (as in tests/app/test_email_notifier.py)."""
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def shanghai(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=ZONE).astimezone(UTC)


def test_the_week_due_turns_over_on_monday_at_nine_local() -> None:
    schedule = WeeklyReportSettings()
    # Monday 30 November: before 09:00 the latest due report is still W47's; from 09:00 it is W48's.
    assert due_week(shanghai(30, 8, 59), ZONE, schedule) == "2026-W47"
    assert due_week(shanghai(30, 9, 0), ZONE, schedule) == "2026-W48"
    assert due_week(shanghai(29, 23, 59), ZONE, schedule) == "2026-W47"
    assert due_week(shanghai(6, 23, 0, month=12), ZONE, schedule) == "2026-W48"
    # Another day and hour: Wednesday 14:30.
    wednesday = WeeklyReportSettings(weekday=2, at="14:30")
    assert due_week(shanghai(2, 14, 29, month=12), ZONE, wednesday) == "2026-W47"
    assert due_week(shanghai(2, 14, 30, month=12), ZONE, wednesday) == "2026-W48"
    # The period is local: Monday 00:00 Shanghai is Sunday 16:00 UTC.
    start, end = week_period("2026-W48", ZONE)
    assert start.astimezone(UTC) == datetime(2026, 11, 22, 16, tzinfo=UTC)
    assert end - start == timedelta(days=7)
    with pytest.raises(ValueError):
        WeeklyReportSettings(at="9am")


async def supervisor(services: Services, *, email: str | None = "boss@agency.example", tg: int | None = None) -> None:
    async with services.db.transaction() as session:
        session.add(
            User(
                username="boss",
                display_name="赵主管",
                role="supervisor",
                email=email,
                telegram_user_id=tg,
                created_at=services.clock.now(),
            )
        )
        # A rep with an address gets nothing: the report is for supervisors.
        session.add(
            User(username="r", display_name="客服", role="rep", email="rep@x.example", created_at=services.clock.now())
        )


async def _weeks(services: Services) -> list[str]:
    async with services.db.transaction() as session:
        return list((await session.execute(select(WeeklyReport.week).order_by(WeeklyReport.week))).scalars())


def _with_smtp(services: Services, port: int) -> None:
    services.settings.smtp = SmtpSettings(host="127.0.0.1", port=port, sender="kefu@agency.example")


async def test_made_once_at_the_due_time_and_caught_up_after_downtime(
    services: Services, clock: ManualClock, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    _with_smtp(services, port)
    await seed_week(services)
    await supervisor(services)
    job = WeeklyReports(services)
    clock.set(shanghai(30, 8, 59))
    # A fresh installation catches up on the latest report that is due: W47's, not yet W48's.
    assert await job.tick() == "2026-W47"
    assert await _weeks(services) == ["2026-W47"]
    clock.set(shanghai(30, 9, 0))
    assert await job.tick() == "2026-W48"
    for minutes in range(1, 4):
        clock.set(shanghai(30, 9, minutes))
        assert await job.tick() is None
    assert await _weeks(services) == ["2026-W47", "2026-W48"]
    assert [m["Subject"] for _, m in inbox.messages] == ["客服周报 2026-W47", "客服周报 2026-W48"]
    assert all(rcpt == ["boss@agency.example"] for rcpt, _ in inbox.messages)

    # The process was down on Monday 7 December at 09:00; it makes W49's when it is back on Tuesday.
    clock.set(shanghai(8, 10, 0, month=12))
    assert await job.tick() == "2026-W49"
    assert await job.tick() is None
    assert len(inbox.messages) == 3

    message = inbox.messages[1][1]
    html = message.get_body(("html",))
    assert html is not None and "<svg" in html.get_content() and "安妮" in html.get_content()
    attachments = {a.get_filename(): a.get_content() for a in message.iter_attachments()}
    assert set(attachments) == {
        f"kefu-2026-W48-{n}.csv"
        for n in ("summary", "categories", "satisfaction", "keywords", "reps", "departments", "needs")
    }
    reps_csv = attachments["kefu-2026-W48-reps.csv"]
    assert reps_csv.startswith("\ufeff客服,工单数") and "\r\n安妮,3," in reps_csv
    assert "工单 7 张" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_a_crash_between_making_and_sending_neither_skips_nor_doubles(
    services: Services, clock: ManualClock, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    _with_smtp(services, port)
    await supervisor(services)
    clock.set(shanghai(30, 9, 0))
    # The report was written, then the process died before sending: the delivery row waits.
    writer = WeeklyReportWriter(services.db, services.texts, "zh", ZONE)
    assert await writer.create("2026-W48", now=clock.now(), recipients=WeeklyRecipients(email=True, telegram=False))
    # Another delivery was claimed by a process that died mid-send: it waits for its lease to run out.
    assert await writer.create("2026-W47", now=clock.now(), recipients=WeeklyRecipients(email=True, telegram=False))
    async with services.db.transaction() as session:
        w47 = await session.scalar(select(WeeklyReport.id).where(WeeklyReport.week == "2026-W47"))
        await session.execute(
            update(WeeklyReportDelivery)
            .where(WeeklyReportDelivery.report_id == w47)
            .values(status="sending", attempts=1, lease_until=clock.now() + timedelta(minutes=10))
        )
    job = WeeklyReports(services)
    clock.advance(timedelta(minutes=1))
    assert await job.tick() is None  # W48 exists: nothing new is made
    assert [m["Subject"] for _, m in inbox.messages] == ["客服周报 2026-W48"]
    clock.advance(timedelta(minutes=10))
    await job.tick()
    await job.tick()
    assert [m["Subject"] for _, m in inbox.messages] == ["客服周报 2026-W48", "客服周报 2026-W47"]
    async with services.db.transaction() as session:
        states = (await session.execute(select(WeeklyReportDelivery.status, WeeklyReportDelivery.sent_at))).all()
    assert [s for s, _ in states] == ["sent", "sent"] and all(at is not None for _, at in states)


async def test_an_unreachable_smtp_server_is_retried_then_given_up(services: Services, clock: ManualClock) -> None:
    _with_smtp(services, 1)  # nothing listens on port 1
    await seed_week(services)
    await supervisor(services)
    clock.set(shanghai(30, 9, 0))
    job = WeeklyReports(services)
    assert await job.tick() == "2026-W48"
    for _ in range(6):
        clock.advance(timedelta(minutes=1))
        await job.tick()
    async with services.db.transaction() as session:
        row = (await session.execute(select(WeeklyReportDelivery))).scalar_one()
    assert (row.status, row.attempts) == ("failed", 5) and row.last_error


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_two_instances_racing_make_one_report_and_one_email(
    services: Services, settings: Settings, clock: ManualClock, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    await seed_week(services)
    await supervisor(services)
    other = build_services(settings.model_copy(deep=True), clock)
    await other.start(migrate=False)
    try:
        for instance in (services, other):
            _with_smtp(instance, port)
        jobs = [WeeklyReports(services), WeeklyReports(other)]
        clock.set(shanghai(30, 9, 0))
        made: list[str | None] = []
        for _ in range(5):
            # Each instance ticks three times at once, as overlapping minutes of several processes would.
            made += await asyncio.gather(*(job.tick() for job in jobs for _ in range(3)))
            clock.advance(timedelta(seconds=60))
        assert made.count("2026-W48") == 1
    finally:
        await other.stop()
    assert await _weeks(services) == ["2026-W48"]
    assert len(inbox.messages) == 1


async def test_weeks_not_over_are_refused(services: Services, clock: ManualClock) -> None:
    await seed_week(services)
    job = WeeklyReports(services)
    writer = WeeklyReportWriter(services.db, services.texts, "zh", ZONE)
    none = WeeklyRecipients(email=False, telegram=False)
    # A minute before W48 ends (Sunday 29 November, 23:59 local): it is neither generated nor archived.
    clock.set(shanghai(29, 23, 59))
    for week in ("2026-W48", "2026-W49", "2027-W10"):
        with pytest.raises(InvalidInput, match="not over yet"):
            await job.generate(week, created_by="cli")
        with pytest.raises(InvalidInput, match="not over yet"):
            await writer.create(week, now=clock.now(), recipients=none)
    assert await _weeks(services) == []
    clock.set(shanghai(30, 0, 0))
    assert await job.generate("2026-W48", created_by="cli")
    async with services.db.transaction() as session:
        row = (await session.execute(select(WeeklyReport))).scalar_one()
    assert row.data["totals"]["tickets"] == 7


async def test_a_fresh_installation_archives_no_empty_week_before_its_first(
    services: Services, clock: ManualClock
) -> None:
    # The services started on Sunday 29 November (W48), the first full week is W49; no tickets yet.
    job = WeeklyReports(services)
    clock.set(shanghai(30, 9, 0))
    assert await job.tick() is None
    assert await _weeks(services) == []
    with pytest.raises(InvalidInput, match="before kefu was installed"):
        await job.generate("2026-W48", created_by="cli")
    clock.set(shanghai(7, 9, 0, month=12))
    assert await job.tick() == "2026-W49"  # empty, but kefu ran all week: that is a figure
    assert await _weeks(services) == ["2026-W49"]


def test_kefu_reports_weekly_by_hand(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    kefu = partial(run_kefu, env={"KEFU_DATABASE_URL": url})

    async def prepare() -> None:
        built = build_services(Settings(database_url=url))
        await built.start()
        await seed_week(built)
        await built.stop()

    async def count() -> int:
        built = build_services(Settings(database_url=url))
        try:
            async with built.db.transaction() as session:
                return int(await session.scalar(select(func.count()).select_from(WeeklyReport)) or 0)
        finally:
            await built.stop()

    asyncio.run(prepare())

    made = kefu("reports", "weekly", "--week", "2026-W48")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == "weekly report 2026-W48 generated"
    again = kefu("reports", "weekly", "--week", "2026-W48")
    assert again.returncode == 0 and "already exists" in again.stdout
    bad = kefu("reports", "weekly", "--week", "2026-48")
    assert bad.returncode == 2 and "YYYY-Www" in bad.stderr
    # This week is not over, next year's has not begun: neither is archived with incomplete figures.
    year, number, _ = datetime.now(ZONE).isocalendar()
    for week in (f"{year}-W{number:02d}", f"{year + 1}-W10"):
        refused = kefu("reports", "weekly", "--week", week)
        assert refused.returncode == 2 and "not over yet" in refused.stderr, refused.stderr
    # W46 began before this installation and holds no ticket: nothing to archive.
    empty = kefu("reports", "weekly", "--week", "2026-W46")
    assert empty.returncode == 2 and "before kefu was installed" in empty.stderr
    assert asyncio.run(count()) == 1
