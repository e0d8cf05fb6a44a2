"""The access token every process shares: one stored copy, one refresher at a time, refresh only what failed."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from core.channel import TransientSendError
from core.clock import Clock

log = logging.getLogger(__name__)

# Fetches a new token from WeChat: (access_token, expires_in seconds).
TokenFetch = Callable[[], Awaitable[tuple[str, int]]]


class StateStore(Protocol):
    """What the provider needs of core.channel_state.ChannelStateStore."""

    clock: Clock

    async def get(self, key: str) -> dict[str, Any] | None: ...

    async def put(self, key: str, value: dict[str, Any], expires_at: datetime | None = None) -> None: ...

    async def try_lock(self, key: str, holder: str, ttl: timedelta) -> bool: ...

    async def unlock(self, key: str, holder: str) -> None: ...


class MemoryStateStore:
    """A store for one process only (tests, a channel built without a database): same contract, nothing shared."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._values: dict[str, tuple[dict[str, Any], datetime | None]] = {}
        self._locks: dict[str, tuple[str, datetime]] = {}

    async def get(self, key: str) -> dict[str, Any] | None:
        entry = self._values.get(key)
        if entry is None or (entry[1] is not None and entry[1] <= self.clock.now()):
            return None
        return dict(entry[0])

    async def put(self, key: str, value: dict[str, Any], expires_at: datetime | None = None) -> None:
        self._values[key] = (dict(value), expires_at)

    async def try_lock(self, key: str, holder: str, ttl: timedelta) -> bool:
        now = self.clock.now()
        current = self._locks.get(key)
        if current is not None and current[0] != holder and current[1] >= now:
            return False
        self._locks[key] = (holder, now + ttl)
        return True

    async def unlock(self, key: str, holder: str) -> None:
        current = self._locks.get(key)
        if current is not None and current[0] == holder:
            del self._locks[key]


def token_key(app_id: str) -> str:
    return f"wechat:token:{app_id}"


class TokenProvider:
    """One app's access token: read from the shared store, fetched by whichever process holds the lock."""

    def __init__(
        self,
        store: StateStore,
        app_id: str,
        fetch: TokenFetch,
        *,
        margin: timedelta = timedelta(minutes=5),
        lock_ttl: timedelta = timedelta(seconds=30),
        poll_seconds: float = 0.1,
    ) -> None:
        self.store = store
        self.key = token_key(app_id)
        self.fetch = fetch
        self.margin = margin
        self.lock_ttl = lock_ttl
        self.poll_seconds = poll_seconds
        # Unique per provider: the store lets a holder retake its own lock, so two processes must differ.
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # Coroutines of this process queue here instead of polling the database for the same lock.
        self._local = asyncio.Lock()

    async def get(self) -> str:
        """A valid token: the stored one, else a fresh one (fetched here or by another process)."""
        token = await self._read()
        if token is not None:
            return token
        return await self._renew(failed=None)

    async def refresh(self, failed: str) -> str:
        """A token other than `failed`: someone else's newer one if stored, else a fresh one fetched once."""
        return await self._renew(failed=failed)

    async def _read(self) -> str | None:
        value = await self.store.get(self.key)
        token = value.get("access_token") if value else None
        return token if isinstance(token, str) and token else None

    async def _renew(self, failed: str | None) -> str:
        async with self._local:
            # Bounded by the lock's lease: a holder that died frees it by then.
            deadline = self.store.clock.now() + self.lock_ttl
            polls = max(1, int(self.lock_ttl.total_seconds() / self.poll_seconds))
            for _ in range(polls + 1):
                token = await self._read()
                if token is not None and token != failed:
                    return token
                if await self.store.try_lock(self.key, self.holder, self.lock_ttl):
                    try:
                        # Re-read under the lock: the previous holder may have just stored a new token.
                        token = await self._read()
                        if token is not None and token != failed:
                            return token
                        return await self._fetch_and_store()
                    finally:
                        await self.store.unlock(self.key, self.holder)
                if self.store.clock.now() > deadline:
                    break
                await asyncio.sleep(self.poll_seconds)
        raise TransientSendError("wechat access token: another process is still refreshing it")

    async def _fetch_and_store(self) -> str:
        token, expires_in = await self.fetch()
        # Stop using a token a little before WeChat does; very short lifetimes keep half of theirs.
        lifetime = timedelta(seconds=expires_in)
        usable = lifetime - self.margin if lifetime > 2 * self.margin else lifetime / 2
        await self.store.put(self.key, {"access_token": token}, expires_at=self.store.clock.now() + usable)
        log.info("wechat access token refreshed by %s", self.holder)
        return token
