"""New tickets announced to the department head's Telegram chat: once, with essentials and a console link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from aiogram import Bot
from sqlalchemy import select

from bots.telegram.notify import TelegramNotifier
from bots.telegram.ratelimit import RateLimiter
from bots.telegram.topics import TopicWriter
from core.clock import ManualClock
from core.db.models import Notification, Ticket
from handlers.services import Services
from handlers.user_cli import link_telegram
from tests.channels.telegram.conftest import CONSOLE
from tests.channels.telegram.fake_api import FakeBotAPI
from tests.support.chat import Chat
from tests.support.desk_setup import create_staff

HEAD_TG = 8_001


def _notifier(services: Services, bot: Bot) -> TelegramNotifier:
    writer = TopicWriter(services.texts, language="zh", timezone=services.settings.timezone, console_url=CONSOLE)
    return TelegramNotifier(
        db=services.db, bot=bot, limiter=RateLimiter(services.clock), clock=services.clock, writer=writer
    )


async def _ticket_for_head(web: httpx.AsyncClient, services: Services) -> Ticket:
    await create_staff(services)
    await link_telegram(services.db, "head-cs", HEAD_TG)
    await Chat(web).send("人工")
    async with services.db.transaction() as session:
        ticket = (await session.execute(select(Ticket))).scalar_one()
        heads = (
            (
                await session.execute(
                    select(Notification).where(Notification.kind == "new_ticket", Notification.user_id.is_not(None))
                )
            )
            .scalars()
            .all()
        )
    assert len(heads) == 1, "the cs head is notified of the new ticket"
    return ticket


async def test_the_head_hears_of_a_new_ticket_once(
    web: httpx.AsyncClient, services: Services, bot: Bot, fake_api: FakeBotAPI
) -> None:
    ticket = await _ticket_for_head(web, services)
    notifier = _notifier(services, bot)
    assert await notifier.deliver_pending() == 1
    [sent] = fake_api.sends()
    assert sent.data["chat_id"] == str(HEAD_TG)
    text = sent.data["text"]
    assert text.startswith(f"新工单 {ticket.number}") and f"优先级：{ticket.priority}" in text
    assert f"{CONSOLE}/console/tickets/{ticket.number}" in text and "首次响应时限" in text
    assert "估算" not in text
    # The reps' queue copy (role, no user) is not sent to anyone's Telegram; nothing goes twice.
    assert await notifier.deliver_pending() == 0
    assert len(fake_api.sends()) == 1
    async with services.db.transaction() as session:
        marked = (
            await session.execute(select(Notification.telegram_sent_at).where(Notification.user_id.is_not(None)))
        ).scalar_one()
    assert marked is not None


async def test_a_deadline_past_the_known_holidays_is_marked_estimated(
    web: httpx.AsyncClient, services: Services, bot: Bot, fake_api: FakeBotAPI, clock: ManualClock
) -> None:
    # Thursday 31 December 2026, 17:50 in Shanghai: the first response is due in 2027, a year that
    # chinese-calendar 1.11 does not cover.
    clock.set(datetime(2026, 12, 31, 9, 50, tzinfo=UTC))
    await _ticket_for_head(web, services)
    notifier = _notifier(services, bot)
    notifier.calendar = lambda: services.calendar
    assert await notifier.deliver_pending() == 1
    [sent] = fake_api.sends()
    assert "首次响应时限：2027-01-" in sent.data["text"]
    assert "（估算：节假日日历尚未覆盖该年）" in sent.data["text"]


async def test_flood_control_and_outages_retry_a_refusal_does_not(
    web: httpx.AsyncClient, services: Services, bot: Bot, fake_api: FakeBotAPI
) -> None:
    await _ticket_for_head(web, services)
    notifier = _notifier(services, bot)
    fake_api.failures = [429, 502]
    fake_api.retry_after = 5
    assert await notifier.deliver_pending() == 0
    # Still inside retry_after: the chat is not tried.
    assert await notifier.deliver_pending() == 0
    assert len(fake_api.sends()) == 1
    services.clock.advance(timedelta(seconds=6))  # type: ignore[attr-defined]
    assert await notifier.deliver_pending() == 0  # the 502
    services.clock.advance(timedelta(seconds=2))  # type: ignore[attr-defined]
    assert await notifier.deliver_pending() == 1
    assert len(fake_api.sends()) == 3


async def test_a_head_who_blocked_the_bot_is_not_retried(
    web: httpx.AsyncClient, services: Services, bot: Bot, fake_api: FakeBotAPI
) -> None:
    await _ticket_for_head(web, services)
    notifier = _notifier(services, bot)
    fake_api.failures = [403]
    assert await notifier.deliver_pending() == 0
    services.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
    assert await notifier.deliver_pending() == 0
    assert len(fake_api.sends()) == 1


async def test_without_a_linked_telegram_account_nothing_is_sent(
    web: httpx.AsyncClient, services: Services, bot: Bot, fake_api: FakeBotAPI
) -> None:
    await create_staff(services)
    await Chat(web).send("人工")
    assert await _notifier(services, bot).deliver_pending() == 0
    assert fake_api.sends() == []
