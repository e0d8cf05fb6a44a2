"""The e-mail channel: each outbox row becomes one threaded mail through the account's SMTP server."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import select

from bots.email.compose import compose, subject_for
from bots.email.parse import SUBJECT_TICKET
from bots.email.settings import CHANNEL, EmailAccount
from core.channel import (
    ChannelCapabilities,
    PermanentSendError,
    RecipientGone,
    SendResult,
    Throttled,
    TransientSendError,
)
from core.channel_state import ChannelStateStore
from core.clock import Clock
from core.db.models import ChannelIdentity, Conversation, Ticket
from core.db.session import Database
from core.messages import ConversationRef, MessageKind, OutboundMessage
from core.settings import SmtpSettings
from core.smtp import send_email
from core.texts import Texts

HOUR = timedelta(hours=1)
Sender = Callable[[SmtpSettings, EmailMessage], None]


def _refused(code: int, text: str) -> Exception:
    # 5xx is final for this message (a 550 on the recipient: the address does not exist); 4xx is "try later".
    if code >= 500:
        return PermanentSendError(f"smtp {code}: {text}")
    return TransientSendError(f"smtp {code}: {text}")


class EmailChannel:
    """Sends through the SMTP server of the row's account; rations the bot's mails per recipient and hour."""

    name = CHANNEL
    # No buttons: the engine numbers the options, as on WeChat; a mail has room for any text.
    capabilities = ChannelCapabilities(buttons=False, max_text_length=100_000, reply_window=None)

    def __init__(
        self,
        accounts: Iterable[EmailAccount],
        db: Database,
        state: ChannelStateStore,
        clock: Clock,
        texts: Texts,
        *,
        language: str = "zh",
        sender: Sender = send_email,
    ) -> None:
        self.accounts = {a.name: a for a in accounts}
        self.db = db
        self.state = state
        self.clock = clock
        self.texts = texts
        self.language = language
        self.sender = sender

    def account(self, name: str) -> EmailAccount | None:
        return self.accounts.get(name)

    async def send(self, ref: ConversationRef, message: OutboundMessage) -> SendResult:
        account = self.accounts.get(ref.account)
        if account is None:
            raise PermanentSendError(f"e-mail account {ref.account!r} is not configured")
        if not message.text:
            return SendResult()
        now = self.clock.now()
        automatic = message.kind != MessageKind.REP_REPLY
        if automatic:
            await self._check_ration(account, ref.external_user_id, now)
        conversation_language, ticket_number = await self._thread_facts(ref)
        extra = ref.extra
        thread_subject = str(extra.get("subject") or "")
        if ticket_number is None:
            # No open ticket: the thread keeps the number its subject already carries.
            tagged = SUBJECT_TICKET.search(thread_subject)
            ticket_number = tagged.group(1) if tagged else None
        references = tuple(str(r) for r in extra.get("references", []) if isinstance(r, str))
        mail = compose(
            account,
            ref.external_user_id,
            message,
            subject=subject_for(
                thread_subject,
                ticket_number,
                self.texts.get("email.subject", conversation_language or self.language),
            ),
            in_reply_to=extra.get("message_id"),
            references=references,
            now=now,
        )
        try:
            await asyncio.to_thread(self.sender, account.smtp(), mail)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()), (550, b"refused"))
            if code in (550, 551, 553):
                raise RecipientGone(f"smtp {code}: {text!r}") from None
            raise _refused(code, repr(text)) from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            raise _refused(exc.smtp_code, repr(exc.smtp_error)) from None
        except (smtplib.SMTPException, OSError) as exc:
            # Connection refused, timeout, a login refused: fixed outside this message, so tried again later.
            raise TransientSendError(f"smtp unavailable: {type(exc).__name__}: {exc}") from None
        if automatic:
            await self._count(account, ref.external_user_id, now)
        return SendResult(external_id=str(mail["Message-ID"]))

    def _ration_key(self, account: EmailAccount, address: str) -> str:
        return f"email:bot-mails:{account.name}:{address}"

    async def _check_ration(self, account: EmailAccount, address: str, now: datetime) -> None:
        sent = await self._recent(account, address, now)
        if len(sent) >= account.bot_mails_per_sender_per_hour:
            wait = (min(sent) + HOUR - now).total_seconds()
            raise Throttled(f"bot mails to {address}: hourly limit reached", retry_after=max(1.0, wait))

    async def _recent(self, account: EmailAccount, address: str, now: datetime) -> list[datetime]:
        value = await self.state.get(self._ration_key(account, address)) or {}
        times = [datetime.fromisoformat(t) for t in value.get("sent", []) if isinstance(t, str)]
        return [t for t in times if t > now - HOUR]

    async def _count(self, account: EmailAccount, address: str, now: datetime) -> None:
        sent = [*await self._recent(account, address, now), now]
        await self.state.put(
            self._ration_key(account, address), {"sent": [t.isoformat() for t in sent]}, expires_at=now + HOUR
        )

    async def _thread_facts(self, ref: ConversationRef) -> tuple[str | None, str | None]:
        """The conversation's language and its open ticket's number (a closed one's stays in the thread's subject)."""
        async with self.db.transaction() as session:
            row = (
                await session.execute(
                    select(Conversation.id, Conversation.language, Conversation.ticket_id)
                    .join(ChannelIdentity, ChannelIdentity.id == Conversation.identity_id)
                    .where(
                        ChannelIdentity.channel == ref.channel,
                        ChannelIdentity.account == ref.account,
                        ChannelIdentity.external_id == ref.external_user_id,
                    )
                )
            ).first()
            if row is None:
                return None, None
            conversation_id, language, ticket_id = row
            if ticket_id is None:
                return language, None
            number = (
                await session.execute(
                    select(Ticket.number).where(Ticket.id == ticket_id, Ticket.conversation_id == conversation_id)
                )
            ).scalar_one_or_none()
            return language, number
