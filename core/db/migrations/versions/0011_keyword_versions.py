"""keyword rules get a match mode; published rule sets are kept as numbered versions

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("keyword_rules") as batch:
        batch.add_column(sa.Column("match_mode", sa.String(length=16), server_default="auto", nullable=False))
    op.create_table(
        "keyword_versions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("rules", JSON, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_keyword_versions_created_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_keyword_versions")),
        sa.UniqueConstraint("number", name=op.f("uq_keyword_versions_number")),
    )


def downgrade() -> None:
    op.drop_table("keyword_versions")
    with op.batch_alter_table("keyword_rules") as batch:
        batch.drop_column("match_mode")
