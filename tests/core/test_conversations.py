"""Conversation persistence on its own: finding senders, locking conversations, writing a turn's changes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

import pytest
from sqlalchemy import event, func, inspect, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from core import conversations
from core.clock import ManualClock, as_utc
from core.conversations import (
    MAX_PAYLOAD_CHARS,
    DuplicateMessage,
    _update_of,
    bounded,
    create_first_contact,
    find_or_create_conversation,
    find_or_create_identity,
    inbound_payload,
    lock_known_sender,
    locked_conversation,
    store_inbound,
)
from core.db.models import ChannelIdentity, Client, Conversation, Message, OutboxMessage
from core.errors import NotFound
from core.messages import Attachment, ConversationRef, InboundMessage, MessageType
from core.outbox import PARKED, PENDING
from core.wiring import Core
from tests.support.fakes import FakeChannel, inbound

T = TypeVar("T")


async def _conversations(core: Core) -> dict[str, Conversation]:
    async with core.db.transaction() as session:
        query = select(ChannelIdentity.external_id, Conversation).join(
            ChannelIdentity, ChannelIdentity.id == Conversation.identity_id
        )
        return {user: conversation for user, conversation in await session.execute(query)}


async def _first_contact(core: Core) -> Conversation:
    """The conversation of a client's first message."""
    core.registry.register(FakeChannel())
    await core.engine.receive(inbound("你好", "m1"))
    [conversation] = (await _conversations(core)).values()
    return conversation


async def test_a_turn_s_changes_reach_its_own_conversation_alone_and_each_update_is_built_once(
    core: Core, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Empty, as in a process that has run no turn yet: every UPDATE below is built here.
    monkeypatch.setattr(conversations, "_UPDATES", {})
    core.registry.register(FakeChannel())
    await core.engine.receive(inbound("你好", "a1", user="a"))
    await core.engine.receive(inbound("你好", "b1", user="b"))
    before = await _conversations(core)
    clock.advance(timedelta(minutes=1))
    await core.engine.receive(inbound("我要投诉，你们的广告投放一直没效果", "a2", user="a"))
    after = await _conversations(core)
    assert after["a"].context["turn"] == 2 and after["a"].state != before["a"].state
    assert after["a"].last_inbound_at != before["a"].last_inbound_at
    assert (after["b"].state, after["b"].context, after["b"].last_inbound_at) == (
        before["b"].state,
        before["b"].context,
        before["b"].last_inbound_at,
    )
    built = dict(conversations._UPDATES)
    # On SQLite the ORM's flush may have written the row first, leaving nothing to carry.
    assert built or core.db.is_sqlite
    assert all(_update_of(columns) is statement for columns, statement in built.items())
    first = _update_of(frozenset({"category"}))
    assert first is _update_of(frozenset({"category"})) and str(first).startswith("UPDATE conversations SET category")


async def test_only_attributes_set_to_a_new_value_are_carried_and_the_conversation_leaves_the_session(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    core.registry.register(FakeChannel())
    await core.engine.receive(inbound("你好", "a1", user="a"))
    carried: list[dict[str, object]] = []

    async def record(_session: AsyncSession, _statement: object, params: dict[str, object]) -> None:
        carried.append(params)

    monkeypatch.setattr(conversations, "carry", record)
    async with core.db.transaction() as session:
        conversation = (await session.execute(select(Conversation))).scalar_one()
        conversation.language = str(conversation.language)  # set again to the value it has
        conversation.category = "complaint"
        await conversations.carry_changes(session, conversation.id)
        assert conversation not in session
    assert carried == [{"conv_key": conversation.id, "conv_category": "complaint"}]


async def test_a_known_client_s_turn_leaves_the_orm_nothing_to_flush(core: Core) -> None:
    """The identity, already reachable, is not marked changed; the conversation's changes are carried."""
    core.registry.register(FakeChannel())
    await core.engine.receive(inbound("你好", "a1", user="a"))
    flushed: list[list[str]] = []

    def seen(session: Session, _context: object, _instances: object) -> None:
        flushed.append(sorted(type(row).__name__ for row in session.dirty | session.new))

    event.listen(Session, "before_flush", seen)
    try:
        await core.engine.receive(inbound("我要投诉，你们的广告投放一直没效果", "a2", user="a"))
    finally:
        event.remove(Session, "before_flush", seen)
    # The conversation's changes go in the carried UPDATE (on SQLite at once, on the driver's connection: no flush).
    assert flushed == []


async def test_a_locked_conversation_is_the_one_asked_for_as_the_database_has_it(core: Core) -> None:
    core.registry.register(FakeChannel())
    await core.engine.receive(inbound("你好", "a1", user="a"))
    await core.engine.receive(inbound("你好", "b1", user="b"))
    ids = {user: c.id for user, c in (await _conversations(core)).items()}
    async with core.db.transaction() as session:
        stale = await session.get(Conversation, ids["b"])
        assert stale is not None and stale.state != "closed"
        # Written behind the session's back, as another process's turn would have.
        await session.execute(
            update(Conversation)
            .where(Conversation.id == ids["b"])
            .values(state="closed")
            .execution_options(synchronize_session=False)
        )
        locked = await locked_conversation(session, ids["b"])
        assert locked is stale and locked.id == ids["b"] and locked.state == "closed"
        with pytest.raises(NotFound, match=f"conversation {max(ids.values()) + 1} does not exist"):
            await locked_conversation(session, max(ids.values()) + 1)


async def test_a_known_sender_is_found_with_whether_replies_wait_unsent_or_parked_a_new_one_is_not(core: Core) -> None:
    core.registry.register(FakeChannel())
    await core.engine.receive(inbound("你好", "a1", user="a"))
    async with core.db.transaction() as session:
        assert await lock_known_sender(session, inbound("你好", "b1", user="b")) is None
        found = await lock_known_sender(session, inbound("你好", "a2", user="a"))
        assert found is not None
        client, identity, conversation, unsent, parked = found
        assert identity.external_id == "a" and identity.client_id == client.id == conversation.client_id
        assert conversation.identity_id == identity.id and unsent is False and parked is False
        await session.execute(update(OutboxMessage).values(status=PENDING))
    async with core.db.transaction() as session:
        found = await lock_known_sender(session, inbound("你好", "a2", user="a"))
        assert found is not None and found.unsent is True and found.parked is False
        await session.execute(update(OutboxMessage).values(status=PARKED))
    async with core.db.transaction() as session:
        found = await lock_known_sender(session, inbound("你好", "a2", user="a"))
        assert found is not None and found.unsent is True and found.parked is True


async def test_a_classified_message_keeps_its_payload_beside_the_verdict(core: Core) -> None:
    core.registry.register(FakeChannel())
    await core.engine.receive(inbound("你好", "m1"))
    text = "我要投诉，你们的广告投放一直没效果"
    message = InboundMessage(ref=ConversationRef("fake", "u1"), external_id="m2", text=text, payload={"raw": "x"})
    result = await core.engine.receive(message)
    async with core.db.transaction() as session:
        stored = await session.get(Message, result.message_id)
    assert stored is not None and set(stored.payload) == {"raw", "classified"}
    assert stored.payload["raw"] == "x" and stored.payload["classified"]["category"] == "complaint"


async def test_one_user_id_on_two_channels_or_accounts_is_three_identities(core: Core) -> None:
    core.registry.register(FakeChannel())
    core.registry.register(FakeChannel("other"))
    await core.engine.receive(inbound("你好", "m1", user="u1"))
    await core.engine.receive(inbound("你好", "m1", user="u1", channel="other"))
    on_account = InboundMessage(ref=ConversationRef("fake", "u1", account="second"), external_id="m1", text="你好")
    await core.engine.receive(on_account)
    async with core.db.transaction() as session:
        rows = (await session.execute(select(ChannelIdentity.channel, ChannelIdentity.account))).all()
        names = list((await session.execute(select(Client.name))).scalars())
        conversations_ = (await session.execute(select(func.count()).select_from(Conversation))).scalar_one()
    assert sorted(rows) == [("fake", "default"), ("fake", "second"), ("other", "default")]
    assert names == ["", "", ""], "no display name: no name"
    assert conversations_ == 3


async def test_a_first_contact_with_a_known_address_joins_the_oldest_client_with_it(
    core: Core, clock: ManualClock
) -> None:
    core.registry.register(FakeChannel())
    async with core.db.transaction() as session:
        oldest = Client(name="Ann", email="Ann@Example.com", created_at=clock.now())
        session.add(oldest)
        await session.flush()
        session.add_all(
            [
                Client(name="Ann again", email="ann@example.COM", created_at=clock.now()),
                Client(name="Bob", email="bob@example.com", created_at=clock.now()),
            ]
        )
        await session.flush()
        # Edited since: on PostgreSQL its row now lies after the newer client's, so table order is not age.
        await session.execute(update(Client).where(Client.id == oldest.id).values(note="edited"))
    ref = ConversationRef("fake", "ann")
    await core.engine.receive(InboundMessage(ref=ref, external_id="m1", text="你好", email="ANN@example.com"))
    cy_ref = ConversationRef("fake", "cy")
    new = InboundMessage(cy_ref, "m2", text="你好", display_name="Cy", language="en", email="cy@example.com")
    await core.engine.receive(new)
    async with core.db.transaction() as session:
        query = select(ChannelIdentity.external_id, Client).join(Client, Client.id == ChannelIdentity.client_id)
        joined = {user: client for user, client in await session.execute(query)}
    assert joined["ann"].id == oldest.id
    cy = joined["cy"]
    assert (cy.name, cy.email, cy.language, as_utc(cy.created_at)) == ("Cy", "cy@example.com", "en", clock.now())


def test_a_payload_is_kept_up_to_its_bound_in_characters_and_past_it_noted_by_size_and_first_keys() -> None:
    # '{"raw": "…"}' is eleven characters around the text; non-ASCII counts one character, as it is stored.
    exact = {"raw": "讯" * (MAX_PAYLOAD_CHARS - 11)}
    assert bounded(exact) is exact
    assert bounded({"raw": "讯" * (MAX_PAYLOAD_CHARS - 10)}) == {
        "omitted_chars": MAX_PAYLOAD_CHARS + 1,
        "keys": ["raw"],
    }
    dated = {"at": datetime(2026, 1, 1)}
    assert bounded(dated) is dated
    over = {f"k{i:02}": "x" for i in range(25)} | {"raw": "讯" * MAX_PAYLOAD_CHARS}
    assert bounded(over) == {"omitted_chars": len(json.dumps(over, ensure_ascii=False)), "keys": sorted(over)[:20]}


def test_an_inbound_payload_keeps_attachments_and_the_button_even_when_the_raw_part_is_dropped() -> None:
    ref = ConversationRef("fake", "u1")
    assert inbound_payload(InboundMessage(ref=ref, external_id="m1", payload={"raw": "x"})) == {"raw": "x"}
    photo = Attachment(kind="image", url="https://example.com/1.png")
    message = InboundMessage(
        ref=ref, external_id="m2", button_id="yes", attachments=(photo,), payload={"raw": "x" * MAX_PAYLOAD_CHARS}
    )
    assert inbound_payload(message) == {
        "omitted_chars": MAX_PAYLOAD_CHARS + 11,
        "keys": ["raw"],
        "attachments": [photo.to_json()],
        "button_id": "yes",
    }


async def test_an_inbound_message_is_stored_with_its_text_cut_at_the_limit_and_its_length_noted(
    core: Core, clock: ManualClock
) -> None:
    conversation = await _first_contact(core)
    ref = ConversationRef("fake", "u1", account="acc")
    async with core.db.transaction() as session:
        exact = InboundMessage(ref=ref, external_id="m2", text="一二三四五")
        longer = InboundMessage(ref=ref, external_id="m3", type=MessageType.IMAGE, text="一二三四五六")
        ids = [await store_inbound(session, conversation, m, clock.now(), 5) for m in (exact, longer)]
    with pytest.raises(DuplicateMessage, match=r"^m2$"):
        async with core.db.transaction() as session:
            await store_inbound(session, conversation, exact, clock.now(), 5)
    async with core.db.transaction() as session:
        rows = [await session.get(Message, i) for i in ids]
    assert [
        (r.conversation_id, r.direction, r.channel, r.account, r.external_id, r.author_user_id, as_utc(r.created_at))
        for r in rows
        if r is not None
    ] == [(conversation.id, "in", "fake", "acc", m, None, clock.now()) for m in ("m2", "m3")]
    assert [(r.type, r.text, r.payload) for r in rows if r is not None] == [
        ("text", "一二三四五", {}),
        ("image", "一二三四五", {"text_chars": 6}),
    ]


async def test_a_known_sender_s_identity_and_conversation_are_found_not_created_and_the_address_kept(
    core: Core, clock: ManualClock
) -> None:
    conversation = await _first_contact(core)
    moved = InboundMessage(ref=ConversationRef("fake", "u1", external_chat_id="chat"), external_id="m2", text="你好")
    async with core.db.transaction() as session:
        client, identity, created = await find_or_create_identity(session, moved, clock.now())
        assert not created and identity.id == conversation.identity_id and client.id == conversation.client_id
        found, created = await find_or_create_conversation(session, client, identity, moved, clock.now(), "en")
        assert not created and found.id == conversation.id and found.ref == moved.ref.to_json()
    async with core.db.transaction() as session:
        stored = await session.get(Conversation, conversation.id)
        count = (await session.execute(select(func.count()).select_from(ChannelIdentity))).scalar_one()
    assert stored is not None and stored.ref["external_chat_id"] == "chat" and stored.language == "zh" and count == 1


async def _at_once(core: Core, step: Callable[[AsyncSession], Awaitable[T]]) -> tuple[T, T]:
    """`step` in two transactions at once, the second begun while the first, which has done its step, is open."""

    async def second() -> T:
        async with core.db.transaction() as session:
            return await step(session)

    async with core.db.transaction() as session:
        first = await step(session)
        racing = asyncio.create_task(second())
        if not core.db.is_sqlite:
            # Until the second one waits on this one's rows (SQLite lets it begin only after this one commits).
            query = text("SELECT count(*) FROM pg_locks WHERE NOT granted")
            for _ in range(500):
                if (await session.execute(query)).scalar_one():
                    break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("the second transaction never waited for the first")
    return first, await racing


async def test_two_first_contacts_at_once_end_with_one_identity_and_one_conversation(
    core: Core, clock: ManualClock
) -> None:
    msg = InboundMessage(ConversationRef("fake", "u1"), "m1", text="你好", display_name="Dee", language="en")

    async def identity(session: AsyncSession) -> tuple[int, bool]:
        _, found, created = await find_or_create_identity(session, msg, clock.now())
        return found.id, created

    async def conversation(session: AsyncSession) -> tuple[int, bool]:
        client, found, _ = await find_or_create_identity(session, msg, clock.now())
        row, created = await find_or_create_conversation(session, client, found, msg, clock.now(), "ja")
        return row.id, created

    first, later = await _at_once(core, identity)
    assert first[1] is True and later == (first[0], False)
    first, later = await _at_once(core, conversation)
    assert first[1] is True and later == (first[0], False)
    async with core.db.transaction() as session:
        client = (await session.execute(select(Client))).scalar_one()
        identity_row = (await session.execute(select(ChannelIdentity))).scalar_one()
        row = (await session.execute(select(Conversation))).scalar_one()
    assert (client.name, client.language, identity_row.display_name) == ("Dee", "en", "Dee")
    assert (row.identity_id, row.client_id, row.channel, row.ref) == (
        identity_row.id,
        client.id,
        "fake",
        msg.ref.to_json(),
    )
    assert (row.state, row.slots, row.context, row.language) == ("new", {}, {}, "ja")
    assert as_utc(row.created_at) == as_utc(row.updated_at) == clock.now()


def _columns(row: object, leave_out: set[str]) -> dict[str, object]:
    return {c.key: getattr(row, c.key) for c in inspect(row).mapper.column_attrs if c.key not in leave_out}


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_first_contact_in_one_statement_makes_the_rows_the_orms_way_makes(
    core: Core, clock: ManualClock
) -> None:
    one = InboundMessage(ConversationRef("fake", "u1"), "m1", text="你好", display_name="Dee", language="en")
    other = InboundMessage(ConversationRef("fake", "u2"), "m2", text="你好", display_name="Dee", language="en")
    async with core.db.transaction() as session:
        made = await create_first_contact(session, one, clock.now(), "ja", 4000)
        assert made is not None
        client, identity, conversation, message_id = made
        # In the session as a query would have loaded them.
        assert await session.get(Conversation, conversation.id) is conversation
    async with core.db.transaction() as session:
        orm_client, orm_identity, _ = await find_or_create_identity(session, other, clock.now())
        orm_conversation, _ = await find_or_create_conversation(
            session, orm_client, orm_identity, other, clock.now(), "ja", new_identity=True
        )
        orm_message_id = await store_inbound(session, orm_conversation, other, clock.now(), 4000)
    async with core.db.transaction() as session:
        rows = {
            name: [await session.get(cls, key) for key in keys]
            for name, cls, keys in (
                ("client", Client, (client.id, orm_client.id)),
                ("identity", ChannelIdentity, (identity.id, orm_identity.id)),
                ("conversation", Conversation, (conversation.id, orm_conversation.id)),
                ("message", Message, (message_id, orm_message_id)),
            )
        }
    ids = {"id", "client_id", "identity_id", "conversation_id", "external_id", "ref"}
    for name, (ours, orms) in rows.items():
        assert _columns(ours, ids) == _columns(orms, ids), name
    assert (rows["client"][0].name, rows["client"][0].tier, rows["conversation"][0].language) == ("Dee", "C", "ja")
    assert rows["conversation"][0].ref == one.ref.to_json() and rows["message"][0].external_id == "m1"
    # What was adopted is what was written.
    assert _columns(conversation, set()) == _columns(rows["conversation"][0], set())


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_first_contact_whose_address_has_an_identity_goes_the_orms_way_and_makes_no_client(
    core: Core, clock: ManualClock
) -> None:
    msg = InboundMessage(ConversationRef("fake", "u1"), "m1", text="你好")
    async with core.db.transaction() as session:
        await find_or_create_identity(session, msg, clock.now())  # an identity without a conversation
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(core.db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        async with core.db.transaction() as session:
            assert await create_first_contact(session, msg, clock.now(), "zh", 4000) is None
    finally:
        event.remove(core.db.engine.sync_engine, "before_cursor_execute", seen)
    # Known without a client made and taken back.
    assert len(statements) == 1 and not any(s.startswith("DELETE") for s in statements), statements
    core.registry.register(FakeChannel())
    await core.engine.receive(msg)
    async with core.db.transaction() as session:
        counts = [
            (await session.execute(select(func.count()).select_from(cls))).scalar_one()
            for cls in (Client, ChannelIdentity, Conversation, Message)
        ]
    assert counts[:3] == [1, 1, 1] and counts[3] >= 1


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_two_first_contacts_in_one_statement_at_once_leave_one_client(core: Core, clock: ManualClock) -> None:
    msg = InboundMessage(ConversationRef("fake", "u1"), "m1", text="你好")

    async def first_contact(session: AsyncSession) -> int | None:
        made = await create_first_contact(session, msg, clock.now(), "zh", 4000)
        return None if made is None else made[2].id

    first, later = await _at_once(core, first_contact)
    # The second waited on the first's identity, then made nothing but its client, which it took back.
    assert first is not None and later is None
    async with core.db.transaction() as session:
        counts = [
            (await session.execute(select(func.count()).select_from(cls))).scalar_one()
            for cls in (Client, ChannelIdentity, Conversation, Message)
        ]
    assert counts == [1, 1, 1, 1]
