"""The shared access token: one fetch for every process, one refresh per rejected token, never a second."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bots.wechat.channel import WeChatChannel
from bots.wechat.token import TokenProvider, token_key
from core.channel import TransientSendError
from core.channel_state import ChannelStateStore
from core.clock import ManualClock
from core.db.session import Database
from core.messages import ConversationRef, OutboundMessage
from handlers.services import Services
from tests.channels.wechat.conftest import APP_ID, make_account
from tests.channels.wechat.fake_api import FakeWeChatAPI

REF = ConversationRef(channel="wechat", external_user_id="oKefuTestOpenId0000000000001")


@pytest.fixture
async def two_processes(
    services: Services, fake_api: FakeWeChatAPI, clock: ManualClock
) -> AsyncIterator[tuple[WeChatChannel, WeChatChannel]]:
    """Two channels on two Database objects of the same database, as two kefu processes would be."""
    other_db = Database(services.settings.database_url)
    account = make_account(fake_api)
    first = WeChatChannel(account, ChannelStateStore(services.db, clock))
    second = WeChatChannel(account, ChannelStateStore(other_db, clock))
    try:
        yield first, second
    finally:
        await other_db.dispose()


async def test_concurrent_processes_fetch_the_token_once(
    two_processes: tuple[WeChatChannel, WeChatChannel], fake_api: FakeWeChatAPI
) -> None:
    first, second = two_processes
    fake_api.token_delay = 0.3
    sends = [channel.send(REF, OutboundMessage(f"消息{i}")) for i in range(3) for channel in (first, second)]
    await asyncio.gather(*sends)
    assert len(fake_api.token_calls()) == 1
    assert len(fake_api.sends()) == 6
    assert {c.query["access_token"] for c in fake_api.sends()} == {"TOKEN-1"}


async def test_rejected_token_is_refreshed_once_and_the_send_retried(
    two_processes: tuple[WeChatChannel, WeChatChannel], fake_api: FakeWeChatAPI
) -> None:
    first, second = two_processes
    await first.send(REF, OutboundMessage("一"))
    fake_api.revoke_token()
    result = await second.send(REF, OutboundMessage("二"))
    assert result.external_id is not None
    assert len(fake_api.token_calls()) == 2
    assert [c.query["access_token"] for c in fake_api.sends()] == ["TOKEN-1", "TOKEN-1", "TOKEN-2"]
    # The other process reads the new token from the store: no fetch of its own.
    await first.send(REF, OutboundMessage("三"))
    assert len(fake_api.token_calls()) == 2


async def test_stale_failures_of_two_processes_refresh_once(
    two_processes: tuple[WeChatChannel, WeChatChannel], fake_api: FakeWeChatAPI
) -> None:
    first, second = two_processes
    await first.send(REF, OutboundMessage("一"))
    fake_api.revoke_token()
    fake_api.token_delay = 0.2
    # Both processes use TOKEN-1, both are refused, both ask for a refresh: only one happens.
    await asyncio.gather(first.send(REF, OutboundMessage("二")), second.send(REF, OutboundMessage("三")))
    assert len(fake_api.token_calls()) == 2
    assert sorted(fake_api.sent_texts()[-2:]) == ["三", "二"]
    assert {c.query["access_token"] for c in fake_api.sends()[-2:]} == {"TOKEN-2"}


async def test_a_late_report_of_an_old_token_keeps_the_new_one(
    two_processes: tuple[WeChatChannel, WeChatChannel], fake_api: FakeWeChatAPI
) -> None:
    first, second = two_processes
    assert await first.tokens.get() == "TOKEN-1"
    assert await first.tokens.refresh(failed="TOKEN-1") == "TOKEN-2"
    # The second process's call with TOKEN-1 failed before it saw TOKEN-2: it takes TOKEN-2, fetches nothing.
    assert await second.tokens.refresh(failed="TOKEN-1") == "TOKEN-2"
    assert len(fake_api.token_calls()) == 2


async def test_token_expires_before_wechat_drops_it(
    services: Services, fake_api: FakeWeChatAPI, clock: ManualClock
) -> None:
    channel = WeChatChannel(make_account(fake_api), ChannelStateStore(services.db, clock))
    assert await channel.tokens.get() == "TOKEN-1"
    clock.advance(timedelta(seconds=7200 - 301))
    assert await channel.tokens.get() == "TOKEN-1"
    clock.advance(timedelta(seconds=2))
    assert await channel.tokens.get() == "TOKEN-2"


async def test_waits_for_the_process_holding_the_lock(services: Services, clock: ManualClock) -> None:
    store = ChannelStateStore(services.db, clock)
    fetched: list[str] = []

    async def fetch() -> tuple[str, int]:
        fetched.append("x")
        return "MINE", 7200

    provider = TokenProvider(store, APP_ID, fetch, poll_seconds=0.01)
    key = token_key(APP_ID)
    assert await store.try_lock(key, "other-process", timedelta(seconds=30))
    waiting = asyncio.create_task(provider.get())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await store.put(key, {"access_token": "THEIRS"}, expires_at=clock.now() + timedelta(hours=1))
    await store.unlock(key, "other-process")
    assert await waiting == "THEIRS"
    assert fetched == []


async def test_a_lock_never_released_ends_the_wait(services: Services, clock: ManualClock) -> None:
    store = ChannelStateStore(services.db, clock)

    async def fetch() -> tuple[str, int]:
        raise AssertionError("the lock is held elsewhere")

    provider = TokenProvider(store, APP_ID, fetch, lock_ttl=timedelta(seconds=0.2), poll_seconds=0.01)
    assert await store.try_lock(token_key(APP_ID), "other-process", timedelta(hours=1))
    with pytest.raises(TransientSendError):
        await provider.get()
