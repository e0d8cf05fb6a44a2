"""Sign-in and sessions: throttled password checks, server-side session rows, the signed-in principal."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from core.audit import record
from core.clock import Clock, as_utc
from core.db.models import ConsoleSession, LoginThrottle, User
from core.db.session import Database
from handlers.console.passwords import verify_password
from handlers.console.settings import ConsoleSettings
from handlers.console.users import STAFF, department_ids, normalize_username

log = logging.getLogger(__name__)
# last_seen_at is written at most this often, so reading pages does not write on every request.
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in person of one request."""

    session_id: str
    user_id: int
    username: str
    display_name: str
    role: str
    departments: frozenset[int]
    csrf_token: str
    language: str

    @property
    def sees_all(self) -> bool:
        """Supervisors and admins see every ticket; reps those of their departments."""
        return self.role in ("supervisor", "admin")

    @property
    def actor(self) -> str:
        return f"user:{self.user_id}"


@dataclass(frozen=True, slots=True)
class LoginResult:
    """What a sign-in attempt came to: a session token, or why not and when to try again."""

    token: str | None = None
    error: str | None = None
    retry_after: int = 0


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Sessions:
    """Creates, reads and ends console sessions; the cookie's token is never stored, only its hash."""

    def __init__(self, db: Database, clock: Clock, settings: ConsoleSettings, default_language: str) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.default_language = default_language

    async def login(self, username: str, password: str) -> LoginResult:
        """Check a password with backoff and lockout per user name; a success opens a session."""
        name = normalize_username(username)
        now = self.clock.now()
        async with self.db.transaction() as session:
            throttle = await session.get(LoginThrottle, name, with_for_update=True)
            wait = self._wait(throttle, now)
            if wait:
                return LoginResult(
                    error="locked" if throttle and throttle.locked_until else "too_fast", retry_after=wait
                )
            user = (await session.execute(select(User).where(User.username == name))).scalar_one_or_none()
        usable = user is not None and user.active and user.role in STAFF
        matched = await verify_password(user.password_hash if user and usable else None, password)
        now = self.clock.now()
        async with self.db.transaction() as session:
            if not matched:
                failures = await self._record_failure(name, now)
                record(session, user.id if user else None, "login_failed", name, now, {"failures": failures})
                log.info("console sign-in refused (%s failures for this name)", failures)
                locked = failures >= self.settings.lock_after
                return LoginResult(error="locked" if locked else "invalid", retry_after=self._delay(failures))
            assert user is not None
            await session.execute(delete(LoginThrottle).where(LoginThrottle.username == name))
            token = secrets.token_urlsafe(32)
            session.add(
                ConsoleSession(
                    id=token_hash(token),
                    user_id=user.id,
                    csrf_token=secrets.token_urlsafe(32),
                    language=self.default_language,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + timedelta(hours=self.settings.session_hours),
                )
            )
            record(session, user.id, "login", f"user:{user.id}", now)
            log.info("console sign-in of user %s", user.id)
            return LoginResult(token=token)

    def _delay(self, failures: int) -> int:
        """Seconds the next attempt must wait after `failures` failures in a row."""
        if failures >= self.settings.lock_after:
            return self.settings.lock_minutes * 60
        if failures < self.settings.backoff_after:
            return 0
        return int(min(2 ** (failures - self.settings.backoff_after), self.settings.backoff_max_seconds))

    def _wait(self, throttle: LoginThrottle | None, now: datetime) -> int:
        if throttle is None:
            return 0
        if throttle.locked_until is not None and as_utc(throttle.locked_until) > now:
            return max(1, int((as_utc(throttle.locked_until) - now).total_seconds()))
        if throttle.last_failure_at is None:
            return 0
        ready = as_utc(throttle.last_failure_at) + timedelta(seconds=self._delay(throttle.failures))
        if throttle.failures < self.settings.lock_after and ready > now:
            return max(1, int((ready - now).total_seconds()))
        return 0

    async def _record_failure(self, name: str, now: datetime) -> int:
        for _ in range(3):
            try:
                async with self.db.transaction() as session:
                    row = await session.get(LoginThrottle, name, with_for_update=True)
                    if row is None:
                        row = LoginThrottle(username=name, failures=0)
                        session.add(row)
                    row.failures += 1
                    row.last_failure_at = now
                    if row.failures >= self.settings.lock_after:
                        row.locked_until = now + timedelta(minutes=self.settings.lock_minutes)
                    return row.failures
            except IntegrityError:
                # A concurrent failure for the same name created the row first; count on it.
                continue
        raise RuntimeError("login throttle row could not be written")

    async def principal(self, token: str | None) -> Principal | None:
        """The principal of a session token, or None when it is unknown, expired, idle too long or disabled."""
        if not token or len(token) > 128:
            return None
        now = self.clock.now()
        async with self.db.transaction() as session:
            row = await session.get(ConsoleSession, token_hash(token))
            if row is None:
                return None
            idle = timedelta(minutes=self.settings.idle_minutes)
            if as_utc(row.expires_at) <= now or as_utc(row.last_seen_at) + idle <= now:
                await session.delete(row)
                return None
            user = await session.get(User, row.user_id)
            if user is None or not user.active:
                return None
            if now - as_utc(row.last_seen_at) >= TOUCH_EVERY:
                row.last_seen_at = now
            departments = await department_ids(session, user)
            return Principal(
                session_id=row.id,
                user_id=user.id,
                username=user.username,
                display_name=user.display_name,
                role=user.role,
                departments=departments,
                csrf_token=row.csrf_token,
                language=row.language,
            )

    async def set_language(self, principal: Principal, language: str) -> None:
        async with self.db.transaction() as session:
            row = await session.get(ConsoleSession, principal.session_id)
            if row is not None:
                row.language = language

    async def logout(self, principal: Principal) -> None:
        now = self.clock.now()
        async with self.db.transaction() as session:
            await session.execute(delete(ConsoleSession).where(ConsoleSession.id == principal.session_id))
            record(session, principal.user_id, "logout", f"user:{principal.user_id}", now)
