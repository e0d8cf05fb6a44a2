"""Live events for people watching (console streams, the reps' Telegram group), published after each commit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)

PENDING_KEY = "kefu_live_events"


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """Something that happened to a conversation or ticket, for whoever is watching."""

    kind: str
    conversation_id: int | None
    ticket_id: int | None
    data: dict[str, Any]
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "conversation_id": self.conversation_id,
            "ticket_id": self.ticket_id,
            "data": self.data,
            "at": self.at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LiveEvent:
        return cls(
            kind=str(data["kind"]),
            conversation_id=data.get("conversation_id"),
            ticket_id=data.get("ticket_id"),
            data=dict(data.get("data") or {}),
            at=datetime.fromisoformat(str(data["at"])),
        )


Listener = Callable[[LiveEvent], Awaitable[None]]
Watcher = Callable[[LiveEvent], None]


@dataclass(eq=False, slots=True)
class _Subscriber:
    queue: asyncio.Queue[LiveEvent] = field(default_factory=lambda: asyncio.Queue(maxsize=1000))


class LiveBus:
    """Fan-out of live events to listeners (callbacks) and subscribers (bounded queues).

    Listeners act on an event (mirror it, relay it to other processes) and run only in the process where
    it happened; subscribers watch (a console stream) and also see events relayed from other processes.
    """

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._watchers: list[Watcher] = []
        self._subscribers: set[_Subscriber] = set()

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def add_watcher(self, watcher: Watcher) -> None:
        """A callback told of every event, this process's and relayed ones; it must not block (it wakes)."""
        self._watchers.append(watcher)

    async def publish(self, event: LiveEvent) -> None:
        self.publish_remote(event)
        for listener in self._listeners:
            try:
                await listener(event)
            except Exception:
                log.exception("live listener failed on %s event", event.kind)

    def publish_remote(self, event: LiveEvent) -> None:
        """An event that happened in another process: for watchers only, its listeners ran over there."""
        for watcher in self._watchers:
            try:
                watcher(event)
            except Exception:
                log.exception("live watcher failed on %s event", event.kind)
        for subscriber in self._subscribers:
            if subscriber.queue.full():
                # A watcher that stopped reading loses its oldest events, never blocks the engine.
                subscriber.queue.get_nowait()
            subscriber.queue.put_nowait(event)

    async def publish_all(self, events: list[LiveEvent]) -> None:
        for event in events:
            await self.publish(event)

    async def subscribe(self) -> AsyncIterator[LiveEvent]:
        """Events from now on, until the consumer stops iterating or is cancelled."""
        subscriber = _Subscriber()
        self._subscribers.add(subscriber)
        try:
            while True:
                yield await subscriber.queue.get()
        finally:
            self._subscribers.discard(subscriber)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)


def stage(session: AsyncSession, event: LiveEvent) -> None:
    """Keep an event with the transaction; the engine publishes it once the transaction has committed."""
    pending: list[LiveEvent] = session.info.setdefault(PENDING_KEY, [])
    pending.append(event)


def staged(session: AsyncSession) -> list[LiveEvent]:
    """The events staged in this session, taken out of it."""
    pending: list[LiveEvent] = session.info.pop(PENDING_KEY, [])
    return pending
