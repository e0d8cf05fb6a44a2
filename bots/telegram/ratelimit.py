"""Telegram's sending limits as a clock-driven limiter that says how long to wait, never sleeping itself."""

from __future__ import annotations

from dataclasses import dataclass

from core.clock import Clock, SystemClock
from core.ratelimit import SlidingWindow


@dataclass(frozen=True, slots=True)
class Limits:
    """Telegram's published guidance: 1 message/s in a chat, 20/min in a group, about 30/s in all."""

    per_chat_interval: float = 1.0
    group_per_minute: int = 20
    global_per_second: int = 30


class RateLimiter:
    """Sliding windows (core.ratelimit) over the clock; one per process (each process gets the full budget)."""

    def __init__(self, clock: Clock | None = None, limits: Limits | None = None) -> None:
        self.clock = clock or SystemClock()
        self.limits = limits or Limits()
        self._last: dict[int, float] = {}
        self._groups: dict[int, SlidingWindow] = {}
        self._global = SlidingWindow(self.limits.global_per_second, 1.0)
        # Set after a 429: nobody may send to the chat before then.
        self._blocked: dict[int, float] = {}

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def acquire(self, chat_id: int) -> float:
        """0 and the send is counted, if one may go to `chat_id` now; else seconds to wait, nothing counted."""
        now = self._now()
        self._forget(now, chat_id)
        wait = 0.0
        last = self._last.get(chat_id)
        if last is not None:
            wait = max(wait, last + self.limits.per_chat_interval - now)
        # Negative ids are groups and supergroups (channels too), which have the per-minute budget.
        group = self._groups.get(chat_id) if chat_id < 0 else None
        if group is not None:
            wait = max(wait, group.wait(now))
        wait = max(wait, self._global.wait(now))
        wait = max(wait, self._blocked.get(chat_id, now) - now)
        if wait > 0:
            return wait
        self._last[chat_id] = now
        if chat_id < 0:
            self._groups.setdefault(chat_id, SlidingWindow(self.limits.group_per_minute, 60.0)).record(now)
        self._global.record(now)
        return 0.0

    def block(self, chat_id: int, seconds: float) -> None:
        """Telegram said "retry after": hold every later message to the chat until then."""
        self._blocked[chat_id] = max(self._blocked.get(chat_id, 0.0), self._now() + seconds)

    def _forget(self, now: float, chat_id: int) -> None:
        """Drop what no window looks at any more, so memory follows the active chats only."""
        if len(self._last) > 10_000:
            self._last = {c: t for c, t in self._last.items() if t > now - self.limits.per_chat_interval}
            self._groups = {c: w for c, w in self._groups.items() if not w.idle(now)}
            self._blocked = {c: t for c, t in self._blocked.items() if t > now}
