"""Shared channel state: values with expiry, and a lock that only one holder gets until it expires."""

from __future__ import annotations

from datetime import timedelta

from core.channel_state import ChannelStateStore
from core.clock import ManualClock
from core.db.session import Database
from core.wiring import Core


async def test_values_expire_and_the_lock_is_exclusive(core: Core, clock: ManualClock) -> None:
    store = ChannelStateStore(core.db, clock)
    other_db = Database(core.settings.database_url)
    other = ChannelStateStore(other_db, clock)
    try:
        assert await store.get("wechat:token") is None
        await store.put("wechat:token", {"token": "T1"}, expires_at=clock.now() + timedelta(hours=2))
        assert await other.get("wechat:token") == {"token": "T1"}
        assert await store.try_lock("wechat:token", "p1", timedelta(seconds=30)) is True
        assert await other.try_lock("wechat:token", "p2", timedelta(seconds=30)) is False
        await store.unlock("wechat:token", "p1")
        assert await other.try_lock("wechat:token", "p2", timedelta(seconds=30)) is True
        clock.advance(timedelta(seconds=31))
        assert await store.try_lock("wechat:token", "p1", timedelta(seconds=30)) is True, "expired locks are free"
        clock.advance(timedelta(hours=3))
        assert await store.get("wechat:token") is None
        assert await store.try_lock("new-key", "p1", timedelta(seconds=5)) is True
    finally:
        await other_db.dispose()
