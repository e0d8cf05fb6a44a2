"""Follow-up scheduler benchmark on PostgreSQL: claim-tick latency against the backlog, and delivery rate."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from datetime import UTC, datetime, timedelta

import asyncpg
from sqlalchemy import insert

from core.channel import ChannelCapabilities, SendResult
from core.clock import ManualClock
from core.db.migrate import upgrade
from core.db.models import ChannelIdentity, Client, Conversation, FollowUp
from core.db.session import Database
from core.engine import DIALOGUE_TIMEOUT
from core.followups import FollowUpRunner
from core.messages import ConversationRef, OutboundMessage
from core.settings import Settings
from handlers.services import build_services

PG = os.environ.get("KEFU_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai: outside quiet hours


class CountingChannel:
    """A network that accepts everything instantly."""

    name = "bench"
    capabilities = ChannelCapabilities(buttons=False)

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, ref: ConversationRef, message: OutboundMessage) -> SendResult:
        self.sent += 1
        return SendResult()


async def _fresh_database(name: str) -> str:
    admin = PG.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = admin.rsplit("/", 1)[0] + "/" + name
    db = Database(url)
    await upgrade(db)
    await db.dispose()
    return url


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


async def claim_ticks(pending: int, ticks: int = 20, batch: int = 500) -> list[float]:
    """Milliseconds of one claim tick (one transaction claiming up to `batch` due rows)."""
    url = await _fresh_database(f"kefu_bench_claim_{pending}")
    db = Database(url)
    try:
        await _backlog(db, pending, due_now=batch * ticks)
        runner = FollowUpRunner(db, ManualClock(NOW), {})
        await runner.claim(batch)  # warm the pool and the plan cache
        timings = []
        for _ in range(ticks - 1):
            started = time.perf_counter()
            claimed = await runner.claim(batch)
            timings.append((time.perf_counter() - started) * 1000)
            assert len(claimed) == batch
        return timings
    finally:
        await db.dispose()


async def delivery_rate(count: int) -> float:
    """Follow-ups per second from due row to a send on the fake channel, through the real engine."""
    url = await _fresh_database(f"kefu_bench_deliver_{count}")
    clock = ManualClock(NOW)
    services = build_services(Settings(database_url=url, env="test"), clock)
    channel = CountingChannel()
    services.registry.register(channel)
    await services.start(migrate=False)
    try:
        async with services.db.transaction() as session:
            for i in range(count):
                client = Client(name=f"c{i}", created_at=NOW)
                session.add(client)
                await session.flush()
                identity = ChannelIdentity(client_id=client.id, channel="bench", external_id=f"u{i}", created_at=NOW)
                session.add(identity)
                await session.flush()
                conversation = Conversation(
                    identity_id=identity.id,
                    client_id=client.id,
                    channel="bench",
                    ref=ConversationRef("bench", f"u{i}").to_json(),
                    state="collecting",
                    category="complaint",
                    slots={},
                    context={"turn": 1, "asking": "project"},
                    created_at=NOW,
                    updated_at=NOW,
                )
                session.add(conversation)
                await session.flush()
                session.add(
                    FollowUp(
                        kind=DIALOGUE_TIMEOUT,
                        target_id=conversation.id,
                        due_at=NOW,
                        status="pending",
                        attempts=0,
                        idempotency_key=f"idle:{conversation.id}",
                        payload={"timer": "idle_reminder", "turn": 1},
                        created_at=NOW,
                    )
                )
        started = time.perf_counter()
        fired = await services.followups.run_due()
        elapsed = time.perf_counter() - started
        assert fired == count and channel.sent == count, (fired, channel.sent)
        return count / elapsed
    finally:
        await services.stop()


async def main() -> None:
    print("follow-ups on PostgreSQL (one claim tick = one transaction claiming a batch of due rows)")
    print(f"{'pending backlog':>16} | {'batch':>5} | {'claim tick median':>18} | {'p90':>8}")
    for batch in (100, 500):
        for pending in (1_000, 100_000):
            timings = await claim_ticks(pending, batch=batch)
            p90 = statistics.quantiles(timings, n=10)[-1]
            print(f"{pending:>16,} | {batch:>5} | {statistics.median(timings):>15.1f} ms | {p90:>5.1f} ms")
    print()
    print(f"{'due follow-ups':>16} | {'delivered per second (engine → outbox → fake channel)':>40}")
    for count in (1_000, 3_000):
        rate = await delivery_rate(count)
        print(f"{count:>16,} | {rate:>10,.0f} /s")


if __name__ == "__main__":
    asyncio.run(main())
