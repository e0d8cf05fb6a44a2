"""The rate limiter on a manual clock: per chat, per group and overall limits, and 429 blocks."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from bots.telegram.ratelimit import RateLimiter
from core.clock import ManualClock


def drain(limiter: RateLimiter, clock: ManualClock, chats: list[int]) -> list[tuple[float, int]]:
    """Send one message per entry of `chats`, in order, waiting on the clock whenever told to."""
    sent: list[tuple[float, int]] = []
    for chat in chats:
        while (wait := limiter.acquire(chat)) > 0:
            clock.advance(timedelta(seconds=wait))
        sent.append((clock.now().timestamp(), chat))
    return sent


def most_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window - 1e-9:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_one_message_per_second_per_chat() -> None:
    clock = ManualClock()
    limiter = RateLimiter(clock)
    sent = drain(limiter, clock, [777] * 100)
    times = [t for t, _ in sent]
    assert most_in_window(times, 1.0) == 1
    assert all(b - a >= 1.0 - 1e-9 for a, b in itertools.pairwise(times))
    # No slower than needed either.
    assert times[-1] - times[0] == 99.0


def test_twenty_per_minute_in_a_group() -> None:
    clock = ManualClock()
    limiter = RateLimiter(clock)
    sent = drain(limiter, clock, [-100123] * 100)
    times = [t for t, _ in sent]
    assert most_in_window(times, 60.0) == 20
    assert most_in_window(times, 1.0) == 1


def test_thirty_per_second_overall() -> None:
    clock = ManualClock()
    limiter = RateLimiter(clock)
    chats = [chat for _ in range(3) for chat in range(1, 101)]  # 300 messages to 100 chats
    sent = drain(limiter, clock, chats)
    assert most_in_window([t for t, _ in sent], 1.0) == 30
    for chat in (1, 50, 100):
        assert most_in_window([t for t, c in sent if c == chat], 1.0) == 1


def test_a_wait_counts_nothing_and_chats_do_not_hold_each_other_up() -> None:
    clock = ManualClock()
    limiter = RateLimiter(clock)
    assert limiter.acquire(1) == 0
    assert limiter.acquire(1) == 1.0
    assert limiter.acquire(1) == 1.0
    assert limiter.acquire(2) == 0
    clock.advance(timedelta(milliseconds=400))
    assert abs(limiter.acquire(1) - 0.6) < 1e-6


def test_retry_after_blocks_the_chat() -> None:
    clock = ManualClock()
    limiter = RateLimiter(clock)
    limiter.block(9, 30)
    assert limiter.acquire(9) == 30
    assert limiter.acquire(10) == 0
    clock.advance(timedelta(seconds=30))
    assert limiter.acquire(9) == 0


def test_memory_follows_active_chats() -> None:
    clock = ManualClock(datetime.fromisoformat("2026-11-29T02:00:00+00:00"))
    limiter = RateLimiter(clock)
    for chat in range(10_001):
        clock.advance(timedelta(milliseconds=40))
        assert limiter.acquire(chat) == 0
    clock.advance(timedelta(seconds=61))
    limiter.acquire(-1)
    assert len(limiter._last) <= 2
