"""outbox rows know the client message they answer

Revision ID: 0009
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("in_reply_to", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True))
        batch.create_foreign_key(
            op.f("fk_outbox_in_reply_to_messages"), "messages", ["in_reply_to"], ["id"], ondelete="SET NULL"
        )
        batch.create_index("ix_outbox_in_reply_to", ["in_reply_to"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_in_reply_to")
        batch.drop_constraint(op.f("fk_outbox_in_reply_to_messages"), type_="foreignkey")
        batch.drop_column("in_reply_to")
