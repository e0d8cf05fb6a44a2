"""100 replies queued for one Telegram chat: the outbox and the limiter send them 1/s, in order, on the fake clock."""

from __future__ import annotations

import itertools
from datetime import timedelta

from sqlalchemy import select

from core.db.models import Conversation
from core.messages import ConversationRef, OutboundMessage
from core.outbox import Outgoing, queue, write_queued
from handlers.services import Services
from tests.channels.telegram.conftest import USER_ID, TelegramClient
from tests.channels.telegram.fake_api import FakeBotAPI
from tests.channels.telegram.test_ratelimit import most_in_window


async def _queue_hundred(telegram: TelegramClient, services: Services) -> None:
    await telegram.say("/start")
    now = services.clock.now()
    async with services.db.transaction() as session:
        conversation = (await session.execute(select(Conversation))).scalar_one()
        ref = ConversationRef.from_json(conversation.ref)
        for i in range(100):
            queue(session, Outgoing(conversation.id, ref, OutboundMessage(f"消息 {i:03d}"), now))
        await write_queued(session)


def _numbered(fake_api: FakeBotAPI) -> list[tuple[float, str]]:
    return [(c.at, str(c.data["text"])) for c in fake_api.sends() if str(c.data["text"]).startswith("消息 ")]


async def test_hundred_queued_messages_to_one_chat_go_one_per_second(
    telegram: TelegramClient, fake_api: FakeBotAPI, services: Services
) -> None:
    fake_api.now = lambda: services.clock.now().timestamp()
    await _queue_hundred(telegram, services)
    await services.dispatcher.deliver_due()
    sent = _numbered(fake_api)
    assert [t for _, t in sent] == [f"消息 {i:03d}" for i in range(100)]
    times = [at for at, _ in sent]
    assert most_in_window(times, 1.0) == 1
    assert all(b - a >= 1.0 - 1e-6 for a, b in itertools.pairwise(times))
    assert times[-1] - times[0] < 100.0, "no slower than the limit needs"
    assert {int(c.data["chat_id"]) for c in fake_api.sends()} == {USER_ID}


async def test_a_429_midway_waits_retry_after_and_loses_or_doubles_nothing(
    telegram: TelegramClient, fake_api: FakeBotAPI, services: Services
) -> None:
    fake_api.now = lambda: services.clock.now().timestamp()
    await _queue_hundred(telegram, services)
    fake_api.failures = [0] * 40 + [429]
    fake_api.retry_after = 30
    await services.dispatcher.deliver_due()
    assert len(_numbered(fake_api)) == 41, "the rest waits behind the refused one"
    refused_at = _numbered(fake_api)[-1][0]
    # Nothing goes before retry_after has passed, however often the sweep runs.
    for _ in range(5):
        services.clock.advance(timedelta(seconds=5))  # type: ignore[attr-defined]
        await services.dispatcher.deliver_due()
    assert len(_numbered(fake_api)) == 41
    services.clock.advance(timedelta(seconds=6))  # type: ignore[attr-defined]
    await services.dispatcher.deliver_due()
    sent = _numbered(fake_api)
    texts = [t for _, t in sent]
    # The refused message is tried twice (the 429 was not a delivery), everything else once, in order.
    assert texts == [f"消息 {i:03d}" for i in range(41)] + [f"消息 {i:03d}" for i in range(40, 100)]
    assert sent[41][0] - refused_at >= 30
    assert {r.status for r in await telegram.outbox_rows()} == {"sent"}
