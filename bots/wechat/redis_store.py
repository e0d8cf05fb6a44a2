"""The shared channel state (access tokens, reply windows) in Redis, through wechatpy's session storage."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timedelta
from typing import Any

import redis
from wechatpy.session.redisstorage import RedisStorage

from core.clock import Clock

# Take the lock when free or already ours (the store's contract), with a fresh lease either way.
_LOCK = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
# Only the holder frees the lock: one whose lease ran out must not free its successor's.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisStateStore:
    """The StateStore of bots/wechat/token.py on Redis: values expire on the clock and in Redis, locks are leases.

    redis-py's client is synchronous here, as wechatpy's storage is: every call runs in a worker thread.
    """

    def __init__(self, client: redis.Redis, clock: Clock, prefix: str = "kefu") -> None:
        self.client = client
        self.clock = clock
        self.prefix = prefix
        self.storage = RedisStorage(client, prefix=prefix)
        self._lock = client.register_script(_LOCK)
        self._unlock = client.register_script(_UNLOCK)

    @classmethod
    def from_url(cls, url: str, clock: Clock, prefix: str = "kefu") -> RedisStateStore:
        return cls(redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5), clock, prefix)

    def _lock_key(self, key: str) -> str:
        return f"{self.prefix}:lock:{key}"

    async def get(self, key: str) -> dict[str, Any] | None:
        stored = await asyncio.to_thread(self.storage.get, key)
        if not isinstance(stored, dict) or not isinstance(stored.get("value"), dict):
            return None
        expires_at = stored.get("expires_at")
        # Redis drops the key on its own clock; this check keeps the injectable clock the authority.
        if isinstance(expires_at, str) and datetime.fromisoformat(expires_at) <= self.clock.now():
            return None
        return dict(stored["value"])

    async def put(self, key: str, value: dict[str, Any], expires_at: datetime | None = None) -> None:
        if expires_at is None:
            await asyncio.to_thread(self.storage.set, key, {"value": value, "expires_at": None})
            return
        seconds = (expires_at - self.clock.now()).total_seconds()
        if seconds <= 0:
            await asyncio.to_thread(self.storage.delete, key)
            return
        stored = {"value": value, "expires_at": expires_at.isoformat()}
        await asyncio.to_thread(self.storage.set, key, stored, math.ceil(seconds))

    async def try_lock(self, key: str, holder: str, ttl: timedelta) -> bool:
        millis = max(1, int(ttl.total_seconds() * 1000))
        taken = await asyncio.to_thread(self._lock, keys=[self._lock_key(key)], args=[holder, millis])
        return bool(taken)

    async def unlock(self, key: str, holder: str) -> None:
        await asyncio.to_thread(self._unlock, keys=[self._lock_key(key)], args=[holder])

    def close(self) -> None:
        self.client.close()
