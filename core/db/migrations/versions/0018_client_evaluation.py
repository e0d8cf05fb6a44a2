"""client evaluation: admins' per-client scores and the tier changes it suggests

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Only tables were added: code of the previous revision runs on this schema unchanged.
    op.create_table(
        "client_scores",
        sa.Column("client_id", ID, nullable=False),
        sa.Column("business_importance", sa.Integer(), nullable=True),
        sa.Column("market_influence", sa.Integer(), nullable=True),
        sa.Column("payment_timeliness", sa.Integer(), nullable=True),
        sa.Column("updated_by", ID, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_client_scores_client_id_clients"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["users.id"], name=op.f("fk_client_scores_updated_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_client_scores")),
    )
    op.create_table(
        "tier_suggestions",
        sa.Column("id", ID, nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("from_tier", sa.String(length=1), nullable=False),
        sa.Column("to_tier", sa.String(length=1), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("reasons", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("decided_by", ID, nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_tier_suggestions_client_id_clients"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["users.id"], name=op.f("fk_tier_suggestions_decided_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tier_suggestions")),
    )
    op.create_index("ix_tier_suggestions_status_client_id", "tier_suggestions", ["status", "client_id"])


def downgrade() -> None:
    op.drop_index("ix_tier_suggestions_status_client_id", table_name="tier_suggestions")
    op.drop_table("tier_suggestions")
    op.drop_table("client_scores")
