"""The relational model of kefu; identical on SQLite and PostgreSQL.

Every table is here, in one file, because Alembic's autogenerate and the readers of the schema want one
place to look; the tables are short and independent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# An explicit naming convention keeps constraint names identical across databases and migrations.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments INTEGER PRIMARY KEY, so big ids are plain integers there.
IdType = BigInteger().with_variant(Integer(), "sqlite")
Timestamp = DateTime(timezone=True)


class Base(DeclarativeBase):
    """Declarative base carrying the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JsonType, list[Any]: JsonType, datetime: Timestamp}


class Department(Base):
    """A department of the agency that tickets are routed to."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    head_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", use_alter=True, ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime]


class User(Base):
    """A person of the agency: rep, supervisor or admin."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16), default="rep")
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), nullable=True)
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, unique=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    on_duty: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class Client(Base):
    """A client of the agency; one client may write from several channels."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    company: Mapped[str] = mapped_column(String(200), default="")
    tier: Mapped[str] = mapped_column(String(1), default="C")
    # Indexed: a client's own tickets are those of every client record with his phone (`EngineEffects._ticket_view`).
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class ChannelIdentity(Base):
    """A client's address on one channel (a WeChat openid, a Telegram user id, a web visitor)."""

    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "account", "external_id"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    account: Mapped[str] = mapped_column(String(64), default="default")
    external_id: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class Conversation(Base):
    """The thread with one channel identity: dialogue state, collected slots, and who holds it."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("channel_identities.id", ondelete="CASCADE"), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    ref: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(32), default="new", index=True)
    category: Mapped[str | None] = mapped_column(String(16), nullable=True)
    slots: Mapped[dict[str, Any]] = mapped_column(default=dict)
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    holder_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    language: Mapped[str] = mapped_column(String(8), default="zh")
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", use_alter=True, ondelete="SET NULL"), nullable=True
    )
    last_inbound_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Message(Base):
    """One stored message, inbound or outbound; the external id is unique per channel account."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel", "account", "external_id"),
        Index("ix_messages_conversation_id_id", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(3))
    channel: Mapped[str] = mapped_column(String(32))
    account: Mapped[str] = mapped_column(String(64), default="default")
    external_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    type: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime]


class TicketCounter(Base):
    """Last ticket sequence number of each day, for numbers like KF-20261129-0001."""

    __tablename__ = "ticket_counters"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Ticket(Base):
    """One client issue, following the agency's six-step process."""

    __tablename__ = "tickets"
    # The console's queues: open tickets by department or assignee, in priority order.
    __table_args__ = (
        Index("ix_tickets_status_priority", "status", "priority"),
        Index("ix_tickets_department_id_status", "department_id", "status"),
        Index("ix_tickets_assignee_id_status", "assignee_id", "status"),
        # Reports select tickets by creation time.
        Index("ix_tickets_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    category: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(2), default="P3")
    status: Mapped[str] = mapped_column(String(16), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), nullable=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    handoff: Mapped[bool] = mapped_column(Boolean, default=False)
    first_response_due: Mapped[datetime | None] = mapped_column(nullable=True)
    resolution_due: Mapped[datetime | None] = mapped_column(nullable=True)
    first_response_at: Mapped[datetime | None] = mapped_column(nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    solution: Mapped[str | None] = mapped_column(Text, nullable=True)
    root_cause: Mapped[str | None] = mapped_column(Text, nullable=True)
    improvement: Mapped[str | None] = mapped_column(Text, nullable=True)
    satisfaction: Mapped[int | None] = mapped_column(Integer, nullable=True)
    feedback_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Satisfaction is credited to whoever resolved the ticket, even if it is reassigned later.
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    sla_paused_at: Mapped[datetime | None] = mapped_column(nullable=True)
    first_response_breached: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    resolution_breached: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    reopen_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class TicketEvent(Base):
    """Append-only audit of a ticket: who did what, when, from which value to which."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    before: Mapped[str | None] = mapped_column(String(64), nullable=True)
    after: Mapped[str | None] = mapped_column(String(64), nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class KeywordRule(Base):
    """A phrase that votes for a category with a weight; negative weights are counter-cues."""

    __tablename__ = "keyword_rules"
    __table_args__ = (UniqueConstraint("phrase", "category"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    phrase: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(16))
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    language: Mapped[str] = mapped_column(String(8), default="zh")
    note: Mapped[str] = mapped_column(Text, default="")
    # How the phrase must sit in a message: auto, substring, word or whole (core.dialogue.classifier.MATCH_MODES).
    match_mode: Mapped[str] = mapped_column(String(16), default="auto", server_default="auto")
    # A forced rule decides the category outright when it matches.
    forced: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class OutboxMessage(Base):
    """A message waiting to be sent, sent, or failed with its reason; delivered in id order per conversation."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_outbox_in_reply_to", "in_reply_to"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"), nullable=True)
    # The client message this row answers, so a webhook retry of that message can carry the same reply.
    in_reply_to: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"), nullable=True)
    channel: Mapped[str] = mapped_column(String(32))
    ref: Mapped[dict[str, Any]]
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    external_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)


class FollowUp(Base):
    """A durable timer: at due_at, deliver an event to its target, exactly once."""

    __tablename__ = "followups"
    __table_args__ = (Index("ix_followups_status_due_at", "status", "due_at"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[int] = mapped_column(IdType)
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(nullable=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Notification(Base):
    """A message to a person of the agency; the console shows them all, other notifiers may also deliver them."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_id_read_at", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=True)
    role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), nullable=True)
    text: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None] = mapped_column(nullable=True)
    emailed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    telegram_sent_at: Mapped[datetime | None] = mapped_column(nullable=True)


class ChannelState(Base):
    """Small shared state of channel adapters (API tokens, sync cursors), one row per key, for every process."""

    __tablename__ = "channel_state"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    lock_holder: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lock_until: Mapped[datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[datetime]


class UserDepartment(Base):
    """An extra department whose tickets a rep works, beside the one in users.department_id."""

    __tablename__ = "user_departments"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="CASCADE"), primary_key=True)


class ConsoleSession(Base):
    """A signed-in console session; the cookie carries a random token, the row keeps only its hash."""

    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8), default="zh")
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class LoginThrottle(Base):
    """Sign-in attempts counted under one key (a name at an address, an address, a name): backoff and lockout.

    An attempt is counted before its password is checked, so concurrent guesses cannot slip past the limits.
    """

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    # The last attempt counted; rows untouched for the forget period are deleted.
    updated_at: Mapped[datetime] = mapped_column(index=True)
    locked_until: Mapped[datetime | None] = mapped_column(nullable=True)


class AuditEntry(Base):
    """Who in the agency did something worth recording outside a ticket: sign-ins, revealed contact data, users."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(64), default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class TelegramTopic(Base):
    """The forum topic of one escalated conversation (and its ticket) in the reps' Telegram group."""

    __tablename__ = "telegram_topics"
    __table_args__ = (
        # Two escalations of the same conversation and ticket racing each other create one topic.
        UniqueConstraint("chat_id", "conversation_id", "ticket_key"),
        UniqueConstraint("chat_id", "thread_id"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"), nullable=True)
    # The ticket number, or "" for an escalation without a ticket (NULL would not count as a duplicate).
    ticket_key: Mapped[str] = mapped_column(String(32), default="")
    reason: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(128))
    # Telegram's message_thread_id, once createForumTopic succeeded.
    thread_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # Client messages up to this id are in the topic (transcript or mirror).
    mirrored_message_id: Mapped[int] = mapped_column(BigInteger, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class TelegramPost(Base):
    """A message for a topic of the reps' group, sent in id order per topic, retried, never doubled."""

    __tablename__ = "telegram_posts"
    __table_args__ = (
        UniqueConstraint("topic_id", "key"),
        Index("ix_telegram_posts_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("telegram_topics.id", ondelete="CASCADE"))
    # What the post is ("summary", "transcript:0", "msg:812", "rep:4711"), so a repeat is refused.
    key: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text, default="")
    # A photo to send with the text as its caption: a Telegram file_id or an http(s) URL.
    photo: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    external_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)


class ConfigDocument(Base):
    """A piece of configuration that admins edit in the console; its revision tells every process to reload it."""

    __tablename__ = "config_documents"

    # "keywords", "sla", "departments", ...: one row per kind of setting.
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[dict[str, Any]] = mapped_column(default=dict)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    updated_at: Mapped[datetime]


class WeeklyReport(Base):
    """The archived report of one ISO week (报告制度); the unique week makes it exactly one per week."""

    __tablename__ = "weekly_reports"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    # ISO week of the period, e.g. "2026-W48": Monday 00:00 to the next Monday 00:00, local time.
    week: Mapped[str] = mapped_column(String(8), unique=True)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    language: Mapped[str] = mapped_column(String(8), default="zh")
    html: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Table name → CSV text (with its BOM), attached to the e-mail and downloadable in the console.
    csv: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str] = mapped_column(String(64), default="schedule")
    created_at: Mapped[datetime]


class WeeklyReportDelivery(Base):
    """One sending of a weekly report to one person on one channel, written with the report, sent once."""

    __tablename__ = "weekly_report_deliveries"
    __table_args__ = (
        UniqueConstraint("report_id", "channel", "recipient"),
        Index("ix_weekly_report_deliveries_status", "status"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("weekly_reports.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    # An e-mail address or a Telegram chat id.
    recipient: Mapped[str] = mapped_column(String(254))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)


class KeywordVersion(Base):
    """A published rule set: a frozen copy of the draft rules; the one in force is named by config "keywords"."""

    __tablename__ = "keyword_versions"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    # [{phrase, category, weight, enabled, match_mode, language, note}, ...] in the draft's order.
    rules: Mapped[list[Any]] = mapped_column(default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime]


class ConfirmedLabel(Base):
    """A category a person confirmed for a client's words: a rep's reclassification, the client's own pick, or the
    bot's verdict that nobody corrected before the ticket closed; the learned model's training data."""

    __tablename__ = "confirmed_labels"
    __table_args__ = (UniqueConstraint("ticket_id", "kind"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"), nullable=True)
    # "rep", "client" or "uncorrected": how strongly the label is believed (core/learning/labels.py).
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(index=True)


class ClassifierModel(Base):
    """A learned model fitted in the deployment: exported numbers (gzipped JSON, never code) and what held-back
    labels measured; drafts until published, the one in force is named by config "classifier"."""

    __tablename__ = "classifier_models"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    # The exported TextModel (core/dialogue/textmodel.py), gzipped JSON.
    model: Mapped[bytes] = mapped_column(LargeBinary)
    # Training data counts, figures of the draft and of the model in force on the held-back labels, the curve.
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The ISO week a weekly fit was made for ("" for a fit by hand): the job fits once per week per deployment.
    week: Mapped[str] = mapped_column(String(10), default="", index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime]
    # When it was first put in force (None: still a draft).
    published_at: Mapped[datetime | None] = mapped_column(nullable=True)


class SchemaFloor(Base):
    """The oldest code revision that may run on this schema: what lets an older release stay ready mid-upgrade.

    Expand migrations leave it alone (older code ignores what they add); a contract migration, which drops or
    changes what older code uses, raises it (core.db.migrate.raise_floor).
    """

    __tablename__ = "schema_floor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    oldest_code_revision: Mapped[str] = mapped_column(String(32))


class ClientScore(Base):
    """What admins know of a client and kefu does not (客户评估): 1–5 scores, None while not entered."""

    __tablename__ = "client_scores"

    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True)
    business_importance: Mapped[int | None] = mapped_column(Integer, nullable=True)
    market_influence: Mapped[int | None] = mapped_column(Integer, nullable=True)
    payment_timeliness: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    updated_at: Mapped[datetime]


class TierSuggestion(Base):
    """A tier change the client evaluation suggests; pending until an admin accepts or dismisses it."""

    __tablename__ = "tier_suggestions"
    __table_args__ = (Index("ix_tier_suggestions_status_client_id", "status", "client_id"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    # The evaluated period, e.g. "2026-Q4" or "2026-09-08..2026-12-06".
    period: Mapped[str] = mapped_column(String(32))
    from_tier: Mapped[str] = mapped_column(String(1))
    to_tier: Mapped[str] = mapped_column(String(1))
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Why: reason codes (core.client_eval.REASONS) with the figures behind them.
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime]
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
