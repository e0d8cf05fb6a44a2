"""Live updates for the console: services.live's events as Server-Sent Events, limited to what the rep may see.

One fan-out per process: a single subscription looks each event's ticket up once and hands it to every
open stream, which decides in memory whether its person may see it. The sessions of all open streams
are checked together, in one query, every RECHECK_SECONDS and before an event goes out on an older
check; a stream ends when its session is gone (logout, expiry), its user is disabled, or their role or
departments changed (the page reconnects with what they may now see). A session and a user hold at
most MAX_STREAMS streams; opening one more closes the oldest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from core.clock import Clock, as_utc
from core.db.models import ConsoleSession, Conversation, Ticket, User, UserDepartment
from core.db.session import Database
from core.live import LiveBus, LiveEvent
from handlers.console.access import may_see_ids
from handlers.console.auth import Principal
from handlers.console.users import STAFF

log = logging.getLogger(__name__)
KEEPALIVE_SECONDS = 15.0
# A session's state is at most this old when a stream acts on it; a stream wakes at least this often.
RECHECK_SECONDS = 1.0
MAX_STREAMS = 5
RECONNECT_MS = 500
BUFFER = 200
# What of each event's data reaches the browser: never message texts or notes (the page fetches those).
SAFE_FIELDS: dict[str, tuple[str, ...]] = {
    "message": ("direction", "channel", "type"),
    "escalated": ("reason", "ticket_number"),
    "claimed": ("user_id", "user_name"),
    "released": ("user_id",),
    "note": ("user_id",),
    "transferred": ("department_code", "to_user_id"),
    "ticket": ("number", "status", "before"),
    "sla": ("kind", "which", "ticket_number"),
}


@dataclass(frozen=True, slots=True)
class Scope:
    """Who may hear of one event: its ticket's number, department, assignee and holder (None: no ticket)."""

    number: str | None = None
    department_id: int | None = None
    assignee_id: int | None = None
    holder_id: int | None = None

    def visible_to(self, principal: Principal) -> bool:
        if self.number is None:
            return principal.sees_all
        return may_see_ids(principal, self.department_id, self.assignee_id, self.holder_id)


def event_json(event: LiveEvent, number: str | None) -> dict[str, Any]:
    fields = SAFE_FIELDS.get(event.kind, ())
    return {
        "kind": event.kind,
        "conversation_id": event.conversation_id,
        "ticket_id": event.ticket_id,
        "ticket_number": number,
        "data": {k: event.data[k] for k in fields if k in event.data},
        "at": event.at.isoformat(),
    }


async def lookup_scope(db: Database, event: LiveEvent) -> Scope:
    """The event's ticket as far as visibility goes: one transaction, whatever the number of streams."""
    async with db.transaction() as session:
        conversation = await session.get(Conversation, event.conversation_id) if event.conversation_id else None
        ticket_id = event.ticket_id or (conversation.ticket_id if conversation else None)
        ticket = await session.get(Ticket, ticket_id) if ticket_id else None
        if ticket is None:
            return Scope()
        if conversation is None or conversation.id != ticket.conversation_id:
            conversation = await session.get(Conversation, ticket.conversation_id)
        holder = conversation.holder_user_id if conversation is not None else None
        return Scope(ticket.number, ticket.department_id, ticket.assignee_id, holder)


@dataclass(frozen=True, slots=True)
class Rights:
    """What a session may see, as its stream was opened with it."""

    user_id: int
    role: str
    departments: frozenset[int]

    @classmethod
    def of(cls, principal: Principal) -> Rights:
        return cls(principal.user_id, principal.role, principal.departments)


async def session_rights(db: Database, clock: Clock, idle: timedelta, ids: list[str]) -> dict[str, Rights]:
    """The rights of those sessions that are still valid, in two queries whatever their number.

    Valid as Sessions.principal has it: not expired, not idle, the user active and staff. Reading does not
    count as activity, so an open stream does not keep an idle session alive.
    """
    now = clock.now()
    async with db.transaction() as session:
        rows = (
            await session.execute(
                select(ConsoleSession.id, ConsoleSession.expires_at, ConsoleSession.last_seen_at, User)
                .join(User, User.id == ConsoleSession.user_id)
                .where(ConsoleSession.id.in_(ids))
            )
        ).all()
        users = {user.id for *_, user in rows}
        extra: dict[int, set[int]] = {}
        for user_id, department_id in await session.execute(
            select(UserDepartment.user_id, UserDepartment.department_id).where(UserDepartment.user_id.in_(users))
        ):
            extra.setdefault(user_id, set()).add(department_id)
    rights = {}
    for session_id, expires_at, last_seen_at, user in rows:
        if as_utc(expires_at) <= now or as_utc(last_seen_at) + idle <= now:
            continue
        if not user.active or user.role not in STAFF:
            continue
        departments = extra.get(user.id, set()) | ({user.department_id} if user.department_id is not None else set())
        rights[session_id] = Rights(user.id, user.role, frozenset(departments))
    return rights


@dataclass(eq=False)
class Stream:
    """One open event stream: its person, and the events waiting to be sent (None: the stream must end)."""

    principal: Principal
    queue: asyncio.Queue[tuple[LiveEvent, Scope] | None] = field(default_factory=lambda: asyncio.Queue(BUFFER))
    ended: bool = False

    def offer(self, item: tuple[LiveEvent, Scope] | None) -> None:
        if self.queue.full():
            # A stalled browser loses old events, not the server's memory; the page refetches anyway.
            self.queue.get_nowait()
        self.queue.put_nowait(item)

    def end(self) -> None:
        if not self.ended:
            self.ended = True
            self.offer(None)


class LiveStreams:
    """The console's open streams in this process: one subscription, one lookup per event, one session check.

    While any stream is open, a watcher checks every open session at once every RECHECK_SECONDS and ends
    the streams whose session is gone or whose rights changed; an event also triggers that check when
    the last one is older than RECHECK_SECONDS, so no event goes out on a stale session.
    """

    def __init__(
        self,
        bus: LiveBus,
        lookup: Callable[[LiveEvent], Awaitable[Scope]],
        rights: Callable[[list[str]], Awaitable[dict[str, Rights]]],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bus = bus
        self.lookup = lookup
        self.rights = rights
        self.monotonic = monotonic
        self.streams: list[Stream] = []
        self.lookups = 0
        self.checks = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._checked_at = 0.0
        self._checking: asyncio.Lock | None = None
        self.closing = False

    async def open(self, principal: Principal) -> Stream:
        """Register a stream, ending the oldest of this session's and this user's beyond MAX_STREAMS."""
        for same in (
            [s for s in self.streams if s.principal.session_id == principal.session_id],
            [s for s in self.streams if s.principal.user_id == principal.user_id],
        ):
            for old in same[: max(0, len(same) - MAX_STREAMS + 1)]:
                self.close(old)
        stream = Stream(principal)
        self.streams.append(stream)
        if not self._tasks:
            self._checking = asyncio.Lock()
            self._checked_at = self.monotonic()
            self._tasks = [asyncio.create_task(self._fan_out()), asyncio.create_task(self._watch())]
            # One turn of the loop lets the pump subscribe, so nothing after "ready" is missed.
            await asyncio.sleep(0)
        return stream

    def close_all(self) -> None:
        """The process is stopping: every stream ends (with a reconnect hint) so no connection holds it up."""
        self.closing = True
        for stream in list(self.streams):
            self.close(stream)

    def close(self, stream: Stream) -> None:
        stream.end()
        if stream in self.streams:
            self.streams.remove(stream)
        if not self.streams and self._tasks:
            for task in self._tasks:
                task.cancel()
            self._tasks = []

    async def _fan_out(self) -> None:
        async for event in self.bus.subscribe():
            if not self.streams or event.kind not in SAFE_FIELDS:
                # Kinds the console does not show (a web reply's delivery) cost no lookup.
                continue
            try:
                if self.monotonic() - self._checked_at >= RECHECK_SECONDS:
                    await self.check()
                scope = await self.lookup(event)
            except Exception:
                log.exception("live event %s could not be looked up", event.kind)
                continue
            self.lookups += 1
            for stream in list(self.streams):
                stream.offer((event, scope))

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(RECHECK_SECONDS)
            try:
                await self.check()
            except Exception:
                log.exception("live streams: sessions could not be checked")

    async def check(self) -> None:
        """End the streams whose session ended (logout, expiry, disabled user) or whose rights changed."""
        assert self._checking is not None
        async with self._checking:
            started = self.monotonic()
            if started - self._checked_at < RECHECK_SECONDS / 2:
                return  # checked while this one waited for the lock
            open_now = list(self.streams)
            current = await self.rights(sorted({s.principal.session_id for s in open_now}))
            self.checks += 1
            self._checked_at = started
            for stream in open_now:
                if current.get(stream.principal.session_id) != Rights.of(stream.principal):
                    self.close(stream)
