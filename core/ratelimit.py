"""Clock-driven sliding-window rate limits that say how long to wait, never sleeping themselves."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable

from core.clock import Clock, SystemClock


class SlidingWindow:
    """At most `limit` events in any `period` seconds; times are the caller's clock readings."""

    def __init__(self, limit: int, period: float) -> None:
        if limit <= 0 or period <= 0:
            raise ValueError("a window needs a positive limit and period")
        self.limit = limit
        self.period = period
        self._times: deque[float] = deque()

    def wait(self, now: float, count: int = 1) -> float:
        """Seconds until `count` more events fit (0 when they fit now); nothing is counted.

        More than `limit` at once are treated as `limit`: they go together once the window is empty.
        """
        self.forget(now)
        count = min(max(count, 1), self.limit)
        over = len(self._times) + count - self.limit
        if over <= 0:
            return 0.0
        # The `over` oldest events must leave the window first.
        return max(0.0, self._times[over - 1] + self.period - now)

    def record(self, now: float, count: int = 1) -> None:
        self._times.extend([now] * count)

    def forget(self, now: float) -> None:
        """Drop events the window no longer looks at, so memory follows recent traffic only."""
        while self._times and self._times[0] <= now - self.period:
            self._times.popleft()

    def idle(self, now: float) -> bool:
        self.forget(now)
        return not self._times


class KeyedRateLimiter:
    """One sliding window per key (an account, a chat); one per process, so each process has the full budget."""

    def __init__(self, limit: int, period: float = 1.0, clock: Clock | None = None) -> None:
        # A bad configuration fails at start-up, not at the first send.
        SlidingWindow(limit, period)
        self.limit = limit
        self.period = period
        self.clock = clock or SystemClock()
        self._windows: dict[Hashable, SlidingWindow] = {}

    def acquire(self, key: Hashable, count: int = 1) -> float:
        """0 and the events are counted, if `count` may happen for `key` now; else seconds to wait, nothing counted."""
        now = self.clock.now().timestamp()
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) > 10_000:
                self._windows = {k: w for k, w in self._windows.items() if not w.idle(now)}
            window = self._windows[key] = SlidingWindow(self.limit, self.period)
        wait = window.wait(now, count)
        if wait > 0:
            return wait
        window.record(now, count)
        return 0.0
