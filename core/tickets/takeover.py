"""What stands between reps taking over a conversation: who holds it, and the error when it is someone else."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Conversation, User
from core.errors import Conflict


class HeldByOther(Conflict):
    """Another rep holds the conversation; the loser of a claim race sees who won."""

    def __init__(self, holder_id: int, holder_name: str) -> None:
        super().__init__(f"held by {holder_name}")
        self.holder_id = holder_id
        self.holder_name = holder_name


async def ensure_not_held_by_other(
    session: AsyncSession, conversation: Conversation, user_id: int, *, override: bool = False
) -> None:
    """Resolve and close, like reply and transfer, belong to the holder while one holds the conversation.

    Supervisors and admins (override) may act on a held conversation; anyone may when nobody holds it.
    """
    holder = conversation.holder_user_id
    if holder is None or holder == user_id or override:
        return
    other = await session.get(User, holder)
    raise HeldByOther(holder, other.display_name if other else str(holder))
