"""Console live streams on PostgreSQL: the server's CPU per event with 1 and with 200 open streams.

One `kefu serve` process (pinned to its core) holds the streams, one per rep (200 reps of the same
department, each signed in once); a supervisor adds internal notes to one ticket through the console
API, and every note is one event every stream must receive. The server's CPU time (utime + stime from
/proc) over the notes, divided by their number, is the cost of one event, the note's own request
included; the figure with 200 streams is set beside the one with a single stream from the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import select

from bench.databases import drop_database, fresh_database
from bench.figures import Figure, emit, sized
from bench.wechat_bench import CLIENT_CORE, SERVER_CORE, Server, _free_port, _start, kefu_command
from core.clock import SystemClock
from core.db.models import ConsoleSession, Ticket
from core.messages import ConversationRef, InboundMessage, MessageType
from core.settings import Settings
from handlers.console.auth import token_hash
from handlers.console.users import create_user
from handlers.services import build_services

STREAMS = (1, 200)
NOTES = sized(60, 20)
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def seed(url: str, reps: int) -> tuple[str, list[str], str, str]:
    """A ticket, a supervisor's session (token, CSRF) and one session per rep: (number, rep tokens, token, csrf)."""
    services = build_services(Settings(database_url=url, env="test"), SystemClock())
    await services.start(migrate=False)
    try:
        now = services.clock.now()
        tokens, boss, csrf = [], secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        async with services.db.transaction() as session:
            sup = await create_user(
                session, username="boss", display_name="主管", role="supervisor", password="bench-pass-0", now=now
            )
            users = [sup.id]
            first = await create_user(
                session, username="rep0", display_name="客服0", role="rep", password="bench-pass-0",
                departments=["cs"], now=now,
            )  # fmt: skip
            users.append(first.id)
        async with services.db.transaction() as session:
            for i in range(1, reps):
                # One password for every rep (it must pass the strength check); they get sessions below, no sign-in.
                clone = await create_user(
                    session, username=f"rep{i}", display_name=f"客服{i}", role="rep", password="bench-pass-0",
                    departments=["cs"], now=now,
                )  # fmt: skip
                users.append(clone.id)
            for n, user_id in enumerate(users):
                token = boss if n == 0 else secrets.token_urlsafe(32)
                session.add(
                    ConsoleSession(
                        id=token_hash(token), user_id=user_id, csrf_token=csrf if n == 0 else "x",
                        language="zh", created_at=now, last_seen_at=now, expires_at=now + timedelta(hours=12),
                    )
                )  # fmt: skip
                if n:
                    tokens.append(token)
        await services.engine.receive(
            InboundMessage(
                ref=ConversationRef(channel="web", external_user_id="bench-visitor"),
                external_id="bench-1",
                type=MessageType.TEXT,
                text="人工",
            )
        )
        async with services.db.transaction() as session:
            number = (await session.execute(select(Ticket.number))).scalar_one()
        return number, tokens, boss, csrf
    finally:
        await services.stop()


async def _read(http: httpx.AsyncClient, token: str, ready: asyncio.Event, counts: list[int], i: int) -> None:
    async with http.stream("GET", "/console/api/events", headers={"Cookie": f"kefu_console={token}"}) as response:
        async for line in response.aiter_lines():
            if line.startswith("event: ready"):
                ready.set()
            elif line.startswith("event: note"):
                counts[i] += 1


async def measure(server: Server, tokens: list[str], number: str, boss: str, csrf: str) -> float:
    """Milliseconds of server CPU per note, with one stream per token open."""
    counts = [0] * len(tokens)
    limits = httpx.Limits(max_connections=len(tokens) + 5)
    async with httpx.AsyncClient(base_url=server.base, timeout=60, limits=limits) as http:
        readies = [asyncio.Event() for _ in tokens]
        tasks = [asyncio.create_task(_read(http, t, readies[i], counts, i)) for i, t in enumerate(tokens)]
        try:
            await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)
            await asyncio.sleep(1.0)
            start = cpu_seconds(server.proc.pid)
            headers = {"Cookie": f"kefu_console={boss}", "X-CSRF-Token": csrf}
            for n in range(NOTES):
                answer = await http.post(f"/console/api/tickets/{number}/note", json={"text": f"n{n}"}, headers=headers)
                assert answer.status_code == 200, answer.text
            deadline = time.monotonic() + 120
            while min(counts) < NOTES and time.monotonic() < deadline:  # noqa: ASYNC110 - counts, no event to await
                await asyncio.sleep(0.05)
            assert min(counts) >= NOTES, f"streams received {min(counts)} of {NOTES} events"
            used = cpu_seconds(server.proc.pid) - start
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return used * 1000 / NOTES


async def main() -> None:
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setaffinity(0, {CLIENT_CORE})
    url = await fresh_database("kefu_live_bench")
    tmp = Path(tempfile.mkdtemp(prefix="kefu-live-bench-"))
    try:
        number, tokens, boss, csrf = await seed(url, max(STREAMS))
        env = {**os.environ, "KEFU_DATABASE_URL": url, "KEFU_ENV": "test"}
        port = _free_port()
        server = await _start("kefu", kefu_command(port), env, port, "/healthz", SERVER_CORE, tmp)
        try:
            results = {n: await measure(server, tokens[:n], number, boss, csrf) for n in STREAMS}
        finally:
            server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        await drop_database(url)
    print(f"console live streams, one kefu process on PostgreSQL, {NOTES} notes (one event each)")
    print(f"{'open streams':<14} {'server CPU per event':>22}")
    for n, ms in results.items():
        print(f"{n:<14} {ms:>19.2f} ms")
    emit(
        [
            Figure(
                f"console live: server CPU per event, {max(STREAMS)} streams",
                results[max(STREAMS)],
                results[min(STREAMS)],
                "ms CPU",
                "the same with 1 stream",
            )
        ]
    )


if __name__ == "__main__":
    asyncio.run(main())
