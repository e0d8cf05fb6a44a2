"""Abuse limits on what clients send: messages per sender and address, new conversations per address.

Counts live in Redis when KEFU_REDIS_URL is set (every process shares them), else in this process.
The `limits` library keeps the moving windows; its windows follow the wall clock, not core.clock.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from core.settings import LimitSettings

log = logging.getLogger(__name__)


class InboundLimits:
    """Checks and counts client messages against the limits; says how long to wait when one is reached."""

    def __init__(self, settings: LimitSettings, redis_url: str | None = None, prefix: str = "kefu") -> None:
        self.settings = settings
        storage: Storage = (
            RedisStorage(
                "async+" + redis_url if not redis_url.startswith("async+") else redis_url,
                implementation="redispy",
                key_prefix=f"{prefix}:limits",
            )
            if redis_url
            else MemoryStorage()
        )
        self._limiter = MovingWindowRateLimiter(storage)
        # Messages refused, by (channel, limit): never processed, never turned into tickets.
        self.refused: Counter[tuple[str, str]] = Counter()

    async def message(self, channel: str, sender: str, address: str | None = None) -> int:
        """0 and the message is counted, or the seconds to wait (nothing counted but the refusal)."""
        checks: list[tuple[str, int, str]] = [("sender", self.settings.messages_per_minute, f"{channel}:{sender}")]
        if address:
            checks.append(("address", self.settings.address_messages_per_minute, f"{channel}:ip:{address}"))
        return await self._take(channel, [(name, RateLimitItemPerMinute(n), key) for name, n, key in checks if n > 0])

    async def new_conversation(self, channel: str, address: str) -> int:
        """0 and the new conversation is counted, or the seconds to wait."""
        amount = self.settings.address_conversations_per_hour
        if amount <= 0 or not address:
            return 0
        return await self._take(channel, [("conversations", RateLimitItemPerHour(amount), f"{channel}:new:{address}")])

    async def _take(self, channel: str, checks: list[tuple[str, RateLimitItem, str]]) -> int:
        # hit() checks and counts in one step (a Lua script on Redis), so concurrent messages cannot all slip
        # through; a message refused by a later check still counts against the earlier ones, as it was sent.
        for name, item, key in checks:
            if not await self._limiter.hit(item, key):
                self.refused[(channel, name)] += 1
                log.info("%s message refused: %s limit reached", channel, name)
                reset, _ = await self._limiter.get_window_stats(item, key)
                return max(1, int(reset - time.time()) + 1)
        return 0
