"""Web chat channel: sending wakes the visitor's live stream, which reads the transcript from the database."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import timedelta

from core.channel import ChannelCapabilities, SendResult
from core.live import LiveEvent
from core.messages import ConversationRef, OutboundMessage
from core.outbox import DELIVERED

CHANNEL = "web"


class LiveHub:
    """In-process wake-ups for open event streams, keyed by visitor id."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        # The process is stopping: streams send a reconnect hint and end (the proxy sends them elsewhere).
        self.closing = False

    def close_all(self) -> None:
        self.closing = True
        for waiters in self._waiters.values():
            for event in waiters:
                event.set()

    def subscribe(self, visitor: str) -> asyncio.Event:
        event = asyncio.Event()
        self._waiters[visitor].add(event)
        return event

    def unsubscribe(self, visitor: str, event: asyncio.Event) -> None:
        waiters = self._waiters.get(visitor)
        if waiters is not None:
            waiters.discard(event)
            if not waiters:
                del self._waiters[visitor]

    def wake(self, visitor: str) -> None:
        for event in self._waiters.get(visitor, ()):
            event.set()

    def on_event(self, event: LiveEvent) -> None:
        """A live-bus watcher: a web reply recorded as sent, in this process or another, wakes its visitor's streams."""
        if event.kind == DELIVERED and event.data.get("channel") == CHANNEL:
            self.wake(str(event.data.get("external_user_id", "")))

    def listeners(self, visitor: str) -> int:
        return len(self._waiters.get(visitor, ()))


class WebChannel:
    """Buttons are clickable and there is no reply window; delivery is the visitor's stream picking it up.

    Sending only records the row as sent; the "delivered" live event published after that commit wakes the
    visitor's streams in every process (LiveHub.on_event), so a stream never looks before the row is sent.
    """

    name = CHANNEL
    capabilities = ChannelCapabilities(buttons=True, max_text_length=8000, reply_window=None)

    def __init__(self, hub: LiveHub) -> None:
        self.hub = hub

    async def send(self, ref: ConversationRef, message: OutboundMessage) -> SendResult:
        return SendResult(announce=True)


KEEPALIVE = timedelta(seconds=15)
