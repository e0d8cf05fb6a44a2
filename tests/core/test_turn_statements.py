"""What turns cost the database: the statements of a client's turn and of a batch of timer turns, with their effects."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, select

from core.clock import ManualClock, as_utc
from core.db.models import FollowUp, Message, OutboxMessage
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
    assert len(starting(statements, "INSERT INTO FOLLOWUPS")) == 1


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
    assert len(starting(statements, "UPDATE CONVERSATIONS")) == 1


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
