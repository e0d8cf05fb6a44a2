"""Sign-in and sessions: throttled password checks, server-side session rows, the signed-in principal."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select

from core.access import department_ids, sees_all
from core.audit import record
from core.clock import Clock, as_utc
from core.db.models import ConsoleSession, LoginThrottle, User
from core.db.session import Database
from handlers.console.errors import TooManyAttempts
from handlers.console.passwords import verify_password
from handlers.console.settings import ConsoleSettings
from handlers.console.throttle import Keys, LoginThrottler
from handlers.console.users import STAFF, normalize_username

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
        return sees_all(self.role)

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
        self.throttle = LoginThrottler(settings)

    async def login(self, username: str, password: str, address: str = "") -> LoginResult:
        """Check a password once the throttle admits the attempt; a success opens a session."""
        name = normalize_username(username)
        keys = Keys.of(name, address)
        now = self.clock.now()
        async with self.db.transaction() as session:
            admission = await self.throttle.admit(session, keys, now)
            if not admission.admitted:
                return LoginResult(error=admission.error, retry_after=admission.retry_after)
            user = (await session.execute(select(User).where(User.username == name))).scalar_one_or_none()
            failures = await session.scalar(select(LoginThrottle.failures).where(LoginThrottle.key == keys.pair))
        usable = user is not None and user.active and user.role in STAFF
        matched = await verify_password(user.password_hash if user and usable else None, password)
        now = self.clock.now()
        async with self.db.transaction() as session:
            if not matched:
                count = int(failures or 0)
                record(session, user.id if user else None, "login_failed", name, now, {"failures": count})
                log.info("console sign-in refused (%s failures for this name at this address)", count)
                locked = count >= self.settings.lock_after
                return LoginResult(error="locked" if locked else "invalid", retry_after=self.throttle.delay(count))
            assert user is not None
            await self.throttle.succeeded(session, keys)
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

    async def check_password(self, user_id: int, password: str, address: str) -> bool:
        """The signed-in user's own password, checked under the same throttle as a sign-in."""
        async with self.db.transaction() as session:
            user = await session.get(User, user_id)
            if user is None:
                return False
            keys = Keys.of(user.username, address)
            admission = await self.throttle.admit(session, keys, self.clock.now())
            if not admission.admitted:
                raise TooManyAttempts(f"too many attempts; try again in {admission.retry_after} s")
        matched = await verify_password(user.password_hash, password)
        if matched:
            async with self.db.transaction() as session:
                await self.throttle.succeeded(session, keys)
        return matched

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
