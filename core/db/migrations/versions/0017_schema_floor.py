"""schema_floor: the oldest code revision that may run on the schema, for rolling upgrades

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "schema_floor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("oldest_code_revision", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schema_floor")),
    )
    # Only a table was added: code of the previous revision runs on this schema unchanged.
    op.bulk_insert(table, [{"id": 1, "oldest_code_revision": "0015"}])


def downgrade() -> None:
    op.drop_table("schema_floor")
