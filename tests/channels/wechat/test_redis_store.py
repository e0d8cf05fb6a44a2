"""The access token in a real Redis (KEFU_REDIS_URL): shared by processes, one refresher, clock-driven expiry."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from bots.wechat.channel import WeChatAccounts, WeChatChannel
from bots.wechat.redis_store import RedisStateStore
from bots.wechat.token import token_key
from core.channel_state import ChannelStateStore
from core.clock import ManualClock
from core.messages import ConversationRef, OutboundMessage
from core.settings import Settings
from handlers.services import build_services
from tests.channels.wechat.conftest import APP_ID, TOKEN, make_account
from tests.channels.wechat.fake_api import FakeWeChatAPI
from tests.conftest import REDIS_URL

REF = ConversationRef(channel="wechat", external_user_id="oKefuTestOpenId0000000000001")

StoreFactory = Callable[[ManualClock], RedisStateStore]


@pytest.fixture
def redis_stores(redis_url: str) -> Iterator[StoreFactory]:
    """Stores on a real Redis under a prefix of this test alone, each with its own client (as processes have)."""
    prefix = f"kefu-test-{uuid.uuid4().hex[:12]}"
    stores: list[RedisStateStore] = []

    def factory(clock: ManualClock) -> RedisStateStore:
        store = RedisStateStore.from_url(redis_url, clock, prefix=prefix)
        stores.append(store)
        return store

    yield factory
    cleaner = redis.Redis.from_url(redis_url)
    for key in cleaner.scan_iter(f"{prefix}:*"):
        cleaner.delete(key)
    cleaner.close()
    for store in stores:
        store.close()


async def test_values_expire_on_the_clock_and_in_redis(redis_stores: StoreFactory) -> None:
    clock = ManualClock()
    store = redis_stores(clock)
    await store.put("k", {"access_token": "T"}, expires_at=clock.now() + timedelta(seconds=100))
    assert await store.get("k") == {"access_token": "T"}
    # Redis drops it on its own as well, so nothing outlives its use.
    ttl = store.client.ttl(f"{store.prefix}:k")
    assert isinstance(ttl, int) and 0 < ttl <= 100
    clock.advance(timedelta(seconds=100))
    assert await store.get("k") is None
    await store.put("k", {"access_token": "U"}, expires_at=clock.now() - timedelta(seconds=1))
    assert store.client.exists(f"{store.prefix}:k") == 0
    await store.put("forever", {"cursor": "c"})
    assert await store.get("forever") == {"cursor": "c"} and store.client.ttl(f"{store.prefix}:forever") == -1
    assert await store.get("absent") is None


async def test_lock_is_held_by_one_holder_and_its_lease_ends(redis_stores: StoreFactory) -> None:
    clock = ManualClock()
    one, two = redis_stores(clock), redis_stores(clock)
    assert await one.try_lock("k", "a", timedelta(seconds=30))
    assert not await two.try_lock("k", "b", timedelta(seconds=30))
    # The holder may renew its own lease; someone else's unlock does nothing.
    assert await one.try_lock("k", "a", timedelta(seconds=30))
    await two.unlock("k", "b")
    assert not await two.try_lock("k", "b", timedelta(seconds=30))
    await one.unlock("k", "a")
    assert await two.try_lock("k", "b", timedelta(milliseconds=100))
    await asyncio.sleep(0.2)
    # A holder that died frees the lock when its lease runs out.
    assert await one.try_lock("k", "a", timedelta(seconds=30))


@pytest.fixture
def two_processes(redis_stores: StoreFactory, fake_api: FakeWeChatAPI) -> tuple[WeChatChannel, WeChatChannel]:
    clock = ManualClock()
    account = make_account(fake_api)
    return WeChatChannel(account, redis_stores(clock)), WeChatChannel(account, redis_stores(clock))


async def test_concurrent_processes_fetch_the_token_once(
    two_processes: tuple[WeChatChannel, WeChatChannel], fake_api: FakeWeChatAPI
) -> None:
    first, second = two_processes
    fake_api.token_delay = 0.3
    sends = [channel.send(REF, OutboundMessage(f"消息{i}")) for i in range(3) for channel in (first, second)]
    await asyncio.gather(*sends)
    assert len(fake_api.token_calls()) == 1
    assert {c.query["access_token"] for c in fake_api.sends()} == {"TOKEN-1"}
    # Stored where wechatpy's RedisStorage keeps session values: <prefix>:<key>.
    store = first.tokens.store
    assert isinstance(store, RedisStateStore)
    assert store.storage.get(token_key(APP_ID))["value"] == {"access_token": "TOKEN-1"}


async def test_stale_failures_of_two_processes_refresh_once(
    two_processes: tuple[WeChatChannel, WeChatChannel], fake_api: FakeWeChatAPI
) -> None:
    first, second = two_processes
    await first.send(REF, OutboundMessage("一"))
    fake_api.revoke_token()
    fake_api.token_delay = 0.2
    await asyncio.gather(first.send(REF, OutboundMessage("二")), second.send(REF, OutboundMessage("三")))
    assert len(fake_api.token_calls()) == 2
    assert {c.query["access_token"] for c in fake_api.sends()[-2:]} == {"TOKEN-2"}


async def test_with_kefu_redis_url_tokens_live_in_redis_not_the_database(
    db_url: str, tmp_path: Path, fake_api: FakeWeChatAPI, redis_stores: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KEFU_WECHAT_TOKEN", TOKEN)
    monkeypatch.setenv("KEFU_WECHAT_APP_ID", APP_ID)
    monkeypatch.setenv("KEFU_WECHAT_APP_SECRET", "app-secret")
    monkeypatch.setenv("KEFU_WECHAT_API_BASE", fake_api.base)
    prefix = redis_stores(ManualClock()).prefix
    clock = ManualClock()
    for redis_url in (REDIS_URL, None):
        settings = Settings(
            database_url=db_url, env="test", redis_url=redis_url, redis_prefix=prefix, media_dir=tmp_path / "media"
        )
        services = build_services(settings, clock)
        try:
            await services.start(migrate=False)
            if redis_url:
                assert isinstance(services.token_store, RedisStateStore)
                assert services.token_store.prefix == prefix
            else:
                # Without Redis the database table is the shared store.
                assert isinstance(services.token_store, ChannelStateStore)
            channels = services.registry.get("wechat")
            assert isinstance(channels, WeChatAccounts)
            channel = channels.get()
            assert channel is not None and channel.tokens.store is services.token_store
            await channel.send(REF, OutboundMessage("你好"))
            in_db = await services.channel_state.get(token_key(APP_ID))
            if redis_url:
                assert in_db is None
                assert services.token_store.storage.get(token_key(APP_ID)) is not None
            else:
                assert in_db == {"access_token": "TOKEN-2"}
        finally:
            await services.stop()
    assert len(fake_api.token_calls()) == 2
