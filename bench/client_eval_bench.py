"""Client evaluation benchmark on PostgreSQL: the evaluation of 10,000 clients over 60,000 tickets in two quarters,
in-process (`core.client_eval.evaluate`) and through the console API's first page, beside the bare per-client
GROUP BY over the quarter's tickets written by hand."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import httpx

from bench.console_bench import PASSWORD, sign_in
from bench.databases import drop_database, fresh_database
from bench.figures import beside_first, count_label, emit, millis, print_timings, sized
from core.client_eval import evaluate
from core.clock import ManualClock
from core.settings import Settings
from handlers.app import create_app
from handlers.console.users import create_user
from handlers.services import build_services

DB_NAME = "kefu_client_eval_bench"
CLIENTS = sized(10_000, 2_000)
TICKETS_PER_CLIENT = 6  # three in the evaluated quarter, three in the one before
ROUNDS = sized(15, 5)
START = datetime(2026, 7, 1, tzinfo=UTC)
END = datetime(2026, 10, 1, tzinfo=UTC)
NOW = datetime(2026, 10, 2, tzinfo=UTC)


async def seed(url: str) -> None:
    """Clients with an identity, a conversation, six tickets and admins' scores each, written by SQL in bulk."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(
            """
            INSERT INTO clients (id, name, company, tier, note, created_at)
            SELECT g, 'client ' || g, 'company ' || g, chr(65 + g % 4), '', $2 FROM generate_series(1, $1) g
            """,
            CLIENTS,
            NOW,
        )
        await conn.execute(
            """
            INSERT INTO channel_identities (id, client_id, channel, account, external_id, reachable, created_at)
            SELECT g, g, 'web', 'default', 'v-' || g, true, $2 FROM generate_series(1, $1) g
            """,
            CLIENTS,
            NOW,
        )
        await conn.execute(
            """
            INSERT INTO conversations (id, identity_id, client_id, channel, ref, state, slots, context, language,
                                       last_inbound_at, created_at, updated_at)
            SELECT g, g, g, 'web', '{}'::jsonb, 'new', '{}'::jsonb, '{}'::jsonb, 'zh',
                   $2::timestamptz - (g % 90) * interval '1 day', $2, $2
            FROM generate_series(1, $1) g
            """,
            CLIENTS,
            NOW,
        )
        # Ticket n of client c: the first half in the quarter before, the second in the evaluated one.
        await conn.execute(
            """
            INSERT INTO tickets (id, number, conversation_id, client_id, category, priority, status, channel, title,
                                 details, handoff, first_response_due, resolution_due, first_response_at, resolved_at,
                                 satisfaction, feedback_at, first_response_breached, resolution_breached, reopen_count,
                                 created_at, updated_at)
            SELECT t.id, 'KF-B-' || t.id, t.c, t.c,
                   CASE WHEN t.id % 4 = 0 THEN 'complaint' ELSE 'inquiry' END, 'P3', 'closed', 'web', '',
                   '{}'::jsonb, false, t.at + interval '1 hour', t.at + interval '1 day',
                   t.at + (t.id % 90) * interval '1 minute', t.at + (t.id % 2000) * interval '1 minute',
                   CASE WHEN t.id % 5 <> 0 THEN 1 + t.id % 5 END, t.at + interval '2 days', false, false,
                   CASE WHEN t.id % 17 = 0 THEN 1 ELSE 0 END, t.at, t.at
            FROM (
              SELECT (c - 1) * $2 + n AS id, c, n,
                     CASE WHEN n <= $2 / 2 THEN $3::timestamptz - interval '92 days' ELSE $3::timestamptz END
                       + ((c * 7 + n * 13) % 90) * interval '1 day' AS at
              FROM generate_series(1, $1) c, generate_series(1, $2) n
            ) t
            """,
            CLIENTS,
            TICKETS_PER_CLIENT,
            START,
        )
        await conn.execute(
            """
            INSERT INTO client_scores (client_id, business_importance, market_influence, payment_timeliness, updated_at)
            SELECT g, 1 + g % 5, 1 + (g / 5) % 5, 1 + (g / 25) % 5, $2 FROM generate_series(1, $1) g
            """,
            CLIENTS,
            NOW,
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def main() -> None:
    url = await fresh_database(DB_NAME)
    settings = Settings(database_url=url, env="test")
    services = build_services(settings, ManualClock(NOW))
    await services.start(migrate=False)
    try:
        async with services.db.transaction() as session:
            await create_user(
                session, username="boss", display_name="主管", role="supervisor", password=PASSWORD, now=NOW
            )
        await seed(url)
        rules, tiers = settings.client_evaluation, services.policies.tiers
        raw = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))

        async def bare_query() -> None:
            await raw.fetch(
                "SELECT client_id, count(*), sum(satisfaction) FROM tickets"
                " WHERE created_at >= $1 AND created_at < $2 GROUP BY client_id",
                START,
                END,
            )

        async def core_evaluation() -> None:
            async with services.db.transaction() as session:
                rows = await evaluate(session, START, END, now=NOW, tiers=tiers, rules=rules)
            assert len(rows) == CLIENTS

        app = create_app(settings, services=services, background=False)
        results: list[tuple[str, list[float]]] = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://bench") as boss:
            await sign_in(boss, "boss")

            async def api_page() -> None:
                response = await boss.get("/console/api/client-evaluation?days=90")
                assert response.status_code == 200 and response.json()["total"] == CLIENTS, response.text[:200]

            for name, run in (
                ("baseline: bare GROUP BY client_id over the quarter", bare_query),
                (f"evaluate() over {CLIENTS:,} clients", core_evaluation),
                ("GET /console/api/client-evaluation (first 100 of all)", api_page),
            ):
                results.append((name, await millis(run, ROUNDS)))
        await raw.close()
        tickets = CLIENTS * TICKETS_PER_CLIENT
        title = f"client evaluation, PostgreSQL, {CLIENTS:,} clients, {tickets:,} tickets, {ROUNDS} rounds each"
        print_timings(title, "what", 56, results)
        emit(
            beside_first(
                results,
                f"client evaluation, {count_label(CLIENTS)} clients",
                "bare GROUP BY client_id (hand-written SQL)",
            )
        )
    finally:
        await services.stop()
        await drop_database(url)


if __name__ == "__main__":
    asyncio.run(main())
