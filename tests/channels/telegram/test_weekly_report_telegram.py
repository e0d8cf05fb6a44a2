"""The weekly report on Telegram: a summary with the archive link to each linked supervisor, once."""

from __future__ import annotations

from datetime import timedelta

from aiogram import Bot
from sqlalchemy import select

from core.clock import ManualClock
from core.db.models import WeeklyReportDelivery
from handlers.services import Services
from handlers.weekly_reports import WeeklyReports
from tests.channels.telegram.fake_api import FakeBotAPI
from tests.core.reports.test_weekly_report import shanghai, supervisor
from tests.support.reports_fixture import seed_week

SUPERVISOR_TG = 9_001


async def test_supervisors_hear_of_it_on_telegram(
    services: Services, clock: ManualClock, bot: Bot, fake_api: FakeBotAPI
) -> None:
    services.settings.console_url = "https://kefu.example.com"
    await seed_week(services)
    await supervisor(services, email=None, tg=SUPERVISOR_TG)
    clock.set(shanghai(30, 9, 0))
    job = WeeklyReports(services, bot=bot)
    assert await job.tick() == "2026-W48"
    assert await job.tick() is None
    [sent] = fake_api.sends()
    assert int(sent.data["chat_id"]) == SUPERVISOR_TG
    text = sent.data["text"]
    assert text.startswith("客服周报 2026-W48\n工单 7 张，投诉率 28.6%")
    assert "https://kefu.example.com/console/reports/archive/2026-W48" in text


async def test_a_blocked_telegram_chat_is_not_retried(
    services: Services, clock: ManualClock, bot: Bot, fake_api: FakeBotAPI
) -> None:
    # A week with tickets: an installation's empty first week is not archived, so nothing would be sent.
    await seed_week(services)
    await supervisor(services, email=None, tg=SUPERVISOR_TG)
    fake_api.failures = [403]
    clock.set(shanghai(30, 9, 0))
    job = WeeklyReports(services, bot=bot)
    await job.tick()
    clock.advance(timedelta(minutes=5))
    await job.tick()
    assert len(fake_api.sends()) == 1
    async with services.db.transaction() as session:
        assert await session.scalar(select(WeeklyReportDelivery.status)) == "failed"
