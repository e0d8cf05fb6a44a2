"""E-mail channel benchmark on a real Dovecot (loopback) and aiosmtpd: mails processed per second, arrival-to-reply.

Throughput: a backlog of client mails in the folder, read by one MailboxReader into the engine (PostgreSQL),
each answered by mail through the outbox and SMTP; beside it, the same mails only fetched over IMAP (the
reader's reads alone, same connection, same order). Latency: from APPEND of one mail to the bot's reply
arriving at the SMTP server, with the reader in IDLE and with it polling every POLL_SECONDS; the median of
several mails, each from a new sender.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from pydantic import SecretStr

from bench.databases import drop_database, fresh_database
from bench.figures import Figure, count_label, emit, sized
from bots.email.channel import EmailChannel
from bots.email.imap import ImapFolder
from bots.email.reader import MailboxReader
from bots.email.receiver import MailReceiver
from bots.email.settings import EmailAccount
from core.clock import SystemClock
from core.settings import LimitSettings, Settings
from handlers.services import Services, build_services
from tests.channels.mail.samples import mail
from tests.channels.mail.servers import PASSWORD, Dovecot, Logins, free_port, start_dovecot
from tests.support.smtp import Inbox

BACKLOG = sized(300, 60)
LATENCY_MAILS = sized(8, 3)
POLL_SECONDS = 5.0
NO_LIMITS = LimitSettings(messages_per_minute=0, address_messages_per_minute=0, address_conversations_per_hour=0)


def _account(dovecot: Dovecot, smtp_port: int, *, idle: bool) -> EmailAccount:
    user = dovecot.user()
    return EmailAccount(
        name="bench",
        address=user,
        imap_host="127.0.0.1",
        imap_port=dovecot.port,
        imap_security="none",
        username=user,
        password=SecretStr(PASSWORD),
        idle=idle,
        poll_seconds=POLL_SECONDS,
        idle_seconds=60,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_security="none",
        bot_mails_per_sender_per_hour=100,
    )


async def _services(url: str, media: Path, account: EmailAccount) -> Services:
    settings = Settings(database_url=url, env="test", media_dir=media, limits=NO_LIMITS)
    services = build_services(settings, SystemClock())
    await services.start(migrate=False)
    services.registry.register(
        EmailChannel([account], services.db, services.channel_state, services.clock, services.texts)
    )
    return services


def _client_mail(i: int, to: str) -> bytes:
    return mail(
        f"client{i}@client.example.cn", to, "咨询", f"请问第{i}期的报价多少？", f"<b{i}@c.example.cn>"
    ).as_bytes()


async def throughput(dovecot: Dovecot, smtp: tuple[Inbox, int], media: Path) -> tuple[float, float]:
    inbox, port = smtp
    account = _account(dovecot, port, idle=False)
    url = await fresh_database("kefu_bench_email")
    services = await _services(url, media, account)
    try:
        reader = MailboxReader(account, services.channel_state, MailReceiver(services.engine), services.clock)
        await reader.poll_once()
        for i in range(BACKLOG):
            await dovecot.deliver(account.username, _client_mail(i, account.address))
        sent_before = len(inbox.messages)
        started = time.perf_counter()
        handled = await reader.poll_once()
        elapsed = time.perf_counter() - started
        assert handled == BACKLOG and len(inbox.messages) - sent_before == BACKLOG, (handled, len(inbox.messages))
        # The baseline: the same mails read over IMAP and nothing else.
        folder = ImapFolder(account)
        await folder.open()
        started = time.perf_counter()
        for uid in await folder.uids_after(0):
            assert await folder.fetch(uid) is not None
        bare = time.perf_counter() - started
        await folder.close()
        return BACKLOG / elapsed, BACKLOG / bare
    finally:
        await services.stop()
        await drop_database(url)


async def latency(dovecot: Dovecot, smtp: tuple[Inbox, int], media: Path, *, idle: bool) -> float:
    inbox, port = smtp
    account = _account(dovecot, port, idle=idle)
    url = await fresh_database("kefu_bench_email_latency")
    services = await _services(url, media, account)
    reader = MailboxReader(account, services.channel_state, MailReceiver(services.engine), services.clock)
    task = asyncio.create_task(reader.run())
    delays: list[float] = []
    try:
        while await services.channel_state.get(reader.cursor_key) is None:  # noqa: ASYNC110 (another process's row)
            await asyncio.sleep(0.01)
        for i in range(LATENCY_MAILS):
            # Arrivals fall anywhere in the polling interval, as real mail does.
            await asyncio.sleep(POLL_SECONDS * ((i * 0.37) % 1))
            before = len(inbox.messages)
            started = time.perf_counter()
            await dovecot.deliver(account.username, _client_mail(1000 + i, account.address))
            while len(inbox.messages) == before:  # noqa: ASYNC110 (filled by the SMTP server's thread)
                await asyncio.sleep(0.002)
            delays.append((time.perf_counter() - started) * 1000)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await services.stop()
        await drop_database(url)
    return statistics.median(delays)


async def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="kefu-bench-dovecot-"))
    media = Path(tempfile.mkdtemp(prefix="kefu-bench-media-"))
    dovecot = start_dovecot(root)
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=Logins(), auth_require_tls=False)
    controller.start()
    figures: list[Figure] = []
    try:
        rate, bare = await throughput(dovecot, (inbox, port), media)
        print(f"e-mail: {BACKLOG} mails read, answered and sent: {rate:,.1f} mails/s (IMAP fetch alone {bare:,.0f}/s)")
        label = f"e-mail, PostgreSQL, Dovecot, {count_label(BACKLOG)} mails read, answered, sent"
        figures.append(Figure(label, rate, bare, "mails/s", "the same mails fetched over IMAP only"))
        with_idle = await latency(dovecot, (inbox, port), media, idle=True)
        polling = await latency(dovecot, (inbox, port), media, idle=False)
        print(
            f"e-mail: arrival to reply, median of {LATENCY_MAILS}: IDLE {with_idle:,.0f} ms, polling every"
            f" {POLL_SECONDS:g} s {polling:,.0f} ms"
        )
        figures.append(
            Figure(
                "e-mail, arrival to bot reply, IDLE",
                with_idle,
                polling,
                "ms median",
                f"polling every {POLL_SECONDS:g} s",
            )
        )
    finally:
        controller.stop()
        dovecot.stop()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(media, ignore_errors=True)
    emit(figures)


if __name__ == "__main__":
    asyncio.run(main())
