"""Console benchmark on PostgreSQL: inbox first page and conversation view with 10,000 open tickets and
200,000 messages, beside a bare authenticated endpoint from the same run."""

from __future__ import annotations

import asyncio
import random
import re
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import insert, text, update

from bench.databases import drop_database, fresh_database
from bench.figures import beside_first, count_label, emit, p95, sized
from core.clock import ManualClock
from core.db.models import ChannelIdentity, Client, Conversation, Message, Ticket
from core.db.session import Database
from core.settings import Settings
from handlers.app import create_app
from handlers.console.users import create_user
from handlers.services import build_services

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
TICKETS = sized(10_000, 1_000)
MESSAGES = 20 * TICKETS
ROUNDS = sized(60, 20)
WARMUP = 5
BATCH = 5_000
PASSWORD = "bench-password-0"
STATUSES = ("classified", "investigating", "received")
PHRASES = ("广告投放效果不好", "账户余额不对", "想了解一下报价", "素材审核没通过", "点击率下降", "发票什么时候开")


async def _insert(db: Database, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        async with db.transaction() as session:
            await session.execute(insert(table), rows[start : start + BATCH])


async def seed(db: Database, rep_id: int) -> list[str]:
    """10,000 open tickets over four departments, a quarter waiting for a person, 20 messages each."""
    rng = random.Random(20261207)
    async with db.transaction() as session:
        departments = [d for (d,) in (await session.execute(text("SELECT id FROM departments ORDER BY id"))).all()]
    clients, identities, conversations, tickets, messages = [], [], [], [], []
    numbers = []
    for i in range(1, TICKETS + 1):
        created = NOW - timedelta(minutes=rng.randint(1, 20_000))
        clients.append(
            {"id": i, "name": f"客户{i}", "company": f"公司{i % 997}", "tier": "ABC"[i % 3], "created_at": created}
        )
        identities.append(
            {
                "id": i,
                "client_id": i,
                "channel": "wechat",
                "account": "default",
                "external_id": f"o{i:027d}",
                "created_at": created,
            }
        )
        waiting = i % 4 == 0
        conversations.append(
            {
                "id": i,
                "identity_id": i,
                "client_id": i,
                "channel": "wechat",
                "ref": {"channel": "wechat", "account": "default", "external_user_id": f"o{i:027d}"},
                "state": "human_queue" if waiting else "ticket_open",
                "slots": {},
                "context": {},
                "language": "zh",
                "holder_user_id": None,
                "last_inbound_at": created,
                "created_at": created,
                "updated_at": created,
            }
        )
        number = f"KF-{created:%Y%m%d}-{i:05d}"
        numbers.append(number)
        first_due = created + timedelta(hours=rng.choice((1, 2, 4, 8)))
        tickets.append(
            {
                "id": i,
                "number": number,
                "conversation_id": i,
                "client_id": i,
                "category": rng.choice(("inquiry", "complaint", "suggestion", "other")),
                "priority": rng.choice(("P1", "P2", "P3", "P3", "P4")),
                "status": rng.choice(STATUSES),
                "channel": "wechat",
                "department_id": departments[i % len(departments)],
                "assignee_id": rep_id if i % 50 == 0 else None,
                "title": rng.choice(PHRASES),
                "details": {"first_message": rng.choice(PHRASES)},
                "handoff": waiting,
                "first_response_due": first_due,
                "resolution_due": first_due + timedelta(days=2),
                "created_at": created,
                "updated_at": created,
            }
        )
    per = MESSAGES // TICKETS
    message_id = 0
    for i in range(1, TICKETS + 1):
        created = conversations[i - 1]["created_at"]
        for k in range(per):
            message_id += 1
            inbound = k % 2 == 0
            messages.append(
                {
                    "id": message_id,
                    "conversation_id": i,
                    "direction": "in" if inbound else "out",
                    "channel": "wechat",
                    "account": "default",
                    "external_id": f"m{message_id}" if inbound else None,
                    "type": "text",
                    "text": rng.choice(PHRASES) + f" #{message_id}",
                    "payload": {},
                    "created_at": created + timedelta(seconds=k * 30),
                }
            )
    await _insert(db, Client, clients)
    await _insert(db, ChannelIdentity, identities)
    await _insert(db, Conversation, conversations)
    await _insert(db, Ticket, tickets)
    async with db.transaction() as session:
        await session.execute(update(Conversation).values(ticket_id=Conversation.id))
    await _insert(db, Message, messages)
    async with db.engine.connect() as conn:
        for table in ("clients", "channel_identities", "conversations", "tickets", "messages"):
            await conn.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            )
        await conn.commit()
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("ANALYZE"))
    return numbers


async def sign_in(http: httpx.AsyncClient, username: str) -> str:
    page = await http.get("/console/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    answer = await http.post(
        "/console/login", data={"username": username, "password": PASSWORD, "csrf": token.group(1)}
    )
    assert answer.status_code == 303, answer.text
    me = await http.get("/console/api/me")
    return str(me.json()["csrf"])


async def timed(http: httpx.AsyncClient, paths: list[str]) -> list[float]:
    """Milliseconds per request, one at a time (after a warm-up), cycling through `paths`."""
    for path in paths[:WARMUP]:
        assert (await http.get(path)).status_code == 200, path
    times = []
    for i in range(ROUNDS):
        path = paths[i % len(paths)]
        start = time.perf_counter()
        response = await http.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (path, response.text[:200])
    return times


async def main() -> None:
    url = await fresh_database("kefu_console_bench")
    settings = Settings(database_url=url, env="test")
    services = build_services(settings, ManualClock(NOW))
    await services.start(migrate=False)
    try:
        async with services.db.transaction() as session:
            cs = (await session.execute(text("SELECT id FROM departments WHERE code = 'cs'"))).scalar_one()
            assert cs
            rep = await create_user(
                session, username="rep", display_name="客服", role="rep", password=PASSWORD, departments=["cs"], now=NOW
            )
            await create_user(
                session, username="boss", display_name="主管", role="supervisor", password=PASSWORD, now=NOW
            )
            rep_id = rep.id
        started = time.perf_counter()
        numbers = await seed(services.db, rep_id)
        print(f"seeded {TICKETS:,} open tickets and {MESSAGES:,} messages in {time.perf_counter() - started:.1f}s")
        app = create_app(settings, services=services, background=False)
        transport = httpx.ASGITransport(app=app)
        rng = random.Random(7)
        sample = [f"/console/api/tickets/{n}" for n in rng.sample(numbers, 30)]
        rows: list[tuple[str, list[float]]] = []
        async with (
            httpx.AsyncClient(transport=transport, base_url="https://bench") as boss,
            httpx.AsyncClient(transport=transport, base_url="https://bench") as rep_http,
        ):
            await sign_in(boss, "boss")
            await sign_in(rep_http, "rep")
            rows.append(("baseline: GET /console/api/me (session check only)", await timed(boss, ["/console/api/me"])))
            for queue in ("waiting", "department", "sla"):
                rows.append(
                    (f"inbox first page, supervisor, {queue}", await timed(boss, [f"/console/api/inbox?queue={queue}"]))
                )
            rows.append(
                (
                    "inbox first page, rep (one department), department",
                    await timed(rep_http, ["/console/api/inbox?queue=department"]),
                )
            )
            rows.append(("inbox first page, rep, mine", await timed(rep_http, ["/console/api/inbox?queue=mine"])))
            rows.append(("conversation view (30 tickets in turn)", await timed(boss, sample)))
            rows.append(
                ("search by ticket number", await timed(boss, [f"/console/api/inbox?q={numbers[len(numbers) // 8]}"]))
            )
            rows.append(
                (
                    f"search by message text (ILIKE over {count_label(MESSAGES)})",
                    await timed(boss, [f"/console/api/inbox?q=%23{MESSAGES - 1}"]),
                )
            )
        base = statistics.median(rows[0][1])
        print(f"console API in-process (ASGI), PostgreSQL, {ROUNDS} sequential requests each; target < 300 ms")
        print(f"{'request':<56} {'median':>9} {'p95':>9} {'× baseline':>11}")
        for name, times in rows:
            median = statistics.median(times)
            print(f"{name:<56} {median:>7.1f}ms {p95(times):>7.1f}ms {median / base:>10.1f}x")
        emit(beside_first(rows, f"console, {count_label(TICKETS)} tickets", "GET /console/api/me (session lookup)"))
    finally:
        await services.stop()
        await drop_database(url)


if __name__ == "__main__":
    asyncio.run(main())
