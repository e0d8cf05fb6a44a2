"""Announces new tickets to their department head's Telegram chat, once per notification row."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bots.telegram.ratelimit import RateLimiter
from bots.telegram.topics import TopicWriter
from core.business_hours import BusinessCalendar
from core.clock import Clock, as_utc
from core.db.models import Client, Conversation, Notification, Ticket, User
from core.db.session import Database
from core.leased_queue import stamp_once

log = logging.getLogger(__name__)

# The department head's "new ticket" notification (core/tickets/desk.py); the reps' queue copy has no user.
KINDS = ("new_ticket",)
# Older notifications are not announced any more: a head should not get last week's tickets after an outage.
MAX_AGE = timedelta(days=1)


class TelegramNotifier:
    """Claims each notification by setting telegram_sent_at; a send that may succeed later is unclaimed."""

    def __init__(self, *, db: Database, bot: Bot, limiter: RateLimiter, clock: Clock, writer: TopicWriter) -> None:
        self.db = db
        self.bot = bot
        self.limiter = limiter
        self.clock = clock
        self.writer = writer
        # The calendar in force (admins may swap it), to mark a deadline past its known holidays as estimated.
        self.calendar: Callable[[], BusinessCalendar] | None = None

    async def deliver_pending(self, limit: int = 100) -> int:
        now = self.clock.now()
        async with self.db.transaction() as session:
            rows = (
                await session.execute(
                    select(Notification.id, User.telegram_user_id)
                    .join(User, User.id == Notification.user_id)
                    .where(
                        Notification.telegram_sent_at.is_(None),
                        Notification.kind.in_(KINDS),
                        Notification.created_at >= now - MAX_AGE,
                        User.telegram_user_id.is_not(None),
                        User.active.is_(True),
                    )
                    .order_by(Notification.id)
                    .limit(limit)
                )
            ).all()
        sent = 0
        for notification_id, telegram_user_id in rows:
            # A private chat's id is the user's id: the head must have started the bot once.
            chat_id = int(telegram_user_id or 0)
            if self.limiter.acquire(chat_id) > 0:
                # This head's chat is busy (1 message/s); the next tick takes it.
                continue
            text = await self._claim(notification_id, now)
            if text is None:
                continue
            try:
                await self.bot.send_message(chat_id, text)
                sent += 1
            except TelegramRetryAfter as exc:
                self.limiter.block(chat_id, exc.retry_after)
                await self._unclaim(notification_id)
            except (TelegramBadRequest, TelegramForbiddenError) as exc:
                # The head never started the bot, or blocked it: the console still has the notification.
                log.warning("telegram notification %s to %s refused: %s", notification_id, chat_id, exc.message)
            except Exception as exc:
                log.info("telegram notification %s to %s failed, retried later: %s", notification_id, chat_id, exc)
                await self._unclaim(notification_id)
        return sent

    async def _claim(self, notification_id: int, now: datetime) -> str | None:
        """The announcement text, if this process is the one to send it."""
        async with self.db.transaction() as session:
            if not await stamp_once(session, Notification.telegram_sent_at, notification_id, now):
                return None
            notification = await session.get(Notification, notification_id)
            assert notification is not None
            ticket = await session.get(Ticket, notification.ticket_id) if notification.ticket_id else None
            if ticket is None:
                return notification.text
            return await self._announcement(session, ticket)

    async def _announcement(self, session: AsyncSession, ticket: Ticket) -> str:
        conversation = await session.get(Conversation, ticket.conversation_id)
        if conversation is not None:
            client = await self.writer.client_name(session, conversation)
        else:
            row = await session.get(Client, ticket.client_id)
            client = (row.name if row else "") or self.writer.t("unknown_client")
        due = ticket.first_response_due
        shown = as_utc(due).astimezone(self.writer.zone).strftime("%Y-%m-%d %H:%M") if due else "—"
        if due is not None and self.calendar is not None and self.calendar().is_estimated(as_utc(due)):
            shown += " " + self.writer.t("due_estimated")
        text = self.writer.t(
            "head_new_ticket",
            ticket_no=ticket.number,
            category=self.writer.category(ticket.category),
            priority=ticket.priority,
            client=client,
            title=ticket.title or "—",
            first_response_due=shown,
        )
        link = self.writer.ticket_link(ticket.number)
        return text + ("\n" + self.writer.t("head_link", url=link) if link else "")

    async def _unclaim(self, notification_id: int) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                update(Notification)
                .where(Notification.id == notification_id)
                .values(telegram_sent_at=None)
                .execution_options(synchronize_session=False)
            )
