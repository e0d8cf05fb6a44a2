"""What every part of the reps' group shares: its collaborators, limits and the lease rules."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from aiogram import Bot

from bots.common import BackgroundTasks
from bots.telegram.ratelimit import RateLimiter
from bots.telegram.topics import TopicWriter
from core.channel import Throttled
from core.clock import Clock
from core.db.models import TelegramPost
from core.db.session import Database
from core.leased_queue import LeasedQueue

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
# Escalations whose live event was lost (the process died right after the commit) are found this often,
# looking this far back.
CATCH_UP_EVERY = timedelta(seconds=30)
CATCH_UP_WINDOW = timedelta(days=2)
Sleep = Callable[[float], Awaitable[None]]


class RepsGroupBase:
    """The bot, the group, the database and the limits every part uses, set up once."""

    def __init__(
        self,
        *,
        db: Database,
        bot: Bot,
        chat_id: int,
        limiter: RateLimiter,
        clock: Clock,
        writer: TopicWriter,
        max_attempts: int = 8,
        max_inline_wait: float = 1.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.db = db
        self.bot = bot
        self.chat_id = chat_id
        self.limiter = limiter
        self.clock = clock
        self.writer = writer
        self.max_attempts = max_attempts
        self.posts = posts_queue(max_attempts)
        # Waits up to this long (the group's 1 message/s) happen here; longer ones are left to the next tick.
        self.max_inline_wait = max_inline_wait
        self.sleep = sleep
        self._lock = asyncio.Lock()
        self._kick_waiting = False
        self._tasks = BackgroundTasks(log, "reps group delivery failed")
        self._caught_up_at: datetime | None = None


def wait_seconds(wait: Throttled) -> float:
    return wait.retry_after or 0.0


def posts_queue(max_attempts: int) -> LeasedQueue:
    """The group's posts as a leased queue: due at next_attempt_at, claimed as "sending", exponential backoff."""
    p = TelegramPost
    return LeasedQueue(p.id, p.status, p.attempts, p.lease_until, p.next_attempt_at, LEASE, max_attempts)
