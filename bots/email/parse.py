"""A raw mail (RFC 5322 bytes) read with the standard library: who, what thread, text, attachments."""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime

from inscriptis import get_text
from lxml import html as lxml_html

from bots.email.quotes import latest_reply
from core.tickets.policies import TICKET_NUMBER

# Ticket numbers as kefu writes them into subjects: "[KF-20261206-0001]".
SUBJECT_TICKET = re.compile(r"\[(KF-\d{8}-\d{4,})\]")
# Reply and forward prefixes of English and Chinese mail clients, repeated ("Re: 回复: Re:").
_PREFIX = re.compile(r"^(?:\s*(?:re|fw|fwd|aw|回复|回覆|答复|转发|轉寄)\s*[:：]\s*)+", re.I)
# The messages table keeps external ids up to 128 characters.
MAX_EXTERNAL_ID = 128
MAX_REFERENCES = 20
# RFC 5321 allows 254; kefu's identity column holds 128, and no real client's address comes near it.
MAX_ADDRESS = 128


@dataclass(frozen=True, slots=True)
class MailPart:
    """One attachment as the mail carries it."""

    name: str | None
    content_type: str
    data: bytes
    inline: bool = False


@dataclass(frozen=True, slots=True)
class ParsedMail:
    """What kefu needs of one mail; `message` keeps the headers for the loop rules."""

    message: EmailMessage
    message_id: str | None
    sender: str
    sender_name: str
    subject: str
    in_reply_to: str | None
    references: tuple[str, ...]
    text: str
    full_text: str
    attachments: tuple[MailPart, ...] = field(default=())
    sent_at: datetime | None = None
    digest: str = ""

    @property
    def ticket_number(self) -> str | None:
        """The ticket number the subject carries ("Re: 投放问题 [KF-20261206-0001]"), if any."""
        match = SUBJECT_TICKET.search(self.subject)
        return match.group(1) if match and TICKET_NUMBER.match(match.group(1)) else None

    @property
    def is_reply(self) -> bool:
        return bool(self.in_reply_to or self.references or _PREFIX.match(self.subject))

    @property
    def external_id(self) -> str:
        """The mail's identity for deduplication: its Message-ID, or a digest of its bytes when it has none."""
        if self.message_id and len(self.message_id) <= MAX_EXTERNAL_ID:
            return self.message_id
        if self.message_id:
            return "mid:" + hashlib.sha256(self.message_id.encode("utf-8")).hexdigest()[:40]
        return "sha:" + self.digest


def bare_subject(subject: str) -> str:
    """The subject without reply prefixes and ticket tags: what a reply's "Re: … [KF-…]" is built on."""
    return " ".join(SUBJECT_TICKET.sub("", _PREFIX.sub("", subject)).split())


def _ids(value: str | None) -> tuple[str, ...]:
    return tuple(re.findall(r"<[^<>\s]+>", value or ""))


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError):
        # A header the policy cannot parse is as good as absent (the raw bytes stay in the mailbox).
        return ""
    return str(value).strip() if value is not None else ""


def _body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):
        # An unknown charset: decode what can be decoded rather than lose the mail.
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    if part.get_content_type() == "text/html":
        content = html_to_text(content)
    return content.replace("\r\n", "\n").strip()


def html_to_text(markup: str) -> str:
    """The text of an HTML body, without the <blockquote>s webmails quote earlier mails in."""
    try:
        tree = lxml_html.fromstring(markup)
    except (ValueError, lxml_html.etree.ParserError):
        return str(get_text(markup))
    for quote in tree.xpath("//blockquote"):
        quote.drop_tree()
    return str(get_text(lxml_html.tostring(tree, encoding="unicode")))


def _attachments(message: EmailMessage) -> tuple[MailPart, ...]:
    body = message.get_body(preferencelist=("plain", "html"))
    parts: list[MailPart] = []
    for part in message.walk():
        if part.is_multipart() or part is body:
            continue
        disposition = part.get_content_disposition()
        name = part.get_filename()
        if disposition is None and name is None and part.get_content_maintype() == "text":
            # The other alternative of the body (the HTML beside the plain text).
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            continue
        parts.append(MailPart(name, part.get_content_type(), data, inline=disposition == "inline"))
    return tuple(parts)


def parse_mail(raw: bytes) -> ParsedMail:
    """Read a mail; raises ValueError when it names no sender (then there is no one to answer)."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    senders = [(n, a) for n, a in getaddresses([_header(message, "From")]) if "@" in a]
    if not senders:
        raise ValueError("mail without a sender address")
    name, address = senders[0]
    if len(address) > MAX_ADDRESS:
        raise ValueError(f"sender address of {len(address)} characters")
    message_ids = _ids(_header(message, "Message-ID"))
    sent_at: datetime | None = None
    date = _header(message, "Date")
    if date:
        try:
            sent_at = parsedate_to_datetime(date)
        except (TypeError, ValueError):
            sent_at = None
    full_text = _body_text(message)
    in_reply_to = _ids(_header(message, "In-Reply-To"))
    return ParsedMail(
        message=message,
        message_id=message_ids[0] if message_ids else None,
        sender=address.strip().lower(),
        sender_name=name.strip(),
        subject=" ".join(_header(message, "Subject").split()),
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=_ids(_header(message, "References"))[-MAX_REFERENCES:],
        text=latest_reply(full_text, name) if full_text else "",
        full_text=full_text,
        attachments=_attachments(message),
        sent_at=sent_at if sent_at is None or sent_at.tzinfo is not None else None,
        digest=hashlib.sha256(raw).hexdigest()[:40],
    )
