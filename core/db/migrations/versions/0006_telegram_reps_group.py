"""telegram reps group: forum topics, their posts, and Telegram copies of notifications

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IdType = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "telegram_topics",
        sa.Column("id", IdType, nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("conversation_id", IdType, nullable=False),
        sa.Column("ticket_id", IdType, nullable=True),
        sa.Column("ticket_key", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("thread_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("mirrored_message_id", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_telegram_topics_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_telegram_topics_ticket_id_tickets"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_topics")),
        sa.UniqueConstraint(
            "chat_id",
            "conversation_id",
            "ticket_key",
            name=op.f("uq_telegram_topics_chat_id_conversation_id_ticket_key"),
        ),
        sa.UniqueConstraint("chat_id", "thread_id", name=op.f("uq_telegram_topics_chat_id_thread_id")),
    )
    op.create_index(op.f("ix_telegram_topics_conversation_id"), "telegram_topics", ["conversation_id"], unique=False)
    op.create_table(
        "telegram_posts",
        sa.Column("id", IdType, nullable=False),
        sa.Column("topic_id", IdType, nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("photo", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["telegram_topics.id"],
            name=op.f("fk_telegram_posts_topic_id_telegram_topics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_posts")),
        sa.UniqueConstraint("topic_id", "key", name=op.f("uq_telegram_posts_topic_id_key")),
    )
    op.create_index(
        "ix_telegram_posts_status_next_attempt_at", "telegram_posts", ["status", "next_attempt_at"], unique=False
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("telegram_sent_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("telegram_sent_at")
    op.drop_index("ix_telegram_posts_status_next_attempt_at", table_name="telegram_posts")
    op.drop_table("telegram_posts")
    op.drop_index(op.f("ix_telegram_topics_conversation_id"), table_name="telegram_topics")
    op.drop_table("telegram_topics")
