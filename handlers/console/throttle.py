"""Sign-in admission: each attempt is counted under row locks before its password is checked.

Three counters answer three attacks:
- a name at one address: backoff after a few failures, then a lockout (one person guessing one account);
- an address across names: a lockout (one machine trying many names);
- a name across addresses: a lockout that refuses only addresses which have failed before, so a
  locked name still lets its owner in from a clean address while a spread-out attack is slowed.
Counting first and undoing the count on success means a burst of simultaneous guesses is admitted
one at a time against the limits: at most the allowed number of passwords are ever checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import as_utc
from core.db.models import LoginThrottle
from handlers.console.settings import ConsoleSettings


@dataclass(frozen=True, slots=True)
class Keys:
    """The three counters one attempt is counted under."""

    pair: str
    address: str
    name: str

    @classmethod
    def of(cls, name: str, address: str) -> Keys:
        address = address[:64] or "unknown"
        return cls(pair=f"pair:{name}|{address}", address=f"ip:{address}", name=f"name:{name}")

    def all(self) -> list[str]:
        # Always locked in this order, so two attempts never wait on each other's rows crosswise.
        return sorted((self.pair, self.address, self.name))


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether an attempt may check its password now; if not, why and for how long."""

    admitted: bool
    error: str | None = None
    retry_after: int = 0


class LoginThrottler:
    """Counts sign-in attempts in the caller's transaction; the caller checks the password only when admitted."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings

    def _limit(self, keys: Keys, key: str) -> int:
        if key == keys.pair:
            return self.settings.lock_after
        if key == keys.address:
            return self.settings.ip_lock_after
        return self.settings.name_lock_after

    async def admit(self, session: AsyncSession, keys: Keys, now: datetime) -> Admission:
        """Refuse the attempt, or count it as a failure in advance (undone by `succeeded`)."""
        forget = now - timedelta(hours=self.settings.throttle_forget_hours)
        # Counters of made-up names and passing addresses do not pile up.
        await session.execute(delete(LoginThrottle).where(LoginThrottle.updated_at < forget))
        await self._ensure_rows(session, keys.all(), now)
        rows = {
            row.key: row
            for row in (
                await session.execute(
                    select(LoginThrottle)
                    .where(LoginThrottle.key.in_(keys.all()))
                    .order_by(LoginThrottle.key)
                    .with_for_update()
                )
            ).scalars()
        }
        pair, address, name = rows[keys.pair], rows[keys.address], rows[keys.name]
        locked = max(
            self._locked_for(pair, now),
            self._locked_for(address, now),
            # The name's own lock spares addresses that never failed: its owner can still sign in.
            self._locked_for(name, now) if address.failures > 0 else 0,
        )
        if locked:
            return Admission(False, "locked", locked)
        wait = self._backoff(pair, now)
        if wait:
            return Admission(False, "too_fast", wait)
        for key in keys.all():
            row = rows[key]
            row.failures += 1
            row.updated_at = now
            limit = self._limit(keys, key)
            if row.failures >= limit and (row.locked_until is None or as_utc(row.locked_until) <= now):
                row.locked_until = now + timedelta(minutes=self.settings.lock_minutes)
        return Admission(True)

    async def succeeded(self, session: AsyncSession, keys: Keys) -> None:
        """The password was right: the name at this address starts afresh; the other counts lose this attempt."""
        await session.execute(delete(LoginThrottle).where(LoginThrottle.key == keys.pair))
        for row in (
            await session.execute(
                select(LoginThrottle)
                .where(LoginThrottle.key.in_([keys.address, keys.name]))
                .order_by(LoginThrottle.key)
                .with_for_update()
            )
        ).scalars():
            row.failures = max(0, row.failures - 1)
            if row.failures < self._limit(keys, row.key):
                row.locked_until = None
            if row.failures == 0:
                await session.delete(row)

    def delay(self, failures: int) -> int:
        """Seconds the next attempt must wait after `failures` failures in a row."""
        if failures >= self.settings.lock_after:
            return self.settings.lock_minutes * 60
        if failures < self.settings.backoff_after:
            return 0
        return int(min(2 ** (failures - self.settings.backoff_after), self.settings.backoff_max_seconds))

    def _locked_for(self, row: LoginThrottle, now: datetime) -> int:
        if row.locked_until is None or as_utc(row.locked_until) <= now:
            return 0
        return max(1, int((as_utc(row.locked_until) - now).total_seconds()))

    def _backoff(self, row: LoginThrottle, now: datetime) -> int:
        if row.failures >= self.settings.lock_after or row.failures < self.settings.backoff_after:
            return 0
        ready = as_utc(row.updated_at) + timedelta(seconds=self.delay(row.failures))
        return max(1, int((ready - now).total_seconds())) if ready > now else 0

    async def _ensure_rows(self, session: AsyncSession, keys: list[str], now: datetime) -> None:
        """Create missing counters without racing: a concurrent attempt may be creating the same ones."""
        values = [{"key": key, "failures": 0, "updated_at": now} for key in keys]
        dialect = session.bind.dialect.name if session.bind is not None else ""
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        await session.execute(insert(LoginThrottle).values(values).on_conflict_do_nothing(index_elements=["key"]))
