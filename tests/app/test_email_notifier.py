"""E-mail notifications through a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from core.clock import ManualClock
from core.db.models import Notification, User
from core.settings import SmtpSettings
from handlers.email_notifier import EmailNotifier
from handlers.services import Services
from tests.support.smtp import Inbox


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
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


async def test_notifications_are_mailed_once_to_their_people(
    services: Services, clock: ManualClock, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    now = clock.now()
    async with services.db.transaction() as session:
        head = User(username="h", display_name="王经理", role="rep", email="head@example.com", created_at=now)
        sup1 = User(username="s1", display_name="赵", role="supervisor", email="s1@example.com", created_at=now)
        sup2 = User(username="s2", display_name="钱", role="supervisor", created_at=now)  # no address
        session.add_all([head, sup1, sup2])
        await session.flush()
        session.add_all(
            [
                Notification(user_id=head.id, kind="new_ticket", text="新工单 KF-1：投放问题", created_at=now),
                Notification(role="supervisor", kind="sla_breach", text="SLA 超时：工单 KF-1", created_at=now),
            ]
        )
    notifier = EmailNotifier(services.db, clock, SmtpSettings(host="127.0.0.1", port=port, sender="kefu@agency"))
    assert await notifier.deliver_pending() == 2
    assert await notifier.deliver_pending() == 0
    assert sorted(r for rcpt, _ in inbox.messages for r in rcpt) == ["head@example.com", "s1@example.com"]
    bodies = {m.get_content().strip() for _, m in inbox.messages}
    assert bodies == {"新工单 KF-1：投放问题", "SLA 超时：工单 KF-1"}
    async with services.db.transaction() as session:
        assert all(n.emailed_at for n in (await session.execute(select(Notification))).scalars())


async def test_unreachable_smtp_loses_no_notification(services: Services, clock: ManualClock) -> None:
    now = clock.now()
    async with services.db.transaction() as session:
        user = User(username="h", display_name="王", role="rep", email="h@example.com", created_at=now)
        session.add(user)
        await session.flush()
        session.add(Notification(user_id=user.id, kind="new_ticket", text="新工单", created_at=now))
    notifier = EmailNotifier(services.db, clock, SmtpSettings(host="127.0.0.1", port=1, timeout=2))
    assert await notifier.deliver_pending() == 0
    async with services.db.transaction() as session:
        assert (await session.execute(select(Notification.text))).scalar_one() == "新工单"
