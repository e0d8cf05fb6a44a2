"""What stands between reps taking over a conversation: who has taken it, and the error when it is someone else."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Conversation, User
from core.errors import Conflict


class TakenByOther(Conflict):
    """Another rep has taken the conversation; the loser of a claim race sees who won."""

    def __init__(self, holder_id: int, holder_name: str) -> None:
        super().__init__(f"taken by {holder_name}")
        self.holder_id = holder_id
        self.holder_name = holder_name


async def ensure_not_taken_by_other(
    session: AsyncSession, conversation: Conversation, user_id: int, *, override: bool = False
) -> None:
    """Resolve and close, like reply and transfer, belong to the rep who has taken the conversation, while one has.

    Supervisors and admins (override) may act on a taken conversation; anyone may when nobody has taken it.
    """
    holder = conversation.holder_user_id
    if holder is None or holder == user_id or override:
        return
    other = await session.get(User, holder)
    raise TakenByOther(holder, other.display_name if other else str(holder))
