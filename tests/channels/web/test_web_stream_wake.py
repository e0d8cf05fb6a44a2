"""A web visitor's streams are woken once a reply is committed as sent, never before: they then find it."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.engine import make_url

from core.channel import Undelivered
from core.messages import ConversationRef, InboundMessage, MessageType
from handlers.services import Services


# SQLite, because a plain sqlite3 connection reads what is committed at the very moment of the wake-up.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_stream_is_woken_after_the_reply_is_committed_as_sent(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_url(services.db.url).database
    assert path
    committed_at_wake: list[list[str]] = []
    wake_now = services.hub.wake

    def wake(visitor: str) -> None:
        with sqlite3.connect(path) as reader:
            committed_at_wake.append([row[0] for row in reader.execute("SELECT status FROM outbox")])
        wake_now(visitor)

    monkeypatch.setattr(services.hub, "wake", wake)
    message = InboundMessage(
        ref=ConversationRef(channel="web", external_user_id="visitor-1"),
        external_id="visitor-1:m1",
        type=MessageType.TEXT,
        text="你好",
    )
    await services.engine.receive(message, Undelivered())
    assert committed_at_wake == [], "a reply only written (not yet sent) wakes nobody"
    await services.dispatcher.deliver_due()
    # What a woken stream reads (client_view) shows only replies committed as sent.
    assert committed_at_wake == [["sent"]]
