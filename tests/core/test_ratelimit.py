"""core.ratelimit on a manual clock: sliding windows per key, several events at once, memory that follows traffic."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.clock import ManualClock
from core.ratelimit import KeyedRateLimiter, SlidingWindow


def test_window_allows_limit_events_per_period_and_says_how_long_to_wait() -> None:
    window = SlidingWindow(3, 1.0)
    for t in (0.0, 0.2, 0.4):
        assert window.wait(t) == 0
        window.record(t)
    assert window.wait(0.5) == pytest.approx(0.5)
    # The first event leaves at 1.0: one fits, two only once the second leaves too.
    assert window.wait(1.0) == 0
    assert window.wait(1.0, 2) == pytest.approx(0.2)
    assert window.wait(1.0, 3) == pytest.approx(0.4)
    # More than the limit at once waits for an empty window, never forever.
    assert window.wait(1.0, 10) == pytest.approx(0.4)


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        SlidingWindow(0, 1.0)
    with pytest.raises(ValueError):
        KeyedRateLimiter(5, 0)


def test_keys_have_their_own_budget_and_a_wait_counts_nothing() -> None:
    clock = ManualClock()
    limiter = KeyedRateLimiter(2, 1.0, clock)
    assert limiter.acquire("a") == 0 and limiter.acquire("a") == 0
    assert limiter.acquire("a") == pytest.approx(1.0)
    assert limiter.acquire("a") == pytest.approx(1.0)
    assert limiter.acquire("b", 2) == 0
    clock.advance(timedelta(seconds=1))
    assert limiter.acquire("a", 2) == 0
    assert limiter.acquire("a") == pytest.approx(1.0)


def test_sends_over_a_long_run_never_exceed_the_rate() -> None:
    clock = ManualClock()
    limiter = KeyedRateLimiter(5, 1.0, clock)
    times: list[float] = []
    for _ in range(100):
        while (wait := limiter.acquire("acct")) > 0:
            clock.advance(timedelta(seconds=wait))
        times.append(clock.now().timestamp())
    assert all(times[i + 5] - times[i] >= 1.0 - 1e-9 for i in range(len(times) - 5))
    assert times[-1] - times[0] == pytest.approx(19.0)


def test_memory_follows_active_keys() -> None:
    clock = ManualClock()
    limiter = KeyedRateLimiter(1, 1.0, clock)
    for key in range(10_001):
        assert limiter.acquire(key) == 0
    clock.advance(timedelta(seconds=2))
    limiter.acquire("new")
    assert len(limiter._windows) <= 2
