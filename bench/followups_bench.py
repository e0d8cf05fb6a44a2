"""Follow-up scheduler benchmark: claim-tick latency against the backlog (PostgreSQL and SQLite), delivery rate, drain.

Baselines from the same run: the claim tick beside the bare claim statement sent as plain SQL (no stale-row
pass, no lease clause, ids only), the ticks of the two alternating; the delivery rate beside the same
runner firing no-op follow-ups (claim, fire, settle, no dialogue turn); the drain of a large backlog of due
reminders (an outage's) with live client turns going on, their p99 beside the same turns before the drain.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, func, insert, select, text

from bench.databases import drop_database, fresh_database
from bench.figures import Figure, count_label, emit, sized
from core.channel import ChannelCapabilities, SendResult
from core.clock import ManualClock
from core.db.models import ChannelIdentity, Client, Conversation, FollowUp
from core.db.session import Database
from core.engine import DIALOGUE_TIMEOUT
from core.followups import FollowUpRunner
from core.messages import ConversationRef, InboundMessage, OutboundMessage
from core.settings import Settings
from handlers.services import Services, build_services

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai: outside quiet hours
BACKLOGS = (sized(1_000, 1_000), sized(100_000, 10_000))
DELIVERIES = (sized(1_000, 300), sized(3_000, 600))
DRAIN = sized(100_000, 10_000)
LIVE_USERS = 10  # clients writing while the backlog drains, each waiting for its turn before the next message
WINDOW = 5.0  # seconds per line of the drain's timeline
TICKS = sized(20, 8)
# The claim as one would write it by hand: the same UPDATE … IN (SELECT … FOR UPDATE SKIP LOCKED), ids only.
# SQLAlchemy leaves FOR UPDATE out on SQLite, as it does for the runner's statement.
_BARE_CLAIM = (
    "UPDATE followups SET status = 'running', attempts = attempts + 1 WHERE id IN (SELECT id FROM followups"
    " WHERE status = 'pending' AND due_at <= :now ORDER BY due_at, id LIMIT :n{lock}) RETURNING id"
)


class CountingChannel:
    """A network that accepts everything instantly."""

    name = "bench"
    capabilities = ChannelCapabilities(buttons=False)

    def __init__(self) -> None:
        self.sent = 0
        self.live = 0  # replies to the clients writing during a drain, counted apart from the reminders

    async def send(self, ref: ConversationRef, message: OutboundMessage) -> SendResult:
        if ref.external_user_id.startswith("live"):
            self.live += 1
        else:
            self.sent += 1
        return SendResult()


async def _backlog(db: Database, pending: int, due_now: int) -> None:
    """`pending` rows spread over the next 30 days, plus `due_now` rows already due."""
    rows = []
    for i in range(pending + due_now):
        due = NOW + timedelta(minutes=1 + i % 43_200) if i >= due_now else NOW - timedelta(seconds=1)
        rows.append(
            {
                "kind": "noop",
                "target_id": i,
                "due_at": due,
                "status": "pending",
                "attempts": 0,
                "idempotency_key": f"bench:{i}",
                "payload": {},
                "created_at": NOW,
            }
        )
    async with db.transaction() as session:
        for start in range(0, len(rows), 5000):
            await session.execute(insert(FollowUp), rows[start : start + 5000])
    async with db.engine.connect() as conn:
        await conn.exec_driver_sql("ANALYZE followups")


async def claim_ticks(
    pending: int, ticks: int = TICKS, batch: int = 500, kind: str = "postgres"
) -> tuple[list[float], list[float]]:
    """Milliseconds of one claim tick (one transaction claiming `batch` due rows), and of the bare claim."""
    async with _backlogged(f"kefu_bench_claim_{pending}", pending, 2 * batch * ticks, kind) as db:
        lock = "" if db.is_sqlite else " FOR UPDATE SKIP LOCKED"
        bare = text(_BARE_CLAIM.format(lock=lock)).bindparams(bindparam("now", type_=FollowUp.__table__.c.due_at.type))
        runner = FollowUpRunner(db, ManualClock(NOW), {})

        async def bare_claim(n: int) -> list[int]:
            async with db.transaction() as session:
                return list((await session.execute(bare, {"now": NOW, "n": n})).scalars())

        await runner.claim(batch)  # warm the pool and the plan cache
        await bare_claim(batch)
        timings: list[float] = []
        baseline: list[float] = []
        for _ in range(ticks - 1):
            started = time.perf_counter()
            claimed = await runner.claim(batch)
            timings.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            ids = await bare_claim(batch)
            baseline.append((time.perf_counter() - started) * 1000)
            assert len(claimed) == batch and len(ids) == batch, (len(claimed), len(ids))
        return timings, baseline


async def noop_rate(count: int) -> float:
    """Follow-ups per second through the same runner when firing one does nothing: the scheduler alone."""

    async def noop(row: FollowUp) -> None:
        return None

    async with _backlogged(f"kefu_bench_noop_{count}", 0, count) as db:
        runner = FollowUpRunner(db, ManualClock(NOW), {"noop": noop})
        started = time.perf_counter()
        fired = await runner.run_due()
        elapsed = time.perf_counter() - started
        assert fired == count, fired
        return count / elapsed


async def delivery_rate(count: int) -> float:
    """Follow-ups per second from due row to a send on the fake channel, through the real engine."""
    async with _running(f"kefu_bench_deliver_{count}") as (services, channel):
        await _due_reminders(services, count)
        started = time.perf_counter()
        fired = await services.followups.run_due()
        elapsed = time.perf_counter() - started
        assert fired == count and channel.sent == count, (fired, channel.sent)
        return count / elapsed


@asynccontextmanager
async def _backlogged(name: str, pending: int, due_now: int, kind: str = "postgres") -> AsyncIterator[Database]:
    """A fresh database `name` holding `_backlog(pending, due_now)`, dropped when done."""
    url = await fresh_database(name, kind)
    db = Database(url)
    try:
        await _backlog(db, pending, due_now)
        yield db
    finally:
        await db.dispose()
        await drop_database(url)


@asynccontextmanager
async def _running(name: str) -> AsyncIterator[tuple[Services, CountingChannel]]:
    """Kefu started on a fresh database `name`, sending to a CountingChannel; stopped and dropped when done."""
    url = await fresh_database(name)
    services = build_services(Settings(database_url=url, env="test"), ManualClock(NOW))
    channel = CountingChannel()
    services.registry.register(channel)
    await services.start(migrate=False)
    try:
        yield services, channel
    finally:
        await services.stop()
        await drop_database(url)


async def _due_reminders(services: Services, count: int) -> None:
    """`count` conversations waiting for an answer, each with its idle reminder due now: bulk SQL, ids in order."""
    async with services.db.transaction() as session:
        for start in range(0, count, 5000):
            size = min(5000, count - start)
            clients = await session.execute(
                insert(Client).returning(Client.id, sort_by_parameter_order=True),
                [{"name": f"c{start + i}", "created_at": NOW} for i in range(size)],
            )
            client_ids = list(clients.scalars())
            identities = await session.execute(
                insert(ChannelIdentity).returning(ChannelIdentity.id, sort_by_parameter_order=True),
                [
                    {"client_id": c, "channel": "bench", "external_id": f"u{start + i}", "created_at": NOW}
                    for i, c in enumerate(client_ids)
                ],
            )
            conversations = await session.execute(
                insert(Conversation).returning(Conversation.id, sort_by_parameter_order=True),
                [
                    {
                        "identity_id": identity,
                        "client_id": client,
                        "channel": "bench",
                        "ref": ConversationRef("bench", f"u{start + i}").to_json(),
                        "state": "collecting",
                        "category": "complaint",
                        "slots": {},
                        "context": {"turn": 1, "asking": "project"},
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                    for i, (identity, client) in enumerate(zip(identities.scalars(), client_ids, strict=True))
                ],
            )
            await session.execute(
                insert(FollowUp),
                [
                    {
                        "kind": DIALOGUE_TIMEOUT,
                        "target_id": conversation,
                        "due_at": NOW,
                        "status": "pending",
                        "attempts": 0,
                        "idempotency_key": f"idle:{conversation}",
                        "payload": {"timer": "idle_reminder", "turn": 1},
                        "created_at": NOW,
                    }
                    for conversation in conversations.scalars()
                ],
            )
    async with services.db.engine.connect() as conn:
        for table in ("clients", "channel_identities", "conversations", "followups"):
            await conn.exec_driver_sql(f"ANALYZE {table}")


async def _live_turns(services: Services, user: int, until: asyncio.Event, latencies: list[float]) -> None:
    """One client writing on another conversation: a message, its turn, the next, until told to stop."""
    while not until.is_set():
        i = next(_MESSAGE_IDS)
        msg = InboundMessage(
            ConversationRef("bench", f"live{user}"), f"live{user}-{i}", text=f"我的项目投放数据不对 {i}"
        )
        started = time.perf_counter()
        result = await services.engine.receive(msg)
        latencies.append((time.perf_counter() - started) * 1000)
        assert result.status == "accepted", result
        await asyncio.sleep(0.05)


_MESSAGE_IDS = itertools.count(1)


def _p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


async def drain(count: int = DRAIN, quiet: float = 10.0) -> tuple[list[tuple[float, int]], list[float], list[float]]:
    """`count` due reminders (after an outage) drained by the runner while LIVE_USERS clients keep writing.

    Returns the drain's timeline (seconds since it started, reminders sent by then, one point per WINDOW),
    the live turns' latencies (ms) during the drain, and those of the same clients for `quiet` seconds before it.
    """
    async with _running(f"kefu_bench_drain_{count}") as (services, channel):
        await _due_reminders(services, count)
        before: list[float] = []
        during: list[float] = []
        stop = asyncio.Event()
        users = [asyncio.create_task(_live_turns(services, u, stop, before)) for u in range(LIVE_USERS)]
        await asyncio.sleep(quiet)
        stop.set()
        await asyncio.gather(*users)
        stop = asyncio.Event()
        users = [asyncio.create_task(_live_turns(services, u, stop, during)) for u in range(LIVE_USERS)]
        started = time.perf_counter()
        runner = asyncio.create_task(services.followups.run_due())
        timeline: list[tuple[float, int]] = []
        while not runner.done():
            await asyncio.wait([runner], timeout=WINDOW)
            timeline.append((time.perf_counter() - started, channel.sent))
        stop.set()
        await asyncio.gather(*users)
        fired = runner.result()
        async with services.db.transaction() as session:
            query = select(func.count()).where(FollowUp.idempotency_key.like("idle:%"), FollowUp.status != "done")
            left = (await session.execute(query)).scalar_one()
        assert fired == count and left == 0 and channel.sent == count, (fired, left, channel.sent)
        return timeline, during, before


async def drain_figures(count: int = DRAIN) -> list[Figure]:
    """Drain `count` due reminders with clients writing meanwhile; print the timeline's rates and the turns' latency."""
    figures: list[Figure] = []
    timeline, during, before = await drain(count)
    rates = [(b - a) / (tb - ta) for (ta, a), (tb, b) in zip([(0.0, 0), *timeline], timeline, strict=False) if tb > ta]
    steady = rates[:-1] or rates  # the last window is the tail of the backlog, cut short
    total_s, total = timeline[-1]
    print(f"drain: {count:,} due reminders with {LIVE_USERS} clients writing meanwhile")
    print(f"  {total:,} reminders sent in {total_s:.1f} s: {total / total_s:,.0f}/s")
    low, mid, high = min(steady), statistics.median(steady), max(steady)
    print(f"  per {WINDOW:g} s window: min {low:,.0f}/s, median {mid:,.0f}/s, max {high:,.0f}/s")
    print(f"  live turns before the drain: {len(before)}, p50 {_p(before, 50):.0f} ms, p99 {_p(before, 99):.0f} ms")
    print(f"  live turns during the drain: {len(during)}, p50 {_p(during, 50):.0f} ms, p99 {_p(during, 99):.0f} ms")
    label = f"follow-ups drained, PostgreSQL, {count_label(count)} due"
    figures.append(
        Figure(f"{label}, slowest {WINDOW:g} s", min(steady), statistics.median(steady), "/s", "median window")
    )
    figures.append(
        Figure(
            f"live turn p99 during it, {LIVE_USERS} clients",
            _p(during, 99),
            _p(before, 99),
            "ms p99",
            "the same turns before it",
        )
    )
    return figures


async def main() -> None:
    figures: list[Figure] = []
    print("follow-ups (one claim tick = one transaction claiming a batch of due rows; bare = the plain SQL claim)")
    print(f"{'database':<10} | {'pending backlog':>16} | {'batch':>5} | {'claim tick median':>18} | {'p90':>8} | bare")
    for kind, batches in (("postgres", (100, 500)), ("sqlite", (500,))):
        for batch in batches:
            for pending in BACKLOGS:
                timings, bare = await claim_ticks(pending, batch=batch, kind=kind)
                p90 = statistics.quantiles(timings, n=10)[-1]
                median, bare_median = statistics.median(timings), statistics.median(bare)
                print(
                    f"{kind:<10} | {pending:>16,} | {batch:>5} | {median:>15.1f} ms | {p90:>5.1f} ms"
                    f" | {bare_median:.1f} ms"
                )
                if batch == 500:
                    db = "PostgreSQL" if kind == "postgres" else "SQLite"
                    label = f"claim tick, {db}, {count_label(pending)} pending, batch {batch}"
                    figures.append(Figure(label, median, bare_median, "ms median", "the claim as plain SQL"))
    print()
    print(f"{'due follow-ups':>16} | {'delivered per second (engine → outbox → fake channel)':>40} | no-op runner")
    for count in DELIVERIES:
        rate = await delivery_rate(count)
        noop = await noop_rate(count)
        print(f"{count:>16,} | {rate:>10,.0f} /s | {noop:,.0f} /s")
        label = f"follow-ups delivered, PostgreSQL, {count_label(count)} due"
        figures.append(Figure(label, rate, noop, "/s", "the runner firing no-ops"))
    print()
    figures.extend(await drain_figures())
    emit(figures)


if __name__ == "__main__":
    asyncio.run(main())
