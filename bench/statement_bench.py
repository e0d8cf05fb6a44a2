"""CPU time of one turn statement on PostgreSQL: run on the asyncpg connection directly (`core.db.direct`) against
SQLAlchemy's own execution of the same statement, in the same transactions, rounds taken in turn.

The statement is a message's INSERT … RETURNING (`core.outbox.INSERT_MESSAGE`: a first contact's message, and every
message on SQLite; a known client's message rides in its lookup's statement on PostgreSQL). Each round runs
BATCH statements inside one transaction, one way then the other, ROUNDS times; the medians of CPU time per
statement (this process: Python, SQLAlchemy, asyncpg) are compared. Run: `python -m bench.statement_bench`.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from bench.databases import drop_database, fresh_database
from bench.figures import Figure, emit, sized
from core.db import direct
from core.db.models import ChannelIdentity, Client, Conversation
from core.db.session import Database
from core.outbox import INSERT_MESSAGE

BATCH = 50


async def _conversation(db: Database, now: datetime) -> int:
    async with db.transaction() as session:
        client = Client(name="bench", created_at=now)
        session.add(client)
        await session.flush()
        identity = ChannelIdentity(client_id=client.id, channel="wechat", account="a", external_id="u", created_at=now)
        session.add(identity)
        await session.flush()
        conversation = Conversation(
            identity_id=identity.id,
            client_id=client.id,
            channel="wechat",
            ref={},
            state="new",
            slots={},
            context={},
            language="zh",
            created_at=now,
            updated_at=now,
        )
        session.add(conversation)
        await session.flush()
        return conversation.id


async def measure(rounds: int) -> dict[str, list[float]]:
    """Microseconds of CPU per statement, per round, for each way of running it."""
    url = await fresh_database("kefu_bench_statement")
    db = Database(url)
    try:
        now = datetime.now(UTC)
        conversation_id = await _conversation(db, now)
        ids = itertools.count()

        def row() -> dict[str, Any]:
            return {
                "conversation_id": conversation_id,
                "direction": "in",
                "channel": "wechat",
                "account": "a",
                "external_id": f"m{next(ids)}",
                "type": "text",
                "text": "你好，我们的开屏广告从昨天开始就没有曝光了",
                "payload": {"MsgId": "1234567890"},
                "author_user_id": None,
                "created_at": now,
            }

        times: dict[str, list[float]] = {"sqlalchemy": [], "direct": []}
        for _ in range(rounds):
            for way in times:
                async with db.transaction() as session:
                    await session.connection()
                    started = time.process_time()
                    for _ in range(BATCH):
                        if way == "sqlalchemy":
                            (await session.execute(INSERT_MESSAGE, row())).scalar_one()
                        else:
                            (await direct.fetch(session, INSERT_MESSAGE, row()))[0][0]
                    times[way].append((time.process_time() - started) / BATCH * 1e6)
        return times
    finally:
        await db.dispose()
        await drop_database(url)


def main() -> None:
    rounds = sized(40, 8)
    times = asyncio.run(measure(rounds))
    base, fast = statistics.median(times["sqlalchemy"]), statistics.median(times["direct"])
    print(f"statement benchmark: the inbound INSERT … RETURNING, PostgreSQL, {rounds} rounds of {BATCH}")
    print(f"{'':<40}{'median':>10}{'best':>10}")
    print(f"{'through SQLAlchemy (Session.execute)':<40}{base:>8.0f}µs{min(times['sqlalchemy']):>8.0f}µs")
    print(f"{'on asyncpg directly (core.db.direct)':<40}{fast:>8.0f}µs{min(times['direct']):>8.0f}µs")
    emit(
        [
            Figure(
                "turn statement, PostgreSQL, CPU per INSERT … RETURNING",
                fast,
                base,
                "µs median",
                "the same statement through Session.execute",
            )
        ]
    )


if __name__ == "__main__":
    main()
