"""Sending: headers of bot and rep mails, numbered options, SMTP refusals mapped for the outbox, the hourly ration."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller

from bots.email.channel import EmailChannel
from bots.email.compose import html_body, subject_for
from bots.email.settings import EmailAccount
from core.channel import RecipientGone, Throttled, TransientSendError, degrade
from core.clock import ManualClock
from core.messages import Button, ConversationRef, MessageKind, OutboundMessage
from handlers.services import Services
from tests.channels.mail.servers import Logins, free_port
from tests.support.smtp import Inbox

CLIENT = "li@client.example.cn"


def ref(account: EmailAccount, to: str = CLIENT) -> ConversationRef:
    return ConversationRef(
        channel="email",
        account=account.name,
        external_user_id=to,
        extra={"subject": "回复：报价 [KF-20261206-0007]", "message_id": "<c2@c>", "references": ["<c1@c>", "<c2@c>"]},
    )


def test_subjects_and_html() -> None:
    assert subject_for("回复：报价 [KF-20261206-0007]", None, "您的来信") == "Re: 报价"
    assert subject_for("报价", "KF-20261206-0008", "您的来信") == "Re: 报价 [KF-20261206-0008]"
    assert subject_for("", None, "您的来信") == "您的来信"
    assert html_body("<script>x</script>\n第二行\n\n第二段") == (
        '<!DOCTYPE html><html><body style="font-family:sans-serif;font-size:14px">'
        "<p>&lt;script&gt;x&lt;/script&gt;<br>第二行</p><p>第二段</p></body></html>"
    )


async def test_a_bot_mail_is_threaded_and_marked_automatic(
    channel: EmailChannel, account: EmailAccount, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    result = await channel.send(ref(account), OutboundMessage("您好，已收到。"))
    [(rcpt, mail)] = inbox.messages
    assert rcpt == [CLIENT]
    assert result.external_id == mail["Message-ID"] and mail["Message-ID"].endswith("@example.com>")
    assert mail["Subject"] == "Re: 报价 [KF-20261206-0007]"
    assert (mail["In-Reply-To"], mail["References"]) == ("<c2@c>", "<c1@c> <c2@c>")
    assert mail["Auto-Submitted"] == "auto-replied" and mail["X-Auto-Response-Suppress"] == "All"


async def test_buttons_reach_a_mail_as_numbered_options(
    services: Services, channel: EmailChannel, account: EmailAccount, smtp: tuple[Inbox, int]
) -> None:
    message = OutboundMessage("请选择：", buttons=(Button("c:inquiry", "咨询"), Button("c:complaint", "投诉")))
    shown = degrade(
        message, channel.capabilities, lambda o: services.texts.get("options.reply_with_number", "zh", options=o)
    )
    await channel.send(ref(account), shown)
    body = smtp[0].messages[0][1].get_body(preferencelist=("plain",))
    assert body is not None and "1 咨询 · 2 投诉" in str(body.get_content())


async def test_bot_mails_are_rationed_per_recipient_and_hour_but_a_reps_are_not(
    channel: EmailChannel, account: EmailAccount, smtp: tuple[Inbox, int], clock: ManualClock
) -> None:
    channel.accounts[account.name] = account.model_copy(update={"bot_mails_per_sender_per_hour": 2})
    for _ in range(2):
        await channel.send(ref(account), OutboundMessage("自动回复"))
    with pytest.raises(Throttled) as throttled:
        await channel.send(ref(account), OutboundMessage("第三封"))
    assert throttled.value.retry_after == pytest.approx(3600, abs=1)
    await channel.send(ref(account), OutboundMessage("人工回复", kind=MessageKind.REP_REPLY.value))
    await channel.send(ref(account, "other@client.example.cn"), OutboundMessage("另一位客户"))
    assert len(smtp[0].messages) == 4
    assert smtp[0].messages[2][1]["Auto-Submitted"] is None, "a rep's mail is a person's"
    clock.advance(timedelta(hours=1, seconds=1))
    await channel.send(ref(account), OutboundMessage("一小时后"))
    assert len(smtp[0].messages) == 5


class Refusing(Inbox):
    """An SMTP server that refuses one recipient for good (550) and another for now (450)."""

    async def handle_RCPT(
        self, server: object, session: object, envelope: object, address: str, options: object
    ) -> str:
        if address.startswith("gone@"):
            return "550 5.1.1 mailbox unavailable"
        if address.startswith("busy@"):
            return "450 4.2.1 try again later"
        envelope.rcpt_tos.append(address)  # type: ignore[attr-defined]
        return "250 OK"


async def test_smtp_refusals_become_gone_or_later(channel: EmailChannel, account: EmailAccount) -> None:
    port = free_port()
    controller = Controller(Refusing(), hostname="127.0.0.1", port=port, authenticator=Logins(), auth_require_tls=False)
    controller.start()
    try:
        channel.accounts[account.name] = account.model_copy(update={"smtp_port": port})
        with pytest.raises(RecipientGone):
            await channel.send(ref(account, "gone@client.example.cn"), OutboundMessage("x"))
        with pytest.raises(TransientSendError):
            await channel.send(ref(account, "busy@client.example.cn"), OutboundMessage("x"))
    finally:
        controller.stop()
    # Nobody listening: tried again later.
    with pytest.raises(TransientSendError):
        await channel.send(ref(account), OutboundMessage("x"))


def test_mailboxes_are_configured_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from bots.email.settings import EmailSettings

    for key, value in {
        "KEFU_EMAIL__ACCOUNTS__support__ADDRESS": "Kefu@Agency.example.cn",
        "KEFU_EMAIL__ACCOUNTS__support__IMAP_HOST": "imap.exmail.qq.com",
        "KEFU_EMAIL__ACCOUNTS__support__USERNAME": "kefu@agency.example.cn",
        "KEFU_EMAIL__ACCOUNTS__support__PASSWORD": "app-password",
        "KEFU_EMAIL__ACCOUNTS__support__SMTP_HOST": "smtp.exmail.qq.com",
        "KEFU_EMAIL__ACCOUNTS__support__ALIASES": '["service@agency.example.cn"]',
    }.items():
        monkeypatch.setenv(key, value)
    [account] = EmailSettings().all()
    assert (account.name, account.address, account.imap_port, account.folder) == (
        "support",
        "kefu@agency.example.cn",
        993,
        "INBOX",
    )
    assert account.own_addresses == {"kefu@agency.example.cn", "service@agency.example.cn"}
    smtp = account.smtp()
    assert (smtp.host, smtp.port, smtp.ssl, smtp.starttls, smtp.username) == (
        "smtp.exmail.qq.com",
        465,
        True,
        False,
        "kefu@agency.example.cn",
    )
    monkeypatch.setenv("KEFU_EMAIL__ACCOUNTS__support__NAME", "has space")
    with pytest.raises(ValueError, match="account names"):
        EmailSettings()
