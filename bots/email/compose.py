"""kefu's mails: threaded headers (Message-ID, In-Reply-To, References), "Re: … [KF-…]", text plus simple HTML."""

from __future__ import annotations

import html
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from bots.email.parse import MAX_REFERENCES, bare_subject
from bots.email.settings import EmailAccount
from core.messages import MessageKind, OutboundMessage


def subject_for(thread_subject: str, ticket_number: str | None, fallback: str) -> str:
    """The reply's subject, Re: <the client's subject> [KF-…], which mail programs thread on and kefu reads back."""
    base = bare_subject(thread_subject) or fallback
    subject = f"Re: {base}" if thread_subject else base
    return f"{subject} [{ticket_number}]" if ticket_number else subject


def html_body(text: str) -> str:
    """The text as minimal HTML: escaped, paragraphs kept, nothing a mail program could run."""
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    body = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    return f'<!DOCTYPE html><html><body style="font-family:sans-serif;font-size:14px">{body}</body></html>'


def compose(
    account: EmailAccount,
    to: str,
    message: OutboundMessage,
    *,
    subject: str,
    in_reply_to: str | None,
    references: tuple[str, ...],
    now: datetime,
) -> EmailMessage:
    """One reply to `to`; the bot's own mails say Auto-Submitted: auto-replied, a rep's do not (a person wrote them)."""
    mail = EmailMessage()
    mail["From"] = Address(account.display_name, addr_spec=account.address)
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = format_datetime(now)
    mail["Message-ID"] = make_msgid(domain=account.domain)
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
        chain = [r for r in references if r != in_reply_to][-(MAX_REFERENCES - 1) :]
        mail["References"] = " ".join([*chain, in_reply_to])
    if message.kind != MessageKind.REP_REPLY:
        # RFC 3834: a well-behaved responder on the client's side never answers this one.
        mail["Auto-Submitted"] = "auto-replied"
        # Exchange and Outlook: no out-of-office or read receipts back to the bot.
        mail["X-Auto-Response-Suppress"] = "All"
    mail.set_content(message.text)
    mail.add_alternative(html_body(message.text), subtype="html")
    return mail
