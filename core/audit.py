"""The audit log outside tickets: who in the agency did or saw what, and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import AuditEntry


def record(
    session: AsyncSession,
    user_id: int | None,
    action: str,
    target: str,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> None:
    """One audit row in the caller's transaction, so it is kept exactly when the change it tells of is."""
    session.add(AuditEntry(user_id=user_id, action=action, target=target, data=data or {}, created_at=now))
