"""Fixtures of the e-mail tests: Dovecot for the session, an SMTP inbox and a mailbox per test, kefu's channel."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from pydantic import SecretStr

from bots.email.channel import EmailChannel
from bots.email.reader import MailboxReader
from bots.email.receiver import MailReceiver
from bots.email.settings import EmailAccount
from handlers.services import Services
from tests.channels.mail.servers import DOVECOT, PASSWORD, Dovecot, Logins, free_port, start_dovecot
from tests.support.smtp import Inbox


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """Debian's Dovecot (dovecot-imapd); absent outside CI the tests are skipped, in CI they fail."""
    if not os.path.exists(DOVECOT):
        if os.environ.get("CI") == "true":
            pytest.fail("dovecot is not installed (apt-get install dovecot-imapd)")
        pytest.skip("dovecot is not installed")
    root = Path(tempfile.mkdtemp(prefix="kefu-dovecot-"))
    server = start_dovecot(root)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    """Aiosmtpd on 127.0.0.1 with AUTH, as a hosted mail service's submission port asks for it."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=Logins(), auth_require_tls=False)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
async def account(dovecot: Dovecot, smtp: tuple[Inbox, int]) -> EmailAccount:
    user = await dovecot.new_user()
    return EmailAccount(
        name="support",
        address=user,
        display_name="客户服务中心",
        imap_host="127.0.0.1",
        imap_port=dovecot.port,
        imap_security="none",
        username=user,
        password=SecretStr(PASSWORD),
        poll_seconds=0.2,
        idle_seconds=5,
        imap_timeout_seconds=10,
        smtp_host="127.0.0.1",
        smtp_port=smtp[1],
        smtp_security="none",
        attachment_max_bytes=200_000,
        bot_mails_per_sender_per_hour=20,
    )


@pytest.fixture
def channel(services: Services, account: EmailAccount) -> EmailChannel:
    channel = EmailChannel(
        [account], services.db, services.channel_state, services.clock, services.texts, language="zh"
    )
    services.registry.register(channel)
    return channel


@pytest.fixture
def reader(services: Services, account: EmailAccount, channel: EmailChannel) -> MailboxReader:
    return MailboxReader(account, services.channel_state, MailReceiver(services.engine), services.clock)
