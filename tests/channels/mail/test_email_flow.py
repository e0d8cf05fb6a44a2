"""The e-mail channel end to end: Dovecot holds the clients' mails, aiosmtpd receives kefu's."""

from __future__ import annotations

import asyncio
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from bots.email.channel import EmailChannel
from bots.email.reader import MailboxReader
from bots.email.receiver import MailReceiver
from bots.email.settings import EmailAccount
from core.clock import ManualClock
from core.db.models import ChannelIdentity, Client, Conversation, Message, Ticket, User
from handlers.services import Services
from tests.channels.mail.samples import (
    PNG,
    bounce,
    complaint_with_screenshot,
    foxmail_reply,
    mail,
    outlook_reply,
    vacation_reply,
)
from tests.channels.mail.servers import Dovecot
from tests.support.smtp import Inbox

CLIENT = "zhang@client.example.cn"


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


async def wait_for_mails(inbox: Inbox, count: int, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while len(inbox.messages) < count:
        assert time.monotonic() < deadline, f"{len(inbox.messages)} mails, expected {count}"
        await asyncio.sleep(0.02)


async def test_a_complaint_by_mail_becomes_a_ticket_and_a_rep_reply_is_threaded(
    services: Services,
    dovecot: Dovecot,
    account: EmailAccount,
    reader: MailboxReader,
    smtp: tuple[Inbox, int],
    clock: ManualClock,
) -> None:
    inbox, _ = smtp
    assert await reader.poll_once() == 0  # first connection: the cursor starts at the end of the folder
    await dovecot.deliver(
        account.username, complaint_with_screenshot(CLIENT, account.address, "<c1@client.example.cn>")
    )
    assert await reader.poll_once() == 1

    [(rcpt, first)] = inbox.messages
    assert rcpt == [CLIENT]
    assert first["In-Reply-To"] == "<c1@client.example.cn>"
    assert first["References"] == "<c1@client.example.cn>"
    assert first["Subject"] == "Re: 投诉：广告投放一直没效果"
    assert first["Auto-Submitted"] == "auto-replied"
    assert first["From"].addresses[0].addr_spec == account.address
    assert "哪个广告项目" in text_of(first)
    html = first.get_body(preferencelist=("html",))
    assert html is not None and "哪个广告项目" in str(html.get_content())

    # The screenshot is in kefu's media store, recorded on the stored message.
    async with services.db.transaction() as session:
        stored = (await session.execute(select(Message).where(Message.direction == "in"))).scalar_one()
    [attachment] = stored.payload["attachments"]
    assert attachment["mime_type"] == "image/png" and attachment["name"] == "截图.png"
    assert await asyncio.to_thread(Path(attachment["local_path"]).read_bytes) == PNG
    assert stored.text.startswith("投诉：广告投放一直没效果\n你好，我要投诉")
    assert "北京某某科技有限公司" not in stored.text, "the signature is cut"

    # The client answers each question from Foxmail and Outlook, the whole history quoted below.
    answers = ["双十一活动", "跳过", "跳过", "13800138000", "1"]
    for i, answer in enumerate(answers):
        last = inbox.messages[-1][1]
        style = foxmail_reply if i % 2 == 0 else outlook_reply
        raw = style(
            CLIENT,
            account.address,
            str(last["Subject"]),
            answer,
            f"<r{i}@client.example.cn>",
            str(last["Message-ID"]),
            text_of(last),
            str(last["References"] or ""),
        )
        await dovecot.deliver(account.username, raw)
        assert await reader.poll_once() == 1
        assert len(inbox.messages) == i + 2
    async with services.db.transaction() as session:
        ticket = (await session.execute(select(Ticket))).scalar_one()
        inbound = (
            (await session.execute(select(Message.text).where(Message.direction == "in").order_by(Message.id)))
            .scalars()
            .all()
        )
        identity = (await session.execute(select(ChannelIdentity))).scalar_one()
        client = (await session.execute(select(Client))).scalar_one()
    assert inbound[1:] == answers, "only what the client wrote this time, without quotes or signature"
    assert ticket.channel == "email" and ticket.category == "complaint"
    assert ticket.details["project"] == "双十一活动"
    assert ticket.details["evidence"][0]["mime_type"] == "image/png"
    assert (identity.channel, identity.external_id, identity.display_name) == ("email", CLIENT, "张三")
    assert client.email == CLIENT
    confirmed = inbox.messages[-1][1]
    assert ticket.number in text_of(confirmed)
    assert str(confirmed["Subject"]) == f"Re: 投诉：广告投放一直没效果 [{ticket.number}]"
    assert confirmed["In-Reply-To"] == "<r4@client.example.cn>"
    chain = str(confirmed["References"]).split()
    assert chain[0] == "<c1@client.example.cn>" and chain[-1] == "<r4@client.example.cn>"

    # A rep answers from the console: a person's mail (no Auto-Submitted), threaded on the client's last mail.
    async with services.db.transaction() as session:
        rep = User(username="li", display_name="李客服", role="rep", created_at=clock.now())
        session.add(rep)
        await session.flush()
        rep_id = rep.id
        conversation_id = (await session.execute(select(Conversation.id))).scalar_one()
    await services.engine.rep_reply(conversation_id, rep_id, "张先生您好，双十一活动的投放数据我们正在排查。")
    rcpt, rep_mail = inbox.messages[-1]
    assert rcpt == [CLIENT]
    assert "正在排查" in text_of(rep_mail)
    assert rep_mail["Auto-Submitted"] is None
    assert str(rep_mail["Subject"]) == f"Re: 投诉：广告投放一直没效果 [{ticket.number}]"
    assert rep_mail["In-Reply-To"] == "<r4@client.example.cn>"

    # The client's out-of-office notice and a bounce get no answer.
    sent = len(inbox.messages)
    await dovecot.deliver(
        account.username, vacation_reply(CLIENT, account.address, "<v1@client.example.cn>", str(rep_mail["Message-ID"]))
    )
    await dovecot.deliver(account.username, bounce(account.address, "<b1@mx.example.net>", "nobody@client.example.cn"))
    assert await reader.poll_once() == 2
    assert len(inbox.messages) == sent
    assert reader.receive.outcomes["ignored"] == 2  # type: ignore[attr-defined]


async def test_a_restart_mid_poll_neither_loses_nor_repeats_a_mail(
    services: Services, dovecot: Dovecot, account: EmailAccount, channel: EmailChannel, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    receiver = MailReceiver(services.engine)
    calls = 0

    async def crashing(account: EmailAccount, raw: bytes) -> str:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionError("database went away")
        return await receiver(account, raw)

    first = MailboxReader(account, services.channel_state, crashing, services.clock)
    await first.poll_once()
    senders = [f"client{i}@client.example.cn" for i in range(3)]
    for i, sender in enumerate(senders):
        await dovecot.deliver(
            account.username, mail(sender, account.address, f"咨询 {i}", "请问报价多少？", f"<m{i}@c.example.cn>")
        )
    with pytest.raises(ConnectionError):
        await first.poll_once()
    assert [rcpt for rcpt, _ in inbox.messages] == [[senders[0]]]

    # A new process: reads on from the mail that failed, the first one is not read again.
    second = MailboxReader(account, services.channel_state, receiver, services.clock)
    assert await second.poll_once() == 2
    assert sorted(rcpt[0] for rcpt, _ in inbox.messages) == sorted(senders)

    # A crash after the turns but before the cursor moved: read again, answered never twice.
    await services.channel_state.put(
        second.cursor_key, {**(await services.channel_state.get(second.cursor_key) or {}), "last_uid": 0}
    )
    assert await second.poll_once() == 3
    assert receiver.outcomes["duplicate"] == 3
    assert len(inbox.messages) == 3

    # The same mail delivered twice (to an alias and to the mailbox): one turn.
    await dovecot.deliver(
        account.username, mail(senders[0], account.address, "咨询 0", "请问报价多少？", "<m0@c.example.cn>")
    )
    assert await second.poll_once() == 1
    assert receiver.outcomes["duplicate"] == 4
    async with services.db.transaction() as session:
        assert len((await session.execute(select(Message.id).where(Message.direction == "in"))).all()) == 3


@pytest.mark.parametrize("idle", [True, False], ids=["idle", "polling"])
async def test_the_reader_answers_a_new_mail_while_running(
    services: Services,
    dovecot: Dovecot,
    account: EmailAccount,
    channel: EmailChannel,
    smtp: tuple[Inbox, int],
    idle: bool,
) -> None:
    inbox, _ = smtp
    account = account.model_copy(update={"idle": idle})
    reader = MailboxReader(account, services.channel_state, MailReceiver(services.engine), services.clock)
    task = asyncio.create_task(reader.run())
    try:
        deadline = time.monotonic() + 10
        while await services.channel_state.get(reader.cursor_key) is None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # in IDLE (or asleep) by now
        await dovecot.deliver(
            account.username, mail(CLIENT, account.address, "咨询", "请问开票怎么开？", "<live@c.example.cn>")
        )
        await wait_for_mails(inbox, 1)
        while reader.handed < 1:  # the reply goes out inside the turn, before the reader counts the mail
            assert time.monotonic() < deadline + 10
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert inbox.messages[0][0] == [CLIENT]
    assert reader.handed == 1


async def test_a_first_mail_joins_the_client_recorded_with_that_address(
    services: Services, dovecot: Dovecot, account: EmailAccount, reader: MailboxReader, clock: ManualClock
) -> None:
    async with services.db.transaction() as session:
        known = Client(
            name="王总", company="某某传媒", tier="A", email="Wang@Client.example.cn", created_at=clock.now()
        )
        session.add(known)
        await session.flush()
        known_id = known.id
    await reader.poll_once()
    await dovecot.deliver(
        account.username, mail("wang@client.example.cn", account.address, "咨询", "报价单收到了吗", "<w1@c.example.cn>")
    )
    assert await reader.poll_once() == 1
    async with services.db.transaction() as session:
        identity = (await session.execute(select(ChannelIdentity))).scalar_one()
        clients = (await session.execute(select(Client.id))).scalars().all()
    assert identity.client_id == known_id and clients == [known_id]


async def test_a_rebuilt_folder_is_read_again_without_answering_twice(
    services: Services, dovecot: Dovecot, account: EmailAccount, channel: EmailChannel, smtp: tuple[Inbox, int]
) -> None:
    """A new UIDVALIDITY (the folder was deleted and made again): the recent mails are read, the known ones skipped."""
    inbox, _ = smtp
    account = account.model_copy(update={"folder": "Support"})
    admin = await dovecot.session(account.username)
    await admin.create("Support")
    receiver = MailReceiver(services.engine)
    reader = MailboxReader(account, services.channel_state, receiver, services.clock)
    await reader.poll_once()
    old = mail(CLIENT, account.address, "咨询", "请问报价多少？", "<old@c.example.cn>")
    await dovecot.deliver(account.username, old, folder="Support")
    assert await reader.poll_once() == 1
    before = (await services.channel_state.get(reader.cursor_key) or {})["uidvalidity"]

    await admin.delete("Support")
    await admin.create("Support")
    await admin.logout()
    await dovecot.deliver(account.username, old, folder="Support")
    await dovecot.deliver(
        account.username, mail("new@client.example.cn", account.address, "咨询", "开票", "<new@c>"), "Support"
    )
    assert await reader.poll_once() == 2
    assert (await services.channel_state.get(reader.cursor_key) or {})["uidvalidity"] != before
    assert receiver.outcomes == {"accepted": 2, "duplicate": 1}
    assert sorted(rcpt[0] for rcpt, _ in inbox.messages) == sorted([CLIENT, "new@client.example.cn"])


async def test_a_mail_over_the_size_limit_is_left_in_the_mailbox_and_reading_goes_on(
    services: Services, dovecot: Dovecot, account: EmailAccount, channel: EmailChannel, smtp: tuple[Inbox, int]
) -> None:
    account = account.model_copy(update={"max_mail_bytes": 20_000})
    receiver = MailReceiver(services.engine)
    reader = MailboxReader(account, services.channel_state, receiver, services.clock)
    await reader.poll_once()
    big = mail(CLIENT, account.address, "大附件", "见附件", "<big@c.example.cn>")
    big.add_attachment(b"x" * 50_000, maintype="application", subtype="pdf", filename="big.pdf")
    await dovecot.deliver(account.username, big)
    await dovecot.deliver(account.username, mail(CLIENT, account.address, "咨询", "请问报价", "<small@c.example.cn>"))
    assert await reader.poll_once() == 1
    assert receiver.outcomes == {"accepted": 1}
    assert (await services.channel_state.get(reader.cursor_key) or {})["last_uid"] == 2


async def test_a_worker_reads_every_configured_mailbox_until_stopped(
    services: Services, dovecot: Dovecot, account: EmailAccount, channel: EmailChannel, smtp: tuple[Inbox, int]
) -> None:
    from bots.email.run import MailReaders

    second = account.model_copy(update={"name": "sales", "address": await dovecot.new_user()})
    second = second.model_copy(update={"username": second.address})
    channel.accounts[second.name] = second
    readers = MailReaders([account, second], services.engine, services.channel_state)
    readers.start()
    try:
        deadline = time.monotonic() + 10
        for reader in readers.readers:
            while await services.channel_state.get(reader.cursor_key) is None:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
        await dovecot.deliver(account.username, mail("a@client.example.cn", account.address, "咨询", "报价", "<a@c>"))
        await dovecot.deliver(second.username, mail("b@client.example.cn", second.address, "咨询", "排期", "<b@c>"))
        await wait_for_mails(smtp[0], 2)
    finally:
        await readers.stop()
    senders = {str(m["From"].addresses[0].addr_spec): rcpt[0] for rcpt, m in smtp[0].messages}
    assert senders == {account.address: "a@client.example.cn", second.address: "b@client.example.cn"}


async def test_a_hard_bounce_stops_the_bot_writing_until_the_client_writes_again(
    services: Services, dovecot: Dovecot, account: EmailAccount, reader: MailboxReader, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    await reader.poll_once()
    await dovecot.deliver(
        account.username, mail(CLIENT, account.address, "咨询", "请问报价多少？", "<q1@c.example.cn>")
    )
    await dovecot.deliver(account.username, bounce(account.address, "<b2@mx.example.net>", CLIENT.upper()))
    assert await reader.poll_once() == 2
    async with services.db.transaction() as session:
        assert (await session.execute(select(ChannelIdentity.reachable))).scalar_one() is False
    assert len(inbox.messages) == 1
    await dovecot.deliver(account.username, mail(CLIENT, account.address, "Re: 咨询", "还在吗", "<q2@c.example.cn>"))
    assert await reader.poll_once() == 1
    async with services.db.transaction() as session:
        assert (await session.execute(select(ChannelIdentity.reachable))).scalar_one() is True
    assert len(inbox.messages) == 2


async def test_a_mail_whose_turn_keeps_failing_is_left_and_reading_goes_on(
    services: Services, dovecot: Dovecot, account: EmailAccount, channel: EmailChannel, smtp: tuple[Inbox, int]
) -> None:
    receiver = MailReceiver(services.engine)

    async def poisoned(account: EmailAccount, raw: bytes) -> str:
        if b"<poison@" in raw:
            raise RuntimeError("a bug this mail sets off")
        return await receiver(account, raw)

    reader = MailboxReader(account, services.channel_state, poisoned, services.clock)
    await reader.poll_once()
    await dovecot.deliver(account.username, mail(CLIENT, account.address, "咨询", "一", "<poison@c.example.cn>"))
    await dovecot.deliver(account.username, mail("b@client.example.cn", account.address, "咨询", "报价", "<ok@c>"))
    for _ in range(2):  # taken for an outage: the cursor stays, the mail is read again
        with pytest.raises(RuntimeError):
            await reader.poll_once()
    assert smtp[0].messages == []
    assert await reader.poll_once() == 1
    assert [rcpt for rcpt, _ in smtp[0].messages] == [["b@client.example.cn"]]
    assert (await services.channel_state.get(reader.cursor_key) or {})["last_uid"] == 2


def test_a_sender_address_longer_than_kefu_keeps_is_unreadable() -> None:
    from bots.email.parse import parse_mail

    with pytest.raises(ValueError, match="characters"):
        parse_mail(("From: " + "a" * 130 + "@c.example.cn\r\n\r\nhi\r\n").encode())
