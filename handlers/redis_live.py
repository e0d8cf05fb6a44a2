"""Carries live events between kefu processes over Redis pub/sub, so every console sees every event."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core.live import LiveBus, LiveEvent

log = logging.getLogger(__name__)

CHANNEL = "kefu:live"


class RedisLiveBridge:
    """Relays this process's events to Redis and hands other processes' events to local watchers."""

    def __init__(self, url: str, bus: LiveBus, *, channel: str = CHANNEL) -> None:
        self.url = url
        self.bus = bus
        self.channel = channel
        self.origin = uuid.uuid4().hex
        self._redis: aioredis.Redis | None = None
        self._reader: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._where = url.rsplit("@", 1)[-1]

    async def start(self) -> None:
        self._redis = aioredis.from_url(self.url)
        self.bus.add_listener(self._relay)
        self._reader = asyncio.create_task(self._read_forever(), name="redis-live-reader")
        # Events published after start() should reach the other processes' watchers; Redis being down
        # must not keep kefu from starting (readiness reports it, the reader keeps reconnecting).
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout=2)
        except TimeoutError:
            log.warning("redis at %s not reachable yet; live events stay in this process until it is", self._where)

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._redis is not None:
            await self._redis.aclose()

    async def ping(self) -> bool:
        return self._redis is not None and bool(await self._redis.ping())

    async def _relay(self, event: LiveEvent) -> None:
        if self._redis is None:
            return
        body = json.dumps({"origin": self.origin, "event": event.to_json()}, ensure_ascii=False)
        try:
            await self._redis.publish(self.channel, body)
        except RedisError as exc:
            # Watchers elsewhere miss one live update; the console re-reads the database on reconnect.
            log.warning("live event %s not relayed: %s", event.kind, exc)

    async def _read_forever(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._read()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("redis live subscription lost (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _read(self) -> None:
        assert self._redis is not None
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(self.channel)
            self._subscribed.set()
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                self._deliver(message["data"])
        finally:
            await pubsub.aclose()

    def _deliver(self, raw: Any) -> None:
        try:
            body = json.loads(raw)
            if body.get("origin") == self.origin:
                return
            event = LiveEvent.from_json(body["event"])
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("malformed live event on %s ignored: %s", self.channel, exc)
            return
        self.bus.publish_remote(event)
