"""One fetched mail to kefu: junk dropped, attachments into the media store, the rest to the engine."""

from __future__ import annotations

import logging
import mimetypes
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update

from bots.email.loops import failed_recipients, reason_not_to_answer
from bots.email.parse import MAX_REFERENCES, MailPart, ParsedMail, parse_mail
from bots.email.settings import CHANNEL, EmailAccount
from core.db.models import ChannelIdentity
from core.engine import Engine
from core.media import MediaStore, MediaTooLarge
from core.messages import Attachment, ConversationRef, InboundMessage, MessageType

log = logging.getLogger(__name__)

# Names mail programs give the same types; the media store and the limits know the first.
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "application/x-zip-compressed": "application/zip"}


@dataclass(frozen=True, slots=True)
class Kept:
    """The attachments kept, and the names and reasons of those refused."""

    attachments: tuple[Attachment, ...]
    refused: tuple[dict[str, str], ...]


def content_type(part: MailPart) -> str:
    """The part's type; a generic one is guessed again from the file name (many clients send octet-stream)."""
    declared = _ALIASES.get(part.content_type, part.content_type)
    if declared == "application/octet-stream" and part.name:
        guessed = mimetypes.guess_type(part.name)[0]
        return _ALIASES.get(guessed, guessed) if guessed else declared
    return declared


def keep_attachments(account: EmailAccount, store: MediaStore, mail: ParsedMail) -> Kept:
    """Write the allowed attachments into the store (named by the mail's identity, so a repeat rewrites nothing)."""
    kept: list[Attachment] = []
    refused: list[dict[str, str]] = []
    for index, part in enumerate(mail.attachments):
        kind = content_type(part)
        name = part.name or f"attachment-{index + 1}"
        if kind not in account.attachment_types:
            refused.append({"name": name, "reason": f"type {kind}"})
            continue
        key = f"{CHANNEL}:{account.name}:{mail.external_id}:{index}"
        path = store.existing(key)
        if path is None:
            try:
                with store.writer(key, kind) as out:
                    out.write(part.data)
            except MediaTooLarge:
                refused.append({"name": name, "reason": f"{len(part.data)} bytes"})
                continue
            path = out.target
        kept.append(
            Attachment(
                kind="image" if kind.startswith("image/") else "file",
                media_id=key,
                local_path=str(path),
                mime_type=kind,
                name=name,
            )
        )
    return Kept(tuple(kept), tuple(refused))


def thread_of(mail: ParsedMail) -> dict[str, Any]:
    """What a reply to this mail needs (ConversationRef.extra): its subject, its id and the ids before it."""
    extra: dict[str, Any] = {"subject": mail.subject}
    if mail.message_id:
        extra["message_id"] = mail.message_id
        extra["references"] = [*mail.references, mail.message_id][-MAX_REFERENCES:]
    if mail.ticket_number:
        extra["ticket"] = mail.ticket_number
    return extra


def to_inbound(account: EmailAccount, mail: ParsedMail, kept: Kept, max_chars: int) -> InboundMessage:
    """The mail as kefu's InboundMessage: the new text (the subject first when it opens a thread)."""
    text = mail.text
    if mail.subject and not mail.is_reply and mail.subject not in text:
        # A first mail's subject often is the complaint in brief ("广告数据异常"): the classifier should see it.
        text = f"{mail.subject}\n{text}".strip()
    payload: dict[str, Any] = {"subject": mail.subject, "message_id": mail.message_id}
    if mail.in_reply_to:
        payload["in_reply_to"] = mail.in_reply_to
    if mail.ticket_number:
        payload["ticket"] = mail.ticket_number
    elif not mail.is_reply:
        # A mail that answers nothing opens a thread of its own: with a ticket filed, it is another issue.
        payload["new_thread"] = True
    if kept.refused:
        payload["refused_attachments"] = list(kept.refused)
    if len(text) > max_chars:
        # The whole mail stays in the mailbox; the dialogue gets as much as it reads.
        payload["text_chars"] = len(text)
        text = text[: max_chars - 1] + "…"
    if text:
        kind = MessageType.TEXT
    elif kept.attachments:
        kind = MessageType.IMAGE if kept.attachments[0].kind == "image" else MessageType.FILE
    else:
        kind = MessageType.TEXT
    return InboundMessage(
        ref=ConversationRef(channel=CHANNEL, account=account.name, external_user_id=mail.sender, extra=thread_of(mail)),
        external_id=mail.external_id,
        type=kind,
        text=text,
        attachments=kept.attachments,
        payload=payload,
        sent_at=mail.sent_at,
        display_name=mail.sender_name[:128] or None,
        email=mail.sender,
    )


class MailReceiver:
    """Hands each mail to the engine once; says what became of it ("accepted", "duplicate", "ignored", …)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.outcomes: Counter[str] = Counter()

    async def __call__(self, account: EmailAccount, raw: bytes) -> str:
        outcome = await self._receive(account, raw)
        self.outcomes[outcome] += 1
        return outcome

    async def _receive(self, account: EmailAccount, raw: bytes) -> str:
        try:
            mail = parse_mail(raw)
        except ValueError as exc:
            log.warning("e-mail account %s: unreadable mail skipped: %s", account.name, exc)
            return "unreadable"
        reason = reason_not_to_answer(mail, account.own_addresses)
        if reason is not None:
            gone = failed_recipients(mail)
            if gone:
                await self._unreachable(account, gone)
            log.info(
                "e-mail account %s: mail %s from %s not answered: %s",
                account.name,
                mail.message_id,
                mail.sender,
                reason,
            )
            return "ignored"
        store = MediaStore(self.engine.settings.media_dir, account.attachment_max_bytes)
        kept = keep_attachments(account, store, mail)
        result = await self.engine.receive(to_inbound(account, mail, kept, self.engine.settings.max_message_chars))
        return result.status

    async def _unreachable(self, account: EmailAccount, addresses: list[str]) -> None:
        """A hard bounce: the bot stops writing to these addresses until they write again (as after a block)."""
        async with self.engine.db.transaction() as session:
            await session.execute(
                update(ChannelIdentity)
                .where(
                    ChannelIdentity.channel == CHANNEL,
                    ChannelIdentity.account == account.name,
                    ChannelIdentity.external_id.in_(addresses),
                )
                .values(reachable=False)
                .execution_options(synchronize_session=False)
            )
        log.info("e-mail account %s: %s bounced; not written to until they write", account.name, ", ".join(addresses))
