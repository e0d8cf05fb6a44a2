"""The reps' group in the database: one forum topic per escalated conversation and ticket, and its posts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.channel import split_text
from core.clock import as_utc
from core.db.models import (
    ChannelIdentity,
    Client,
    Conversation,
    Department,
    Message,
    TelegramPost,
    TelegramTopic,
    Ticket,
    User,
)
from core.masking import CONTACT_SLOTS, mask_contact, mask_text
from core.messages import Direction, MessageType
from core.texts import Texts

PENDING, OPEN, FAILED, SUPERSEDED = "pending", "open", "failed", "superseded"
# Post statuses; "waiting" marks a rep's update being acted on: the post waits for its answer's text.
WAITING, SENDING, SENT = "waiting", "sending", "sent"
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_TOPIC_NAME = 128
# The transcript posted into a new topic covers this many of the latest messages.
TRANSCRIPT_MESSAGES = 200


@dataclass(frozen=True, slots=True)
class PostDraft:
    """A post to queue: its key (unique per topic), text, and optionally a photo it captions."""

    key: str
    text: str
    photo: str | None = None


async def ensure_topic(
    session: AsyncSession,
    *,
    chat_id: int,
    conversation_id: int,
    ticket_number: str | None,
    reason: str,
    now: datetime,
) -> tuple[TelegramTopic, bool]:
    """The topic row of this conversation and ticket, created (pending) when missing; True if new.

    The unique constraint decides a race: the loser's insert fails inside its savepoint and it reads
    the winner's row.
    """
    key = ticket_number or ""
    query = select(TelegramTopic).where(
        TelegramTopic.chat_id == chat_id,
        TelegramTopic.conversation_id == conversation_id,
        TelegramTopic.ticket_key == key,
    )
    existing = (await session.execute(query)).scalar_one_or_none()
    if existing is not None:
        return existing, False
    ticket_id = None
    if ticket_number:
        ticket_id = (await session.execute(select(Ticket.id).where(Ticket.number == ticket_number))).scalar()
    row = TelegramTopic(
        chat_id=chat_id,
        conversation_id=conversation_id,
        ticket_id=ticket_id,
        ticket_key=key,
        reason=reason,
        name="",
        thread_id=None,
        status=PENDING,
        mirrored_message_id=0,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        return (await session.execute(query)).scalar_one(), False
    return row, True


async def add_posts(session: AsyncSession, topic_id: int, drafts: list[PostDraft], now: datetime) -> int:
    """Queue posts in order; one whose key the topic already has is skipped (a repeat). Returns how many."""
    added = 0
    for draft in drafts:
        try:
            async with session.begin_nested():
                session.add(
                    TelegramPost(
                        topic_id=topic_id,
                        key=draft.key,
                        text=draft.text,
                        photo=draft.photo,
                        status=PENDING,
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
                await session.flush()
            added += 1
        except IntegrityError:
            continue
    return added


def split_post(key: str, text: str, photo: str | None = None) -> list[PostDraft]:
    """A text as one post, or several (key, key:2, …) when it is longer than Telegram allows."""
    if photo is not None:
        return [PostDraft(key, text[:MAX_CAPTION], photo)]
    pieces = split_text(text, MAX_TEXT)
    return [PostDraft(key if i == 0 else f"{key}:{i + 1}", piece) for i, piece in enumerate(pieces)]


async def latest_topic(session: AsyncSession, chat_id: int, conversation_id: int) -> TelegramTopic | None:
    """The open topic that mirrors the conversation now (the newest one, if it was escalated twice)."""
    return (
        await session.execute(
            select(TelegramTopic)
            .where(
                TelegramTopic.chat_id == chat_id,
                TelegramTopic.conversation_id == conversation_id,
                TelegramTopic.status == OPEN,
            )
            .order_by(TelegramTopic.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def topic_at(session: AsyncSession, chat_id: int, thread_id: int) -> TelegramTopic | None:
    return (
        await session.execute(
            select(TelegramTopic).where(TelegramTopic.chat_id == chat_id, TelegramTopic.thread_id == thread_id)
        )
    ).scalar_one_or_none()


class TopicWriter:
    """Renders topic names, the ticket summary, the transcript and mirrored messages from the texts."""

    def __init__(self, texts: Texts, *, language: str, timezone: str, console_url: str | None) -> None:
        self.texts = texts
        self.language = language
        self.zone = ZoneInfo(timezone)
        self.console_url = console_url.rstrip("/") if console_url else None

    def t(self, key: str, **params: Any) -> str:
        return self.texts.get(f"telegram.{key}", self.language, **params)

    def ticket_link(self, number: str) -> str | None:
        return f"{self.console_url}/console/tickets/{number}" if self.console_url else None

    def category(self, category: str | None) -> str:
        key = f"category.{category}"
        return self.texts.get(key, self.language) if category and self.texts.has(key) else (category or "")

    def reason(self, reason: str) -> str:
        key = f"telegram.reason_{reason}"
        return self.texts.get(key, self.language) if self.texts.has(key) else reason

    async def client_name(self, session: AsyncSession, conversation: Conversation) -> str:
        client = await session.get(Client, conversation.client_id)
        identity = await session.get(ChannelIdentity, conversation.identity_id)
        name = (client.name if client else "") or (identity.display_name if identity else "") or ""
        company = client.company if client else ""
        shown = f"{name}（{company}）" if name and company else name or company
        return shown or self.t("unknown_client")

    async def opening(self, session: AsyncSession, topic: TelegramTopic) -> tuple[str, list[PostDraft], int]:
        """The topic's name, its first posts (summary, transcript) and the last message id they cover."""
        conversation = await session.get(Conversation, topic.conversation_id)
        assert conversation is not None
        client = await self.client_name(session, conversation)
        ticket = await session.get(Ticket, topic.ticket_id) if topic.ticket_id is not None else None
        if ticket is not None:
            name = self.t("topic_name", ticket_no=ticket.number, category=self.category(ticket.category), client=client)
        else:
            name = self.t("topic_name_no_ticket", client=client, reason=self.reason(topic.reason))
        drafts = [*split_post("summary", await self._summary(session, topic, conversation, ticket, client))]
        messages = list(
            (
                await session.execute(
                    select(Message)
                    .where(Message.conversation_id == conversation.id)
                    .order_by(Message.id.desc())
                    .limit(TRANSCRIPT_MESSAGES)
                )
            ).scalars()
        )
        messages.reverse()
        lines = [self.t("transcript_header")]
        reps = await self._rep_names(session, {m.author_user_id for m in messages if m.author_user_id})
        for message in messages:
            lines.append(self._line(message, reps))
        if not messages:
            lines.append(self.t("transcript_empty"))
        drafts.extend(split_post("transcript", "\n".join(lines)))
        covered = max((m.id for m in messages if m.direction == Direction.INBOUND.value), default=0)
        return name[:MAX_TOPIC_NAME], drafts, covered

    async def _summary(
        self,
        session: AsyncSession,
        topic: TelegramTopic,
        conversation: Conversation,
        ticket: Ticket | None,
        client_name: str,
    ) -> str:
        client = await session.get(Client, conversation.client_id)
        department = await session.get(Department, ticket.department_id) if ticket and ticket.department_id else None
        details = ticket.details if ticket else conversation.slots
        category = ticket.category if ticket else conversation.category
        # The group has no reveal: contact data stays masked here; the console's ticket view can reveal it.
        lines = [
            self.t("summary_detail", name=self._slot_label(category, k), value=_masked_detail(k, v))
            for k, v in (details or {}).items()
            if isinstance(v, str | int | float) and str(v)
        ]
        text = self.t(
            "summary",
            reason=self.reason(topic.reason),
            ticket_no=ticket.number if ticket else "—",
            category=self.category(category),
            priority=ticket.priority if ticket else "—",
            status=self.status(ticket.status) if ticket else "—",
            client=client_name,
            tier=client.tier if client else "C",
            channel=conversation.channel,
            department=department.name if department else self.t("no_department"),
            title=mask_text(ticket.title if ticket else "") or "—",
            details="\n".join(lines),
        ).rstrip()
        link = self.ticket_link(ticket.number) if ticket else None
        if link:
            text += "\n" + self.t("summary_link", url=link)
        return text + "\n\n" + self.t("summary_help")

    def _slot_label(self, category: str | None, slot: str) -> str:
        """The slot's label for reps; a field without one shows as a generic label, never its internal name."""
        for key in (f"slots.{category}.{slot}.label", f"telegram.detail_{slot}"):
            if (category or key.startswith("telegram.")) and self.texts.has(key):
                return self.texts.get(key, self.language)
        return self.t("detail_other")

    def status(self, status: str) -> str:
        key = f"telegram.status_{status}"
        return self.texts.get(key, self.language) if self.texts.has(key) else status

    async def _rep_names(self, session: AsyncSession, ids: set[int | None]) -> dict[int, str]:
        wanted = {i for i in ids if i is not None}
        if not wanted:
            return {}
        rows = await session.execute(select(User.id, User.display_name).where(User.id.in_(wanted)))
        return {user_id: name for user_id, name in rows.all()}

    def _line(self, message: Message, reps: dict[int, str]) -> str:
        if message.direction == Direction.INBOUND.value:
            who = self.t("who_client")
        elif message.author_user_id is not None:
            who = self.t("who_rep", name=reps.get(message.author_user_id, str(message.author_user_id)))
        else:
            who = self.t("who_bot")
        time = as_utc(message.created_at).astimezone(self.zone).strftime("%m-%d %H:%M")
        return self.t("transcript_line", time=time, who=who, text=self.message_text(message))

    def message_text(self, message: Message) -> str:
        """The message's text with its attachments named, so files are visible even when not shown."""
        parts = [mask_text(message.text)] if message.text else []
        for item in (message.payload or {}).get("attachments", []):
            kind = str(item.get("kind", "other"))
            label_key = f"telegram.kind_{kind}"
            label = self.texts.get(label_key, self.language) if self.texts.has(label_key) else self.t("kind_other")
            parts.append(self.t("attachment", kind=label, name=item.get("name") or "").strip())
        if not parts and message.type == MessageType.EVENT.value:
            # Opening the chat (a Telegram /start, a WeChat follow) is a greeting, not words of the client's.
            return self.t("event_greeting")
        return " ".join(parts) or f"[{message.type}]"

    def mirror(self, message: Message, conversation_channel: str, own_channel: str) -> list[PostDraft]:
        """A later client message as the topic's post; a photo is shown as a photo where it can be."""
        text = self.t("mirror", text=self.message_text(message))
        photo = None
        for item in (message.payload or {}).get("attachments", []):
            if item.get("kind") != "image":
                continue
            if conversation_channel == own_channel and item.get("media_id"):
                # A file the client sent to this bot: Telegram reuses it by file_id, nothing is uploaded.
                photo = str(item["media_id"])
            elif str(item.get("url") or "").startswith(("http://", "https://")):
                photo = str(item["url"])
            break
        return split_post(f"msg:{message.id}", text, photo)


async def unmirrored(session: AsyncSession, topic: TelegramTopic) -> list[Message]:
    """Client messages of the topic's conversation it has not shown yet, oldest first."""
    rows = await session.execute(
        select(Message)
        .where(
            Message.conversation_id == topic.conversation_id,
            Message.direction == Direction.INBOUND.value,
            Message.id > topic.mirrored_message_id,
        )
        .order_by(Message.id)
        .limit(100)
    )
    return list(rows.scalars())


async def topics_behind(session: AsyncSession, chat_id: int) -> list[int]:
    """Open topics whose conversation has client messages they have not mirrored yet."""
    newer = (
        select(Message.id)
        .where(
            Message.conversation_id == TelegramTopic.conversation_id,
            Message.direction == Direction.INBOUND.value,
            Message.id > TelegramTopic.mirrored_message_id,
        )
        .exists()
    )
    rows = await session.execute(
        select(TelegramTopic.id)
        .where(TelegramTopic.chat_id == chat_id, TelegramTopic.status == OPEN, newer)
        .order_by(TelegramTopic.id)
    )
    return list(rows.scalars())


async def supersede_older(session: AsyncSession, topic: TelegramTopic, now: datetime) -> None:
    """A newer escalation of the same conversation takes over the mirroring."""
    await session.execute(
        update(TelegramTopic)
        .where(
            TelegramTopic.chat_id == topic.chat_id,
            TelegramTopic.conversation_id == topic.conversation_id,
            TelegramTopic.status == OPEN,
            TelegramTopic.id != topic.id,
        )
        .values(status=SUPERSEDED, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def _masked_detail(slot: str, value: str | int | float) -> str:
    text = str(value)
    return mask_contact(text) if slot in CONTACT_SLOTS else mask_text(text)
