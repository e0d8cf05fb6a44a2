"""What turns cost the database: the statements of a client's turn and of a batch of timer turns, with their effects."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import event, select

from bots.wechat.window import OpensWindow, ReplyWindow
from core.channel import SendResult, Undelivered
from core.channel_state import ChannelStateStore, _put_new
from core.clock import ManualClock, as_utc
from core.db.models import ChannelState, FollowUp, Message, OutboxMessage
from core.db.session import execute_carrying
from core.messages import ConversationRef, OutboundMessage
from core.outbox import LEASE, SENDING
from core.wiring import Core
from tests.support.fakes import FakeChannel, inbound


@contextmanager
def recorded(core: Core) -> Iterator[list[str]]:
    """Every statement sent to the database meanwhile, upper-cased on one line."""
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(" ".join(statement.split()).upper())

    engine = core.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def starting(statements: list[str], prefix: str) -> list[str]:
    return [s for s in statements if s.startswith(prefix)]


async def _second_turn(core: Core, channel: FakeChannel) -> list[str]:
    """A known client's turn that schedules its idle timers and answers, with the reply's delivery."""
    core.registry.register(channel)
    await core.engine.receive(inbound("我要投诉，你们的广告投放一直没效果", "m1"))
    with recorded(core) as statements:
        await core.engine.receive(inbound("双十一活动", "m2"))
    return statements


async def test_a_known_clients_turn_and_its_reply_s_delivery_cost_four_statements_on_postgresql(
    core: Core,
) -> None:
    channel = FakeChannel()
    statements = await _second_turn(core, channel)
    assert len(channel.sent) == 2 and [r.status for r in await _outbox(core)] == ["sent", "sent"]
    if core.db.is_sqlite:
        # The timers, the reply's message and its outbox row each have their own INSERT there, and each of
        # the three transactions its BEGIN IMMEDIATE (the send's result commits before the look for a next row).
        assert len(statements) == 11, statements
    else:
        # The lock with the client's message; the conversation's UPDATE and the timers with the reply (written
        # claimed); then the send's result and the claim of a next row (which finds none), each a statement without
        # BEGIN and COMMIT around it. No claim of its own before the send.
        assert len(statements) == 4, statements
        locking, carrying = starting(statements, "WITH")
        assert "FOR UPDATE OF CONVERSATIONS" in locking and "INSERT INTO MESSAGES" in locking
        assert "INSERT INTO FOLLOWUPS" in carrying and "UPDATE CONVERSATIONS" in carrying
    settled, next_claim = starting(statements, "UPDATE OUTBOX")
    assert "RETURNING" not in settled, "the send's result first: the turn claimed its reply, no claim before the send"
    assert "GROUP BY OUTBOX.CONVERSATION_ID" in next_claim and "RETURNING" in next_claim, next_claim


async def test_a_first_contact_is_one_statement_on_postgresql_and_a_savepoint_guards_the_identity_elsewhere(
    core: Core,
) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    with recorded(core) as statements:
        await core.engine.receive(inbound("你好", "m1"))
    assert len(channel.sent) == 1
    if not core.db.is_sqlite:
        # After the lookup that finds no one: the client, the identity, the conversation and the message in one
        # statement; no savepoint, no flush.
        first = statements[1]
        for table in ("CLIENTS", "CHANNEL_IDENTITIES", "CONVERSATIONS", "MESSAGES"):
            assert f"INSERT INTO {table} " in first, first
        assert "ON CONFLICT (CHANNEL, ACCOUNT, EXTERNAL_ID) DO NOTHING" in first
        assert not starting(statements, "SAVEPOINT") and not starting(statements, "INSERT INTO"), statements
        return
    inserts = [s.split("(")[0] for s in starting(statements, "INSERT INTO")]
    assert inserts[:3] == ["INSERT INTO CLIENTS ", "INSERT INTO CHANNEL_IDENTITIES ", "INSERT INTO CONVERSATIONS "]
    # The new identity's conversation cannot collide with another transaction's (none sees the identity yet).
    assert len(starting(statements, "SAVEPOINT")) == len(starting(statements, "RELEASE SAVEPOINT")) == 1, statements
    (release,) = [i for i, s in enumerate(statements) if s.startswith("RELEASE SAVEPOINT")]
    assert statements[release - 1].startswith("INSERT INTO CHANNEL_IDENTITIES"), statements


async def test_a_reply_written_claimed_is_sent_once_by_the_turn_and_never_by_the_sweep(
    core: Core, clock: ManualClock
) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    result = await core.engine.receive(inbound("你好", "m1"), Undelivered(claim=True))
    [row] = await _outbox(core)
    assert row.status == SENDING and row.attempts == 1 and as_utc(row.lease_until) == clock.now() + LEASE
    assert await core.dispatcher.deliver_due() == 0, "the lease keeps the sweep away"
    assert await core.dispatcher.deliver_turn(result.conversation_id or 0, result.outgoing) == 1
    clock.advance(LEASE * 2)
    assert await core.dispatcher.deliver_due() == 0
    assert len(channel.sent) == 1 and [r.status for r in await _outbox(core)] == ["sent"]


async def test_a_turn_behind_an_unsent_reply_does_not_claim_its_own(core: Core) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    first = await core.engine.receive(inbound("你好", "m1"), Undelivered(claim=True))
    with recorded(core) as statements:
        second = await core.engine.receive(inbound("2", "m2"), Undelivered(claim=True))
    assert first.outgoing[0].claimed and not any(o.claimed for o in second.outgoing)
    # A reply on its way is not parked: nothing to unpark, so no UPDATE of the outbox.
    assert starting(statements, "UPDATE OUTBOX") == [] and second.unparked == 0
    assert [r.status for r in await _outbox(core)] == [SENDING, "pending"]
    # The first one's delivery goes on to the next row once its own is sent: in order, each once.
    assert await core.dispatcher.deliver_turn(first.conversation_id or 0, first.outgoing) == 2
    assert "您好" in channel.sent[0][1] and "投诉" in channel.sent[1][1] and len(channel.sent) == 2


async def test_a_claim_that_waited_long_is_renewed_and_one_whose_lease_ran_out_is_left_to_the_sweep(
    core: Core, clock: ManualClock
) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    kept = await core.engine.receive(inbound("你好", "m1", user="u1"), Undelivered(claim=True))
    lost = await core.engine.receive(inbound("你好", "m2", user="u2"), Undelivered(claim=True))
    clock.advance(LEASE * 0.75)
    assert await core.dispatcher.deliver_turn(kept.conversation_id or 0, kept.outgoing) == 1
    clock.advance(LEASE * 0.5)
    # Past its lease another process may have taken the row: the turn's delivery does not send it.
    assert await core.dispatcher.deliver_turn(lost.conversation_id or 0, lost.outgoing) == 0
    assert await core.dispatcher.deliver_due() == 1
    assert sorted(user for user, _ in channel.sent) == ["u1", "u2"]


async def test_a_claim_is_renewed_once_half_its_lease_is_gone_before_its_send(core: Core, clock: ManualClock) -> None:
    leases: list[datetime] = []

    class SeesTheLease(FakeChannel):
        async def send(self, ref: ConversationRef, message: OutboundMessage) -> SendResult:
            async with core.db.transaction() as session:
                [lease] = (
                    await session.execute(select(OutboxMessage.lease_until).where(OutboxMessage.status == SENDING))
                ).scalars()
            assert lease is not None
            leases.append(as_utc(lease))
            return await super().send(ref, message)

    core.registry.register(SeesTheLease())
    half = await core.engine.receive(inbound("你好", "m1", user="u1"), Undelivered(claim=True))
    clock.advance(LEASE / 2)
    assert await core.dispatcher.deliver_turn(half.conversation_id or 0, half.outgoing) == 1
    assert leases == [clock.now() + LEASE], "half the lease gone: renewed"
    sooner = await core.engine.receive(inbound("你好", "m2", user="u2"), Undelivered(claim=True))
    claimed_at = clock.now()
    clock.advance(LEASE / 2 - timedelta(seconds=1))
    assert await core.dispatcher.deliver_turn(sooner.conversation_id or 0, sooner.outgoing) == 1
    assert leases[1:] == [claimed_at + LEASE], "less than half gone: the lease it was written with"


async def test_the_reply_window_rides_with_the_client_s_message(core: Core, clock: ManualClock) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    window = ReplyWindow(ChannelStateStore(core.db, clock), "fake:w")
    await core.engine.receive(inbound("你好", "m1"))
    message = inbound("2", "m2")
    with recorded(core) as statements:
        await core.engine.receive(message, OpensWindow(window, message))
    async with core.db.transaction() as session:
        [state] = (await session.execute(select(ChannelState))).scalars()
    assert state.value["msg"] == "m2" and await window.remaining("default", "u1") == 5
    windows = [s for s in statements if "INTO CHANNEL_STATE" in s]
    assert len(windows) == 1
    if not core.db.is_sqlite:
        assert windows[0].startswith("WITH") and "INSERT INTO MESSAGES" in windows[0]


async def test_carried_writes_go_with_the_next_carrying_statement_or_alone_or_at_commit(
    core: Core, clock: ManualClock
) -> None:
    store = ChannelStateStore(core.db, clock)
    fresh = {"msg": "m1", "at": clock.now().isoformat(), "sent": 0}
    with recorded(core) as statements:
        async with core.db.transaction() as session:
            await store.put_new_in(session, "k1", fresh, None, marker="msg")
            await store.put_new_in(session, "k2", fresh, None, marker="msg")
            # Same parameter names as both carried writes: they cannot ride in it, and go alone first.
            params = {"key": "k3", "value": fresh, "expires_at": None, "now": clock.now(), "marker_value": "m1"}
            await execute_carrying(session, _put_new(session.get_bind().dialect.name, "msg"), params)
        async with core.db.transaction() as session:
            await store.put_new_in(session, "k4", fresh, None, marker="msg")  # nothing carries it: at commit
    async with core.db.transaction() as session:
        keys = sorted((await session.execute(select(ChannelState.key))).scalars())
    assert keys == ["k1", "k2", "k3", "k4"]
    assert len([s for s in statements if "INTO CHANNEL_STATE" in s]) == 4


async def _outbox(core: Core) -> list[OutboxMessage]:
    async with core.db.transaction() as session:
        return list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


async def test_a_turn_schedules_its_idle_reminder_and_timeout_with_one_insert(core: Core) -> None:
    core.registry.register(FakeChannel())
    await core.engine.receive(inbound("我要投诉，你们的广告投放一直没效果", "m1"))
    with recorded(core) as statements:
        await core.engine.receive(inbound("双十一活动", "m2"))
    async with core.db.transaction() as session:
        rows = (await session.execute(select(FollowUp).where(FollowUp.idempotency_key.like("%:turn:2")))).scalars()
        timers = {row.payload["timer"]: row for row in rows}
    assert set(timers) == {"idle_reminder", "idle_abandon"}
    assert as_utc(timers["idle_reminder"].due_at) < as_utc(timers["idle_abandon"].due_at)
    assert all(row.status == "pending" and row.payload["turn"] == 2 for row in timers.values())
    # One statement of its own on SQLite; on PostgreSQL inside the reply's (see below).
    assert len([s for s in statements if "INSERT INTO FOLLOWUPS" in s]) == 1


async def test_a_reply_and_its_outbox_row_are_one_statement_on_postgresql(core: Core) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    await core.engine.receive(inbound("我要投诉，你们的广告投放一直没效果", "m1"))
    with recorded(core) as statements:
        result = await core.engine.receive(inbound("双十一活动", "m2"))
    async with core.db.transaction() as session:
        row = (
            await session.execute(select(OutboxMessage).where(OutboxMessage.id == result.outbox_ids[0]))
        ).scalar_one()
        message = await session.get(Message, row.message_id)
    assert message is not None and message.direction == "out" and row.in_reply_to == result.message_id
    assert message.text == row.payload["text"] == channel.sent[-1][1]
    outbox_inserts = [s for s in statements if "INSERT INTO OUTBOX" in s]
    reply_inserts = [s for s in statements if "INSERT INTO MESSAGES" in s and "'OUT'" not in s]
    if core.db.is_sqlite:
        assert len(outbox_inserts) == 1 and len(reply_inserts) == 2  # the client's message, then the reply's
    else:
        assert len(outbox_inserts) == 1 and "INSERT INTO MESSAGES" in outbox_inserts[0]
        assert len(reply_inserts) == 2, "the client's message, and the reply's inside the outbox statement"


async def test_a_greeting_looks_its_ticket_up_without_flushing_the_conversation_first(core: Core) -> None:
    core.registry.register(FakeChannel())
    await core.engine.receive(inbound("你好", "m1"))
    with recorded(core) as statements:
        await core.engine.receive(inbound("你好", "m2"))
    assert starting(statements, "SELECT TICKETS"), "the greeting looks for the client's latest ticket"
    # Once, at the end of the turn: alone on SQLite, inside the reply's statement on PostgreSQL.
    assert len([s for s in statements if "UPDATE CONVERSATIONS" in s]) == 1


async def test_a_classifying_turn_stores_the_verdict_inside_the_reply_s_statement_on_postgresql(core: Core) -> None:
    core.registry.register(FakeChannel())
    await core.engine.receive(inbound("你好", "m1"))
    with recorded(core) as statements:
        result = await core.engine.receive(inbound("我要投诉，你们的广告投放一直没效果", "m2"))
    async with core.db.transaction() as session:
        message = await session.get(Message, result.message_id)
    assert message is not None and message.payload["classified"]["category"] == "complaint"
    own = starting(statements, "UPDATE MESSAGES")
    if core.db.is_sqlite:
        assert len(own) == 1
    else:
        assert own == [], "the verdict rides with the reply"
        assert len([s for s in statements if "UPDATE MESSAGES" in s]) == 1


async def _idle_round(core: Core, clock: ManualClock, users: list[str]) -> list[str]:
    """Each user starts a complaint and goes quiet; the statements of the run that reminds them all."""
    for user in users:
        await core.engine.receive(inbound("我要投诉，你们的广告投放一直没效果", f"{user}-1", user=user))
    async with core.db.transaction() as session:
        query = select(FollowUp.due_at).where(
            FollowUp.status == "pending", FollowUp.payload["timer"].as_string() == "idle_reminder"
        )
        due = max(as_utc(d) for d in (await session.execute(query)).scalars())
    clock.set(due)
    with recorded(core) as statements:
        assert await core.followups.run_due() == len(users)
    return statements


async def test_a_batch_of_timer_turns_costs_as_many_statements_for_eight_conversations_as_for_two(
    core: Core, clock: ManualClock
) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    two = await _idle_round(core, clock, ["a1", "a2"])
    eight = await _idle_round(core, clock, [f"b{i}" for i in range(8)])
    reminded = [user for user, text in channel.sent if "您还在吗" in text]
    if core.db.is_sqlite:
        # SQLAlchemy inserts rows whose ids it returns in order one at a time on SQLite: the replies' INSERTs.
        two, eight = ([s for s in run if not s.startswith("INSERT INTO")] for run in (two, eight))
    assert len(eight) == len(two)
    assert len(starting(eight, "UPDATE CONVERSATIONS")) == 1
    assert len(starting(eight, "SELECT CHANNEL_IDENTITIES")) == 1
    assert sorted(set(reminded)) == sorted(["a1", "a2", *[f"b{i}" for i in range(8)]])
