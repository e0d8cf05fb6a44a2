"""Settings that admins edit in the console: stored as revisioned documents, reloaded by every process."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import ConfigDocument
from core.db.session import Database
from core.errors import Conflict

log = logging.getLogger(__name__)

Apply = Callable[[dict[str, Any]], Awaitable[None]]


async def read_document(session: AsyncSession, name: str) -> ConfigDocument | None:
    return await session.get(ConfigDocument, name)


async def write_document(
    session: AsyncSession,
    name: str,
    body: dict[str, Any],
    *,
    user_id: int | None,
    now: datetime,
    expected_revision: int | None = None,
) -> int:
    """Store a new body under the next revision; refuse when someone else saved since `expected_revision`."""
    doc = (
        await session.execute(select(ConfigDocument).where(ConfigDocument.name == name).with_for_update())
    ).scalar_one_or_none()
    current = doc.revision if doc is not None else 0
    if expected_revision is not None and expected_revision != current:
        raise Conflict(f"{name} was changed by someone else (revision {current}); reload and try again")
    if doc is None:
        doc = ConfigDocument(name=name, body=body, revision=1, updated_by=user_id, updated_at=now)
        try:
            async with session.begin_nested():
                session.add(doc)
        except IntegrityError as exc:
            # Two first saves raced: the other one won, and this one was made against revision 0.
            raise Conflict(f"{name} was changed by someone else; reload and try again") from exc
        return 1
    doc.body = body
    doc.revision = current + 1
    doc.updated_by = user_id
    doc.updated_at = now
    await session.flush()
    return doc.revision


class ConfigWatcher:
    """Applies each stored document when its revision changes; every process polls, so a save reaches all of them."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._appliers: dict[str, Apply] = {}
        self._applied: dict[str, int] = {}

    def on(self, name: str, apply: Apply) -> None:
        """Call `apply(body)` at start when the document exists, and again after every new revision."""
        self._appliers[name] = apply

    def applied(self, name: str) -> int:
        """The revision of `name` this process runs with (0: the shipped config)."""
        return self._applied.get(name, 0)

    async def check(self) -> list[str]:
        """One poll: apply what changed since the last one; returns the names applied."""
        if not self._appliers:
            return []
        async with self._db.transaction() as session:
            rows = (
                await session.execute(
                    select(ConfigDocument.name, ConfigDocument.revision).where(
                        ConfigDocument.name.in_(sorted(self._appliers))
                    )
                )
            ).all()
            changed = [(name, rev) for name, rev in rows if self._applied.get(name) != rev]
            bodies: dict[str, dict[str, Any]] = {}
            for name, _ in changed:
                doc = await session.get(ConfigDocument, name)
                if doc is not None:
                    bodies[name] = dict(doc.body)
        done = []
        for name, revision in changed:
            try:
                await self._appliers[name](bodies[name])
            except Exception:
                # A document that passed validation when saved but fails here must not stop the other ones;
                # the process keeps what it had and says so, once per revision.
                log.exception("could not apply %s revision %s; keeping the previous one", name, revision)
            self._applied[name] = revision
            done.append(name)
        return done
