"""SQL round trips of one WeChat (or Telegram) turn: the statements kefu sends to its database per message, by kind.

The real app in-process (create_app, its lifespan, the webhook through httpx's ASGI transport) on a fresh
database, driven by the messages of bench/wechat_bench.py (bench/telegram_bench.py): USERS users, MESSAGES
messages each. Every statement is counted (SQLAlchemy's before_cursor_execute), with BEGIN and COMMIT, which
are round trips too, and the CPU time of the process per turn. A WeChat reply goes out in the response; a
Telegram reply is sent after it, to the fake Bot API of bench/telegram_peer.py (a child process), and each
update's count includes that send: the next update waits until the webhook's background work is done.
Run: `python -m bench.turn_sql [postgres|sqlite] [--telegram] [--show]`; `--show` also prints the statements
of the last user's last turn (a known client), in order.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import Connection, event

from bench.databases import drop_database, fresh_database
from bench.telegram_bench import SECRET, SECRET_HEADER, _plan
from bench.telegram_bench import TOKEN as TELEGRAM_TOKEN
from bench.wechat_bench import AES_KEY, APP_ID, CLIENT_CORE, ROOT, TOKEN, _free_port, _requests, _start

USERS, MESSAGES = 40, 5
_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", re.IGNORECASE)


def kind(statement: str) -> str:
    """`SELECT conversations`, `INSERT messages`: the verb and the first table named."""
    verb = statement.lstrip().split(None, 1)[0].upper()
    table = _TABLE.search(statement)
    return f"{verb} {table.group(1) if table else ''}".strip()


async def main(backend: str, show: bool = False, telegram: bool = False) -> None:
    url = await fresh_database("kefu_bench_turn_sql", backend)
    fake = None
    if telegram:
        port = _free_port()
        api_cmd = [sys.executable, "-m", "bench.telegram_peer", "fakeapi", str(port)]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        fake = await _start("fakeapi", api_cmd, env, port, "/stats", CLIENT_CORE, Path(tempfile.mkdtemp()))
        os.environ.update(
            KEFU_TELEGRAM_TOKEN=TELEGRAM_TOKEN,
            KEFU_TELEGRAM_SECRET=SECRET,
            KEFU_TELEGRAM_API_BASE=f"http://127.0.0.1:{port}",
        )
    os.environ.update(
        KEFU_DATABASE_URL=url,
        KEFU_WECHAT_TOKEN=TOKEN,
        KEFU_WECHAT_APP_ID=APP_ID,
        KEFU_WECHAT_APP_SECRET="app-secret",
        KEFU_WECHAT_AES_KEY=AES_KEY,
        KEFU_WECHAT_API_BASE="http://127.0.0.1:9/cgi-bin/",
        KEFU_LIMITS__MESSAGES_PER_MINUTE="0",
        KEFU_LOG_LEVEL="WARNING",
    )
    from handlers.app import create_app

    app = create_app(background=False)
    services = app.state.services
    if telegram:
        from bots.telegram.ratelimit import Limits, RateLimiter

        # Statements, not Telegram's pace: a reply held for its chat's next second would wait for a sweep
        # that does not run here, so the limits are lifted and every reply goes out after its own update.
        services.registry.get("telegram").limiter = RateLimiter(limits=Limits(0.0, 10_000, 10_000))
    counts: Counter[str] = Counter()
    round_trips = 0
    last_turn: list[str] = []

    def on_execute(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        nonlocal round_trips
        round_trips += 1
        counts[kind(statement)] += 1
        last_turn.append(" ".join(statement.split())[:160])

    def on_begin(conn: Connection) -> None:
        nonlocal round_trips
        if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return  # a statement run alone (`Database.execute_alone`): the database gets no BEGIN
        round_trips += 1
        counts["BEGIN"] += 1
        last_turn.append("BEGIN")

    def on_commit(_conn: object) -> None:
        nonlocal round_trips
        round_trips += 1
        counts["COMMIT"] += 1
        last_turn.append("COMMIT")

    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
            async with httpx.AsyncClient(transport=transport, base_url="http://kefu") as http:
                plan = _requests("S", USERS, MESSAGES)
                updates = _plan(7_000_000, USERS, MESSAGES)
                sync_engine = services.db.engine.sync_engine
                event.listen(sync_engine, "before_cursor_execute", on_execute)
                event.listen(sync_engine, "begin", on_begin)
                event.listen(sync_engine, "commit", on_commit)
                started = time.process_time()
                for i in range(MESSAGES):
                    for user in plan:
                        _openid, query, body = user[i]
                        last_turn.clear()
                        if telegram:
                            update = updates[plan.index(user)][i]
                            r = await http.post("/telegram", content=update, headers=headers)
                            for webhook in app.state.webhooks:
                                await webhook.drain()
                        else:
                            r = await http.post("/wechat", params=query, content=body)
                        assert r.status_code == 200, r.text
                cpu = time.process_time() - started
                event.remove(sync_engine, "before_cursor_execute", on_execute)
                event.remove(sync_engine, "begin", on_begin)
                event.remove(sync_engine, "commit", on_commit)
                # The webhook's background work (late turns, releases) is not part of any turn's response.
                for webhook in app.state.webhooks:
                    await webhook.drain()
    finally:
        await drop_database(url)
        if fake is not None:
            fake.proc.kill()
    turns = USERS * MESSAGES
    print(
        f"{backend}: {turns} {'Telegram' if telegram else 'WeChat'} turns,"
        f" {round_trips / turns:.1f} round trips per turn"
    )
    # The whole process (app, client, and SQLite itself when it is SQLite), one turn at a time.
    print(f"CPU time of this process per turn, client included: {1000 * cpu / turns:.2f} ms")
    for name, n in counts.most_common():
        print(f"  {n / turns:6.2f}  {name}")
    if show:
        print("the last turn's statements:")
        for statement in last_turn:
            print(f"  {statement}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    asyncio.run(main(args[0] if args else "postgres", show="--show" in sys.argv, telegram="--telegram" in sys.argv))
