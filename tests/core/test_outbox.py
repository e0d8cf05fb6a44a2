"""Outbox delivery: order per conversation, retries with backoff, visible failures, recovery after a crash."""

from __future__ import annotations

import asyncio
import itertools
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.channel import (
    PermanentSendError,
    SendResult,
    Throttled,
    TransientSendError,
    TurnOutcome,
    Undelivered,
    WindowClosed,
)
from core.clock import ManualClock, as_utc
from core.db.models import Conversation, OutboxMessage, Ticket, TicketEvent, User
from core.db.session import POOL_SIZE
from core.engine import ReceiveResult
from core.live import LiveEvent
from core.messages import ConversationRef, OutboundMessage
from core.outbox import DELIVERED, IN_RESPONSE, LEASE, OutboxDispatcher
from core.wiring import Core, build_core
from tests.support.core import start_core
from tests.support.fakes import FakeChannel, inbound

HOLD = timedelta(seconds=10)


async def _rows(core: Core) -> list[OutboxMessage]:
    async with core.db.transaction() as session:
        return list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


async def test_buttons_degrade_to_numbers_and_the_number_is_the_answer(core: Core) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    await core.engine.receive(inbound("你好", "m1"))
    assert "请回复数字选择：1 咨询 · 2 投诉 · 3 建议 · 4 其他" in channel.sent[-1][1]
    await core.engine.receive(inbound("2", "m2"))
    assert "【投诉】" in channel.sent[-2][1] or "【投诉】" in channel.sent[-1][1]


async def test_crash_between_commit_and_send_loses_nothing(core: Core, clock: ManualClock) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    result = await core.engine.receive(inbound("你好", "m1"), Undelivered())  # the process dies here
    assert result.status == "accepted" and channel.sent == []
    await core.stop()

    again = build_core(core.settings, clock)
    again.registry.register(channel)
    await start_core(again)
    try:
        assert await again.dispatcher.deliver_due() == 1
        assert await again.dispatcher.deliver_due() == 0
        assert len(channel.sent) == 1 and "您好" in channel.sent[0][1]
        assert [r.status for r in await _rows(again)] == ["sent"]
    finally:
        await again.stop()


async def test_transient_failures_retry_in_order(core: Core, clock: ManualClock) -> None:
    channel = FakeChannel(fail_transient=2, retry_after=30)
    core.registry.register(channel)
    await core.engine.receive(inbound("你好", "m1"))
    await core.engine.receive(inbound("1", "m2"))
    assert channel.sent == []
    rows = await _rows(core)
    assert rows[0].status == "pending" and rows[0].last_error == "HTTP 502"
    # Nothing is due before retry_after; the later rows wait behind the first.
    clock.advance(timedelta(seconds=10))
    assert await core.dispatcher.deliver_due() == 0
    for _ in range(3):
        clock.advance(timedelta(seconds=31))
        await core.dispatcher.deliver_due()
    texts = [text for _, text in channel.sent]
    assert len(texts) == len(rows) and "您好" in texts[0]
    assert [r.status for r in await _rows(core)] == ["sent"] * len(rows)


async def test_permanent_failure_is_visible_and_not_retried(core: Core, clock: ManualClock) -> None:
    channel = FakeChannel(fail_permanent=True)
    core.registry.register(channel)
    await core.engine.receive(inbound("你好", "m1"))
    rows = await _rows(core)
    assert [(r.status, r.last_error, r.attempts) for r in rows] == [("failed", "blocked by the user", 1)]
    clock.advance(timedelta(hours=1))
    await core.dispatcher.deliver_due()
    assert (await _rows(core))[0].attempts == 1


async def test_gives_up_after_max_attempts(core: Core, clock: ManualClock) -> None:
    channel = FakeChannel(fail_transient=100)
    core.registry.register(channel)
    await core.engine.receive(inbound("你好", "m1"))
    for _ in range(core.settings.outbox_max_attempts + 2):
        clock.advance(timedelta(minutes=11))
        await core.dispatcher.deliver_due()
    row = (await _rows(core))[0]
    assert row.status == "failed" and row.attempts == core.settings.outbox_max_attempts


async def test_concurrent_dispatchers_send_each_row_once(core: Core, clock: ManualClock) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    for i in range(5):
        await core.engine.receive(inbound("你好", f"m{i}", user=f"user{i}"), Undelivered())
    other = build_core(core.settings, clock)
    other.registry.register(channel)
    try:
        await asyncio.gather(
            core.dispatcher.deliver_due(), other.dispatcher.deliver_due(), core.dispatcher.deliver_due()
        )
    finally:
        await other.stop()
    assert sorted(user for user, _ in channel.sent) == [f"user{i}" for i in range(5)]


async def test_held_replies_answered_in_the_webhook_response_are_never_sent_again(
    core: Core, clock: ManualClock
) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    result = await core.engine.receive(inbound("你好", "m1"), Undelivered(hold=timedelta(seconds=10)))
    assert len(result.outbox_ids) == 1 and "您好" in result.replies[0].text
    assert await core.dispatcher.deliver_due() == 0, "held rows are invisible to the sweep"
    assert await core.dispatcher.answered_in_response(result.outbox_ids) is True
    clock.advance(timedelta(minutes=5))
    assert await core.dispatcher.deliver_due() == 0
    assert channel.sent == []
    assert [r.status for r in await _rows(core)] == ["sent"]


async def test_held_replies_released_when_the_webhook_ran_out_of_time(core: Core, clock: ManualClock) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    result = await core.engine.receive(inbound("你好", "m1"), Undelivered(hold=timedelta(seconds=10)))
    await core.dispatcher.send_held_now(result.outbox_ids)
    assert len(channel.sent) == 1
    assert await core.dispatcher.answered_in_response(result.outbox_ids) is False


async def test_closed_window_parks_replies_until_the_client_writes(core: Core, clock: ManualClock) -> None:
    from core.channel import WindowClosed

    class Windowed(FakeChannel):
        closed: bool = True

        async def send(self, ref, message):  # type: ignore[no-untyped-def]
            if self.closed:
                raise WindowClosed("48-hour window closed")
            return await super().send(ref, message)

    channel = Windowed()
    core.registry.register(channel)
    await core.engine.receive(inbound("人工", "m1"))
    rows = await _rows(core)
    assert [(r.status, r.last_error) for r in rows] == [("window_closed", "48-hour window closed")]
    clock.advance(timedelta(days=3))
    assert await core.dispatcher.deliver_due() == 0, "parked rows wait for the client"
    channel.closed = False
    await core.engine.receive(inbound("还在吗", "m2"))
    texts = [text for _, text in channel.sent]
    assert len(texts) == 2 and "人工客服" in texts[0], "the parked reply goes first"
    assert {r.status for r in await _rows(core)} == {"sent"}


async def test_blocked_client_is_marked_unreachable_and_not_written_to(core: Core, clock: ManualClock) -> None:
    from core.channel import RecipientGone
    from core.db.models import ChannelIdentity

    class Blocked(FakeChannel):
        async def send(self, ref, message):  # type: ignore[no-untyped-def]
            raise RecipientGone("Forbidden: bot was blocked by the user")

    core.registry.register(Blocked())
    await core.engine.receive(inbound("我要投诉", "m1"))
    async with core.db.transaction() as session:
        assert (await session.execute(select(ChannelIdentity.reachable))).scalar_one() is False
    before = len(await _rows(core))
    clock.advance(timedelta(minutes=11))
    await core.followups.run_due()  # the idle reminder: recorded, not sent
    assert len(await _rows(core)) == before
    assert [r.status for r in await _rows(core)] == ["failed"] * before


async def test_throttled_sends_wait_without_using_up_attempts(core: Core, clock: ManualClock) -> None:
    from core.channel import Throttled

    class Busy(FakeChannel):
        waits: int = 20

        async def send(self, ref, message):  # type: ignore[no-untyped-def]
            if self.waits:
                self.waits -= 1
                raise Throttled("rate limit", retry_after=2)
            return await super().send(ref, message)

    channel = Busy()
    core.registry.register(channel)
    await core.engine.receive(inbound("你好", "m1"))
    for _ in range(25):
        clock.advance(timedelta(seconds=3))
        await core.dispatcher.deliver_due()
    rows = await _rows(core)
    assert [(r.status, r.attempts) for r in rows] == [("sent", 1)], "twenty waits cost no attempt"
    assert len(channel.sent) == 1


async def test_replies_answered_inside_the_turn_are_written_as_sent_and_never_sent_again(
    core: Core, clock: ManualClock
) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    seen: list[list[str]] = []

    class Answers(Undelivered):
        def answer(self, result: ReceiveResult) -> bool:
            # Asked before the commit, with the turn's replies but no outbox ids yet.
            seen.append([r.text for r in result.replies])
            assert result.outbox_ids == []
            return True

    result = await core.engine.receive(inbound("你好", "m1"), Answers(hold=HOLD))
    assert len(seen) == 1 and "您好" in seen[0][0]
    [row] = await _rows(core)
    assert result.outbox_ids == [row.id]
    assert (row.status, row.attempts, row.external_id) == ("sent", 1, IN_RESPONSE)
    assert row.sent_at is not None
    clock.advance(timedelta(minutes=5))
    assert await core.dispatcher.deliver_due() == 0
    assert channel.sent == []
    # A request cancelled after the turn took the answer: the reply goes out through the channel instead.
    await core.dispatcher.resend(result.outbox_ids)
    assert len(channel.sent) == 1 and "您好" in channel.sent[0][1]
    assert [r.status for r in await _rows(core)] == ["sent"]


async def test_a_declined_answer_leaves_the_replies_held_for_the_outbox(core: Core, clock: ManualClock) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    result = await core.engine.receive(inbound("你好", "m1"), Undelivered(hold=HOLD))
    [row] = await _rows(core)
    assert (row.status, row.attempts) == ("pending", 0)
    assert await core.dispatcher.deliver_due() == 0, "still held"
    await core.dispatcher.send_held_now(result.outbox_ids)
    assert len(channel.sent) == 1


async def test_each_send_is_recorded_when_it_returns_not_when_the_slowest_of_its_batch_does(
    core: Core,
) -> None:
    # A kill -9 repeats only the sends whose result is not recorded: the quick ones must be, while one hangs.
    slow_user, released = "slow", asyncio.Event()

    class OneSlowChannel(FakeChannel):
        async def send(self, ref: ConversationRef, message: OutboundMessage) -> SendResult:
            if ref.external_user_id == slow_user:
                await released.wait()
            return await super().send(ref, message)

    channel = OneSlowChannel()
    core.registry.register(channel)
    users = [slow_user, "quick1", "quick2"]
    for i, user in enumerate(users):
        await core.engine.receive(inbound("你好", f"m{i}", user=user), Undelivered())
    sweep = asyncio.create_task(core.dispatcher.deliver_due())

    async def quick_ones_recorded() -> bool:
        return sum(r.status == "sent" for r in await _rows(core)) == len(users) - 1

    for _ in range(200):
        if await quick_ones_recorded():
            break
        await asyncio.sleep(0.01)
    assert await quick_ones_recorded(), "the quick sends' results waited for the slow one"
    assert not sweep.done()
    released.set()
    assert await sweep == len(users)
    assert [r.status for r in await _rows(core)] == ["sent"] * len(users)


async def test_replies_older_than_the_cutoff_are_not_sent_after_a_restore(core: Core, clock: ManualClock) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    # A backup taken while two replies waited; restored (and started) two days later.
    await core.engine.receive(inbound("你好", "m1"), Undelivered())
    await core.engine.receive(inbound("1", "m2"), Undelivered())
    clock.advance(timedelta(days=2))
    await core.engine.receive(inbound("在吗", "m3"), Undelivered())  # written after the restore
    assert await core.dispatcher.expire_stale(timedelta(hours=24)) == 2
    assert await core.dispatcher.deliver_due() == 1
    assert len(channel.sent) == 1
    rows = await _rows(core)
    assert [r.status for r in rows] == ["failed", "failed", "sent"]
    assert all(r.last_error and r.last_error.startswith("stale") for r in rows[:2])


class _CallClock(FakeChannel):
    """Records the manual clock's time of every send call, failed or not."""

    def __init__(self, clock: ManualClock, *, throttle_after: float | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.clock = clock
        self.calls: list[float] = []
        self.throttle_after = throttle_after

    async def send(self, ref: ConversationRef, message: OutboundMessage) -> SendResult:
        self.calls.append(self.clock.now().timestamp())
        if self.throttle_after is not None:
            wait, self.throttle_after = self.throttle_after, None
            raise Throttled("flood control", retry_after=wait)
        return await super().send(ref, message)


# Just under and just over a bound, so the jitter (×1.00 to ×1.25) cannot make the test flaky.
EPSILON = timedelta(milliseconds=5)


async def test_the_retry_schedule_doubles_from_one_second_and_stops_at_ten_minutes(
    core: Core, clock: ManualClock
) -> None:
    channel = _CallClock(clock, fail_transient=1000)
    core.registry.register(channel)
    dispatcher = OutboxDispatcher(core.db, core.registry, clock, max_attempts=12)
    await core.engine.receive(inbound("你好", "m1"), Undelivered())
    await dispatcher.deliver_due()
    assert len(channel.calls) == 1
    # The wait after failed attempt n is 2^(n-1) s to 1.25 × that, never more than 600 s.
    for attempt in range(1, 12):
        shortest = min(600.0, 2.0 ** (attempt - 1))
        longest = min(600.0, shortest * 1.25)
        clock.advance(timedelta(seconds=shortest) - EPSILON)
        await dispatcher.deliver_due()
        assert len(channel.calls) == attempt, f"attempt {attempt + 1} came before {shortest} s"
        clock.advance(timedelta(seconds=longest - shortest) + 2 * EPSILON)
        await dispatcher.deliver_due()
        assert len(channel.calls) == attempt + 1, f"attempt {attempt + 1} not made within {longest} s"
    gaps = [b - a for a, b in itertools.pairwise(channel.calls)]
    assert gaps[0] < 1.3 and gaps[5] > 32 - 0.01 and gaps[-1] == pytest.approx(600, abs=0.01)
    # The twelfth failure is the last: the row has failed and nothing calls the channel again.
    clock.advance(timedelta(hours=1))
    await dispatcher.deliver_due()
    assert len(channel.calls) == 12
    assert [r.status for r in await _rows(core)] == ["failed"]


async def test_a_longer_retry_after_of_a_failed_send_wins_over_the_backoff(core: Core, clock: ManualClock) -> None:
    channel = _CallClock(clock, fail_transient=1, retry_after=45)
    core.registry.register(channel)
    await core.engine.receive(inbound("你好", "m1"))
    assert len(channel.calls) == 1 and channel.sent == []
    clock.advance(timedelta(seconds=45) - EPSILON)
    assert await core.dispatcher.deliver_due() == 0
    assert len(channel.calls) == 1, "the network said 45 s; the channel was called again sooner"
    clock.advance(2 * EPSILON)
    assert await core.dispatcher.deliver_due() == 1
    assert len(channel.calls) == 2


async def test_flood_control_waits_exactly_the_retry_after_it_was_given(core: Core, clock: ManualClock) -> None:
    channel = _CallClock(clock, throttle_after=30)
    core.registry.register(channel)
    await core.engine.receive(inbound("你好", "m1"))
    assert len(channel.calls) == 1 and channel.sent == []
    for _ in range(29):
        clock.advance(timedelta(seconds=1))
        assert await core.dispatcher.deliver_due() == 0
    clock.advance(timedelta(seconds=1) - EPSILON)
    assert await core.dispatcher.deliver_due() == 0
    assert len(channel.calls) == 1, "flood control said 30 s; the channel was called again sooner"
    clock.advance(2 * EPSILON)
    assert await core.dispatcher.deliver_due() == 1
    assert [(r.status, r.attempts) for r in await _rows(core)] == [("sent", 1)]


async def test_a_sends_result_is_recorded_ahead_of_the_turns_waiting_for_the_database(core: Core) -> None:
    # Until its result commits, a kill -9 repeats the send: it must not wait in line behind turns.
    channel = FakeChannel()
    core.registry.register(channel)
    result = await core.engine.receive(inbound("你好", "m1"), Undelivered(claim=True))
    assert result.conversation_id is not None
    [row] = await _rows(core)
    assert row.status == "sending"

    async def status() -> str:
        # Read beside the line, which is full.
        async with core.db.engine.connect() as conn:
            return str((await conn.execute(select(OutboxMessage.status))).scalar_one())

    places = 1 if core.db.is_sqlite else POOL_SIZE
    gate, holding, seen = asyncio.Event(), asyncio.Semaphore(0), list[str]()

    async def turn_holding_a_place() -> None:
        async with core.db.transaction():
            holding.release()
            await gate.wait()

    async def turn_waiting() -> None:
        async with core.db.transaction():
            seen.append(await status())

    holders = [asyncio.create_task(turn_holding_a_place()) for _ in range(places)]
    for _ in range(places):
        await holding.acquire()
    waiters = [asyncio.create_task(turn_waiting()) for _ in range(3)]
    await asyncio.sleep(0.05)
    delivery = asyncio.create_task(core.dispatcher.deliver_turn(result.conversation_id, result.outgoing))
    if not core.db.is_sqlite:
        # PostgreSQL keeps places for these writes: recorded while every other place is held.
        for _ in range(200):
            if await status() == "sent":
                break
            await asyncio.sleep(0.01)
        assert await status() == "sent"
    await asyncio.sleep(0.05)
    gate.set()
    await asyncio.gather(*holders, *waiters)
    assert await delivery == 1
    assert seen == ["sent"] * 3, "a turn that waited for the database got a place before the send's result"


async def test_a_late_result_does_not_overwrite_the_row_of_the_claim_that_took_it_over(
    core: Core, clock: ManualClock
) -> None:
    # The first claim's send hangs past its lease; another dispatcher takes the row over and sends it.
    released = asyncio.Event()

    class FirstHangsThenFails(FakeChannel):
        calls = 0

        async def send(self, ref: ConversationRef, message: OutboundMessage) -> SendResult:
            self.calls += 1
            if self.calls == 1:
                await released.wait()
                raise TransientSendError("timed out")
            return await super().send(ref, message)

    channel = FirstHangsThenFails()
    core.registry.register(channel)
    await core.engine.receive(inbound("你好", "m1"), Undelivered())
    first = asyncio.create_task(core.dispatcher.deliver_due())
    for _ in range(200):
        if channel.calls:
            break
        await asyncio.sleep(0.01)
    clock.advance(LEASE + timedelta(seconds=1))
    assert await OutboxDispatcher(core.db, core.registry, clock).deliver_due() == 1
    released.set()
    assert await first == 0
    [row] = await _rows(core)
    # Not pending again (it would be sent a second time): the late result was the old claim's.
    assert (row.status, row.attempts) == ("sent", 2)
    assert len(channel.sent) == 1


class _PerClient(FakeChannel):
    """Refuses some clients for good, finds the reply window of others closed, is busy for some; sends to the rest."""

    def __init__(
        self,
        *,
        refused: tuple[str, ...] = (),
        closed: tuple[str, ...] = (),
        busy: tuple[str, ...] = (),
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.refused = set(refused)
        self.closed = set(closed)
        self.busy = set(busy)
        self.calls: list[str] = []

    async def send(self, ref: ConversationRef, message: OutboundMessage) -> SendResult:
        self.calls.append(ref.external_user_id)
        if ref.external_user_id in self.busy:
            raise TransientSendError("busy", retry_after=30)
        if ref.external_user_id in self.refused:
            raise PermanentSendError("refused")
        if ref.external_user_id in self.closed:
            raise WindowClosed("window closed")
        return await super().send(ref, message)


class _Answering(Undelivered):
    """A webhook that carries the turn's replies in its own response."""

    def answer(self, result: TurnOutcome) -> bool:
        return True


async def _by_client(core: Core) -> dict[str, list[OutboxMessage]]:
    rows: dict[str, list[OutboxMessage]] = {}
    for row in await _rows(core):
        rows.setdefault(row.ref["external_user_id"], []).append(row)
    return rows


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "core.outbox" and r.levelno == logging.WARNING]


async def test_only_pending_replies_written_longer_ago_than_the_cutoff_expire(
    core: Core, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    core.registry.register(_PerClient(closed=("parked",)))
    await core.engine.receive(inbound("你好", "m1", user="sent"))
    await core.engine.receive(inbound("你好", "m2", user="parked"))
    await core.engine.receive(inbound("你好", "m3", user="waiting"), Undelivered())
    caplog.set_level(logging.WARNING, logger="core.outbox")
    clock.advance(timedelta(hours=24))
    assert await core.dispatcher.expire_stale(timedelta(hours=24)) == 0, "written exactly the cutoff ago"
    assert _warnings(caplog) == []
    clock.advance(timedelta(seconds=1))
    assert await core.dispatcher.expire_stale(timedelta(hours=24)) == 1
    statuses = {user: [r.status for r in rows] for user, rows in (await _by_client(core)).items()}
    assert statuses == {"sent": ["sent"], "parked": ["window_closed"], "waiting": ["failed"]}
    assert _warnings(caplog) == ["1 unsent replies older than 1 day, 0:00:00 not sent (restored backup or long outage)"]


async def test_a_held_reply_is_released_or_answered_in_a_response_for_its_own_conversation_only(
    core: Core, clock: ManualClock
) -> None:
    channel = FakeChannel(fail_transient=1)
    core.registry.register(channel)
    assert await core.dispatcher.answered_in_response([]) is True, "nothing to answer is answered"
    first = await core.engine.receive(inbound("你好", "m1", user="u1"), Undelivered(hold=HOLD))
    await core.engine.receive(inbound("你好", "m2", user="u2"), Undelivered(hold=HOLD))
    await core.dispatcher.send_held_now(first.outbox_ids)
    [row] = (await _by_client(core))["u1"]
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 502")
    # The webhook's retry carries the reply that failed once in its own response.
    clock.advance(timedelta(seconds=1))
    assert await core.dispatcher.answered_in_response(first.outbox_ids) is True
    rows = await _by_client(core)
    [row], [other] = rows["u1"], rows["u2"]
    assert (row.status, row.attempts, row.last_error, row.external_id) == ("sent", 2, None, IN_RESPONSE)
    assert row.sent_at is not None and as_utc(row.sent_at) == clock.now()
    assert (other.status, other.attempts) == ("pending", 0), "the other conversation's reply is still held"
    retried = await core.dispatcher.replies_for_retry("fake", "default", "m1", max_text=2000)
    assert [m.text for m in retried] == [m.text for m in first.replies], "a retry of the webhook carries it again"
    assert channel.sent == []
    assert await core.dispatcher.deliver_due() == 0


async def test_a_resent_reply_goes_out_at_once_as_a_first_attempt_and_only_it_is_resent(
    core: Core, clock: ManualClock
) -> None:
    channel = _PerClient(refused=("refused",))
    core.registry.register(channel)
    await core.engine.receive(inbound("你好", "m1", user="sent"))
    await core.engine.receive(inbound("你好", "m2", user="refused"))

    answered = await core.engine.receive(inbound("你好", "m3", user="answered"), _Answering(hold=HOLD))
    before = list(channel.sent)
    # The request that carried the reply was cancelled, and the network fails the first send now.
    channel.fail_transient = 1
    await core.dispatcher.resend(answered.outbox_ids)
    [row] = (await _by_client(core))["answered"]
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 502"), "tried at once, once"
    assert (row.sent_at, row.external_id) == (None, None), "not recorded as sent while it has not gone out"
    assert channel.sent == before, "replies sent before are not sent again"
    refused = (await _by_client(core))["refused"]
    calls = len(channel.calls)
    await core.dispatcher.resend([r.id for r in refused])
    assert channel.calls[calls:] == [], "a reply refused for good is not one answered in a response"
    assert [r.status for r in (await _by_client(core))["refused"]] == ["failed"] * len(refused)
    clock.advance(timedelta(seconds=2))
    assert await core.dispatcher.deliver_due() == 1
    assert channel.sent == [*before, ("answered", answered.replies[0].text)]


async def test_delivering_a_conversation_sends_its_due_replies(core: Core) -> None:
    channel = FakeChannel()
    core.registry.register(channel)
    result = await core.engine.receive(inbound("你好", "m1"), Undelivered())
    assert result.conversation_id is not None and channel.sent == []
    assert await core.dispatcher.deliver_conversation(result.conversation_id) == 1
    assert [text for _, text in channel.sent] == [result.replies[0].text]


async def test_the_last_failed_attempt_is_logged_and_the_earlier_ones_are_not(
    core: Core, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    core.registry.register(FakeChannel(fail_transient=100))
    dispatcher = OutboxDispatcher(core.db, core.registry, clock, max_attempts=3)
    await core.engine.receive(inbound("你好", "m1"), Undelivered())
    [row] = await _rows(core)
    caplog.set_level(logging.WARNING, logger="core.outbox")
    for _ in range(3):
        await dispatcher.deliver_due()
        clock.advance(timedelta(seconds=10))
    assert [r.status for r in await _rows(core)] == ["failed"]
    assert _warnings(caplog) == [f"outbox row {row.id} failed after 3 attempts: HTTP 502"]


async def test_a_clients_message_makes_only_its_own_parked_replies_due(core: Core) -> None:
    channel = _PerClient(closed=("u1", "u2"))
    core.registry.register(channel)
    await core.engine.receive(inbound("人工", "m1", user="u1"))
    await core.engine.receive(inbound("人工", "m2", user="u2"))
    channel.closed.clear()
    result = await core.engine.receive(inbound("还在吗", "m3", user="u1"), Undelivered())
    assert result.unparked == 1
    rows = await _by_client(core)
    assert [(r.status, r.last_error) for r in rows["u1"][:1]] == [("pending", None)]
    assert [(r.status, r.last_error) for r in rows["u2"]] == [("window_closed", "window closed")]
    again = await core.engine.receive(inbound("在吗", "m4", user="u1"), Undelivered())
    assert again.unparked == 0, "nothing was parked any more"


async def test_results_settled_together_each_record_their_own_send(core: Core, clock: ManualClock) -> None:
    channel = _PerClient(busy=("busy",))
    core.registry.register(channel)
    await core.engine.receive(inbound("你好", "m1", user="sent"), Undelivered())
    await core.engine.receive(inbound("你好", "m2", user="busy"), Undelivered())
    # Both sends return at once: their results are written by one statement.
    assert await core.dispatcher.deliver_due() == 1
    rows = await _by_client(core)
    [sent], [busy] = rows["sent"], rows["busy"]
    assert sent.status == "sent" and sent.external_id == "out-1", "the network's id of the message is kept"
    assert sent.sent_at is not None and as_utc(sent.sent_at) == clock.now()
    assert (busy.status, busy.sent_at, busy.external_id, busy.last_error) == ("pending", None, None, "busy")
    channel.busy.clear()
    clock.advance(timedelta(seconds=30) - EPSILON)
    assert await core.dispatcher.deliver_due() == 0, "the busy one waits the 30 s it was given"
    assert channel.calls.count("busy") == 1
    clock.advance(2 * EPSILON)
    assert await core.dispatcher.deliver_due() == 1


async def test_a_send_the_network_asks_to_announce_is_announced_once_recorded(core: Core, clock: ManualClock) -> None:
    class Announcing(_PerClient):
        async def send(self, ref: ConversationRef, message: OutboundMessage) -> SendResult:
            result = await super().send(ref, message)
            return SendResult(result.external_id, announce=ref.external_user_id == "web")

    channel = Announcing(busy=("busy",))
    core.registry.register(channel)
    for i, user in enumerate(("web", "quiet", "busy")):
        await core.engine.receive(inbound("你好", f"m{i}", user=user), Undelivered())
    events: list[LiveEvent] = []
    core.db.live.add_watcher(events.append)
    assert await core.dispatcher.deliver_due() == 2
    [row] = (await _by_client(core))["web"]
    data = {"channel": "fake", "external_user_id": "web", "outbox_id": row.id}
    assert [e for e in events if e.kind == DELIVERED] == [
        LiveEvent(DELIVERED, row.conversation_id, None, data, clock.now())
    ]


async def test_a_reps_reply_stops_the_first_response_clock_when_it_reaches_the_client(
    core: Core, clock: ManualClock
) -> None:
    channel = _PerClient()
    core.registry.register(channel)
    result = await core.engine.receive(inbound("人工", "m1"))
    async with core.db.transaction() as session:
        rep = User(username="wang", display_name="王客服", role="rep", created_at=clock.now())
        session.add(rep)
        await session.flush()
        rep_id = rep.id
        conversation = await session.get(Conversation, result.conversation_id)
        assert conversation is not None and conversation.ticket_id is not None
        ticket_id = conversation.ticket_id
    channel.busy.add("u1")
    await core.engine.rep_reply(result.conversation_id or 0, rep_id, "您好，我来处理")

    async def first_response() -> tuple[object, list[tuple[str, str]]]:
        async with core.db.transaction() as session:
            ticket = await session.get(Ticket, ticket_id)
            events = await session.execute(
                select(TicketEvent.kind, TicketEvent.actor).where(TicketEvent.kind == "first_response")
            )
            assert ticket is not None
            return ticket.first_response_at, [(kind, actor) for kind, actor in events]

    assert await first_response() == (None, []), "a reply not delivered stops nothing"
    channel.busy.clear()
    clock.advance(timedelta(seconds=31))
    await core.dispatcher.deliver_due()
    assert channel.sent[-1] == ("u1", "您好，我来处理")
    at, events = await first_response()
    assert at is not None and as_utc(at) == clock.now()  # type: ignore[arg-type]
    assert events == [("first_response", f"user:{rep_id}")]
