"""telegram_post_waiting: a reps' group post marking a rep's update being acted on is "waiting", not "held"

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.db.migrate import raise_floor

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# "Held" is the outbox's word (replies held back for a webhook's own response); the post waits for its answer.
OLD, NEW = "held", "waiting"
# The floor before this migration (0017 set it; 0018 only added tables).
PREVIOUS_FLOOR = "0015"


def _rename(old: str, new: str) -> None:
    op.execute(sa.text("UPDATE telegram_posts SET status = :new WHERE status = :old").bindparams(old=old, new=new))


def upgrade() -> None:
    _rename(OLD, NEW)
    # Contract: code before 0019 marks and looks for "held", which this schema's rows no longer say.
    raise_floor("0019")


def downgrade() -> None:
    _rename(NEW, OLD)
    raise_floor(PREVIOUS_FLOOR)
