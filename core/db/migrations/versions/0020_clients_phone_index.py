"""clients_phone_index: clients found by the phone on record (a client's own tickets, phone search) without a scan

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Expand only: code before 0020 runs unchanged beside the index, so the floor stays where 0019 set it.
    op.create_index("ix_clients_phone", "clients", ["phone"])


def downgrade() -> None:
    op.drop_index("ix_clients_phone", table_name="clients")
