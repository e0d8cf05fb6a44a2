"""confirmed labels of client messages, and learned models fitted in the deployment

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "confirmed_labels",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("ticket_id", ID, nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_confirmed_labels_ticket_id_tickets"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_confirmed_labels")),
        sa.UniqueConstraint("ticket_id", "kind", name=op.f("uq_confirmed_labels_ticket_id_kind")),
    )
    op.create_index(op.f("ix_confirmed_labels_created_at"), "confirmed_labels", ["created_at"], unique=False)
    op.create_table(
        "classifier_models",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("model", sa.LargeBinary(), nullable=False),
        sa.Column("report", JSON, nullable=False),
        sa.Column("week", sa.String(length=10), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", ID, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("published_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_classifier_models_created_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_classifier_models")),
        sa.UniqueConstraint("number", name=op.f("uq_classifier_models_number")),
    )
    op.create_index(op.f("ix_classifier_models_week"), "classifier_models", ["week"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_classifier_models_week"), table_name="classifier_models")
    op.drop_table("classifier_models")
    op.drop_index(op.f("ix_confirmed_labels_created_at"), table_name="confirmed_labels")
    op.drop_table("confirmed_labels")
