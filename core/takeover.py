"""What stands between reps taking over a conversation: who holds it, and the error when it is someone else."""

from __future__ import annotations

from core.errors import Conflict


class HeldByOther(Conflict):
    """Another rep holds the conversation; the loser of a claim race sees who won."""

    def __init__(self, holder_id: int, holder_name: str) -> None:
        super().__init__(f"held by {holder_name}")
        self.holder_id = holder_id
        self.holder_name = holder_name
