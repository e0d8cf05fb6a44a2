"""Shared key-value state for channel adapters, with a lease-based lock so one process refreshes at a time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Insert, Table, bindparam, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock, as_utc
from core.db.models import ChannelState
from core.db.session import Database, carry

# Read and written on every inbound WeChat message (the reply window): Core statements, built once.
_TABLE = cast(Table, ChannelState.__table__)
_GET = select(_TABLE.c.value, _TABLE.c.expires_at).where(_TABLE.c.key == bindparam("key"))
# Upserts unless the stored value is current and has the same marker (`put_new_in`), by dialect and marker.
_PUT_NEW: dict[tuple[str, str], Insert] = {}


def _put_new(dialect: str, marker: str) -> Insert:
    """INSERT … ON CONFLICT DO UPDATE … WHERE the stored value expired or its marker differs; built once."""
    statement = _PUT_NEW.get((dialect, marker))
    if statement is None:
        insert = sqlite_insert if dialect == "sqlite" else pg_insert
        new = insert(_TABLE).values(
            key=bindparam("key"),
            value=bindparam("value", type_=_TABLE.c.value.type),
            expires_at=bindparam("expires_at", type_=_TABLE.c.expires_at.type),
            updated_at=bindparam("now", type_=_TABLE.c.updated_at.type),
        )
        excluded = new.excluded
        stored = _TABLE.c.value[marker].as_string()
        statement = _PUT_NEW[dialect, marker] = new.on_conflict_do_update(
            index_elements=[_TABLE.c.key],
            set_={"value": excluded.value, "expires_at": excluded.expires_at, "updated_at": excluded.updated_at},
            where=or_(
                _TABLE.c.expires_at <= excluded.updated_at,
                stored.is_(None),
                stored != bindparam("marker_value"),
            ),
        )
    return statement


class ChannelStateStore:
    """Values by key (an access token, a sync cursor) that every process sees."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def get(self, key: str) -> dict[str, Any] | None:
        """The value, or None when absent or expired."""
        async with self.db.transaction() as session:
            return await self.get_in(session, key)

    async def put(self, key: str, value: dict[str, Any], expires_at: datetime | None = None) -> None:
        """Set the value; one upsert, which leaves the key's lock as it is."""
        async with self.db.transaction() as session:
            await self.put_in(session, key, value, expires_at)

    async def get_in(self, session: AsyncSession, key: str) -> dict[str, Any] | None:
        """`get` inside the caller's transaction."""
        row = (await session.execute(_GET, {"key": key})).first()
        if row is None:
            return None
        value, expires_at = row
        if expires_at is not None and as_utc(expires_at) <= self.clock.now():
            return None
        return dict(value)

    async def put_in(
        self, session: AsyncSession, key: str, value: dict[str, Any], expires_at: datetime | None = None
    ) -> None:
        """`put` inside the caller's transaction: the value is seen by others once that commits."""
        now = self.clock.now()
        insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
        statement = insert(_TABLE).values(key=key, value=value, expires_at=expires_at, updated_at=now)
        excluded = statement.excluded
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[_TABLE.c.key],
                set_={
                    "value": excluded.value,
                    "expires_at": excluded.expires_at,
                    "updated_at": excluded.updated_at,
                },
            )
        )

    async def put_new_in(
        self, session: AsyncSession, key: str, value: dict[str, Any], expires_at: datetime | None, *, marker: str
    ) -> None:
        """`put_in` unless the stored value is unexpired and has the same `value[marker]`: no read, no round trip.

        Carried (`core.db.session.carry`): written with the transaction's next carrying statement, or at commit.
        """
        params = {
            "key": key,
            "value": value,
            "expires_at": expires_at,
            "now": self.clock.now(),
            "marker_value": str(value[marker]),
        }
        # Nothing in the transaction reads it back: it rides with the transaction's next carrying write.
        await carry(session, _put_new(session.get_bind().dialect.name, marker), params)

    async def try_lock(self, key: str, holder: str, ttl: timedelta) -> bool:
        """Take the key's lock for `ttl` unless someone else holds an unexpired one; True if taken."""
        now = self.clock.now()
        await self._ensure_row(key, now)
        async with self.db.transaction() as session:
            taken = await session.execute(
                update(ChannelState)
                .where(
                    ChannelState.key == key,
                    or_(
                        ChannelState.lock_until.is_(None),
                        ChannelState.lock_until < now,
                        ChannelState.lock_holder == holder,
                    ),
                )
                .values(lock_holder=holder, lock_until=now + ttl)
                .execution_options(synchronize_session=False)
            )
            return getattr(taken, "rowcount", 0) == 1

    async def unlock(self, key: str, holder: str) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                update(ChannelState)
                .where(ChannelState.key == key, ChannelState.lock_holder == holder)
                .values(lock_holder=None, lock_until=None)
                .execution_options(synchronize_session=False)
            )

    async def forget_expired(self, prefix: str) -> int:
        """Delete the rows under `prefix` whose value and lock have both run out; how many went."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            gone = await session.execute(
                delete(ChannelState)
                .where(
                    ChannelState.key.startswith(prefix, autoescape=True),
                    or_(ChannelState.lock_until.is_(None), ChannelState.lock_until < now),
                    or_(ChannelState.expires_at.is_(None), ChannelState.expires_at < now),
                )
                .execution_options(synchronize_session=False)
            )
            return int(getattr(gone, "rowcount", 0) or 0)

    async def _ensure_row(self, key: str, now: datetime) -> None:
        async with self.db.transaction() as session:
            if (await session.execute(select(ChannelState.key).where(ChannelState.key == key))).first():
                return
            try:
                async with session.begin_nested():
                    session.add(ChannelState(key=key, value={}, expires_at=now, updated_at=now))
            except IntegrityError:
                # Another process created it first; its row serves as well.
                return
