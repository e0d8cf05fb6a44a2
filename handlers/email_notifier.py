"""Delivers console notifications by e-mail (SMTP) to the people they name, when SMTP is configured."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import select

from core.clock import Clock
from core.db.models import Notification, User
from core.db.session import Database
from core.leased_queue import stamp_once
from core.settings import SmtpSettings
from core.smtp import send_email

log = logging.getLogger(__name__)
MAX_AGE = timedelta(days=1)


class EmailNotifier:
    """Sends each notification at most once; the console keeps showing it either way."""

    def __init__(self, db: Database, clock: Clock, smtp: SmtpSettings) -> None:
        self.db = db
        self.clock = clock
        self.smtp = smtp

    async def deliver_pending(self, limit: int = 100) -> int:
        now = self.clock.now()
        sent = 0
        async with self.db.transaction() as session:
            rows = (
                (
                    await session.execute(
                        select(Notification.id)
                        .where(Notification.emailed_at.is_(None), Notification.created_at >= now - MAX_AGE)
                        .order_by(Notification.id)
                        .limit(limit)
                    )
                )
                .scalars()
                .all()
            )
        for notification_id in rows:
            claimed = await self._claim(notification_id, now)
            if claimed is None:
                continue
            notification, recipients = claimed
            for address in recipients:
                try:
                    await asyncio.to_thread(self._send, address, notification)
                    sent += 1
                except (OSError, smtplib.SMTPException) as exc:
                    # E-mail is a courtesy copy: the console has the notification, so no retry storm.
                    log.warning("e-mail of notification %s to %s failed: %s", notification.id, address, exc)
        return sent

    async def _claim(self, notification_id: int, now: datetime) -> tuple[Notification, list[str]] | None:
        async with self.db.transaction() as session:
            if not await stamp_once(session, Notification.emailed_at, notification_id, now):
                return None
            notification = await session.get(Notification, notification_id)
            assert notification is not None
            people = select(User.email).where(User.active.is_(True), User.email.is_not(None))
            if notification.user_id is not None:
                people = people.where(User.id == notification.user_id)
            elif notification.role is not None:
                people = people.where(User.role == notification.role)
            else:
                return None
            recipients = [e for e in (await session.execute(people)).scalars() if e]
            session.expunge(notification)
            return notification, recipients

    def _send(self, address: str, notification: Notification) -> None:
        message = EmailMessage()
        message["From"] = self.smtp.sender
        message["To"] = address
        message["Subject"] = notification.text.split("：", 1)[0][:80]
        message.set_content(notification.text)
        send_email(self.smtp, message)
