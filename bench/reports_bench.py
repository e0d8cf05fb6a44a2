"""Reports benchmark on PostgreSQL: the full-range report and a CSV export over the console bench's 10,000
tickets and 200,000 messages, with answered, resolved and rated tickets and a classification event each."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import asyncpg
import httpx
from sqlalchemy import insert, text

from bench.console_bench import NOW, PASSWORD, TICKETS, seed, sign_in
from bench.databases import drop_database, fresh_database
from bench.figures import beside_first, count_label, emit, millis, print_timings, sized
from core.clock import ManualClock
from core.db.models import TicketEvent
from core.settings import Settings
from handlers.app import create_app
from handlers.console.users import create_user
from handlers.services import build_services

DB_NAME = "kefu_reports_bench"
ROUNDS = sized(20, 10)
KEYWORDS = ("投诉", "效果差", "报价", "价格", "发票", "余额", "审核", "点击率", "建议", "合同")
# Wider than every ticket's creation time (the seed spreads them over the last two weeks).
RANGE = "start=2026-11-01&end=2026-12-07"


async def enrich(url: str, rep_id: int) -> None:
    """Answer, resolve and rate most tickets, reopen a few, and write each one's classification verdict."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(
            """
            UPDATE tickets SET
              first_response_at = created_at + (id % 240) * interval '1 minute',
              resolved_at = CASE WHEN id % 3 <> 0 THEN created_at + (id % 2000) * interval '1 minute' END,
              resolved_by_id = CASE WHEN id % 3 <> 0 THEN $1::bigint END,
              assignee_id = $1::bigint,
              status = CASE WHEN id % 3 <> 0 THEN 'feedback' ELSE status END,
              feedback_at = CASE WHEN id % 3 <> 0 THEN created_at + interval '3 days' END,
              satisfaction = CASE WHEN id % 3 <> 0 AND id % 7 <> 0 THEN 1 + id % 5 END,
              reopen_count = CASE WHEN id % 17 = 0 THEN 1 ELSE 0 END,
              first_response_breached = (id % 240) > 120
            """,
            rep_id,
        )
    finally:
        await conn.close()


def ok(http: httpx.AsyncClient, path: str) -> Callable[[], Awaitable[None]]:
    """One GET of `path` that must answer 200."""

    async def get() -> None:
        response = await http.get(path)
        assert response.status_code == 200, response.text[:200]

    return get


async def main() -> None:
    url = await fresh_database(DB_NAME)
    settings = Settings(database_url=url, env="test")
    services = build_services(settings, ManualClock(NOW))
    await services.start(migrate=False)
    try:
        async with services.db.transaction() as session:
            rep = await create_user(
                session, username="rep", display_name="客服", role="rep", password=PASSWORD, departments=["cs"], now=NOW
            )
            await create_user(
                session, username="boss", display_name="主管", role="supervisor", password=PASSWORD, now=NOW
            )
            rep_id = rep.id
        await seed(services.db, rep_id)
        await enrich(url, rep_id)
        rng = random.Random(11)
        events = [
            {
                "ticket_id": i,
                "actor": "bot",
                "kind": kind,
                "before": "received",
                "after": "classified",
                "data": {
                    "category": "other",
                    "matched": rng.sample(KEYWORDS, rng.randint(0, 3)),
                    "confident": i % 5 != 0,
                    "picked": i % 5 == 0,
                    "rules_version": 1,
                },
                "created_at": NOW,
            }
            for i in range(1, TICKETS + 1)
            # Four more events per ticket, of other kinds, so the classification lookup has company.
            for kind in ("classified", "received", "first_response", "note", "claimed")
        ]
        for start in range(0, len(events), 5_000):
            async with services.db.transaction() as session:
                await session.execute(insert(TicketEvent), events[start : start + 5_000])
        async with services.db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("ANALYZE"))
        app = create_app(settings, services=services, background=False)
        rows = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://bench") as boss:
            await sign_in(boss, "boss")
            for name, path in (
                ("baseline: GET /console/api/me (session check only)", "/console/api/me"),
                (f"full-range report (all {TICKETS:,} tickets)", f"/console/api/reports/data?{RANGE}"),
                ("full-range report, one department", f"/console/api/reports/data?{RANGE}&department=cs"),
                ("full-range CSV, per-rep table", f"/console/api/reports/csv/reps?{RANGE}"),
            ):
                rows.append((name, await millis(ok(boss, path), ROUNDS)))
            report = (await boss.get(f"/console/api/reports/data?{RANGE}")).json()
            assert report["totals"]["tickets"] == TICKETS, report["totals"]["tickets"]
        title = f"reports in-process (ASGI), PostgreSQL, {ROUNDS} sequential requests each; target < 1000 ms"
        print_timings(title, "request", 44, rows)
        emit(beside_first(rows, f"reports, {count_label(TICKETS)} tickets", "GET /console/api/me (session lookup)"))
    finally:
        await services.stop()
        await drop_database(url)


if __name__ == "__main__":
    asyncio.run(main())
