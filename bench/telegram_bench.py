"""Telegram webhook benchmark: text updates from N concurrent private chats to one uvicorn worker of kefu.

Beside kefu, in the same run: a bare FastAPI endpoint on the same kind of database (secret check, JSON
parse, one row inserted, 200; bench/telegram_peer.py). kefu sends its replies to a fake Bot API process
(bench/telegram_peer.py) that counts them per chat. On PostgreSQL also two `kefu serve --role web`
processes and a worker, against two bare processes, the chats split between them. Everything runs on
127.0.0.1; the servers are pinned to core 0, the load generator and the fake Bot API to core 1. See
bench/README.md.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from bench.databases import drop_database, fresh_database
from bench.figures import Figure, emit, quick
from bench.wechat_bench import (
    CLIENT_CORE,
    ROOT,
    ROUNDS,
    SERVER_CORE,
    VENV_BIN,
    Connection,
    Server,
    _free_port,
    _port,
    _processes,
    _start,
    heaviest,
    medians,
    post_wire,
    start_bare,
    start_kefu,
)

TOKEN = "4242:BENCH"
SECRET = "kefu-bench-secret_0123456789"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# (concurrent chats, updates per chat); the last load is the one in the aggregated table.
LOADS = ((5, 10), (20, 5)) if quick() else ((10, 20), (100, 10))
TEXTS = (
    "你好，我想咨询一下广告投放的报价",
    "我们上个月的推广效果不好，要投诉",
    "建议你们的报表加上每日曝光量",
    "项目名称是双十一品牌推广",
    "联系电话 13800138000",
    "请问什么时候能给答复？",
    "谢谢",
)
_IDS = itertools.count(int(time.time()) * 1000)


def account_env(api_port: int, database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        KEFU_TELEGRAM_TOKEN=TOKEN,
        KEFU_TELEGRAM_SECRET=SECRET,
        KEFU_TELEGRAM_API_BASE=f"http://127.0.0.1:{api_port}",
        KEFU_DATABASE_URL=database_url,
        BARE_DATABASE_URL=database_url,
        KEFU_LOG_LEVEL="WARNING",
        # Throughput, not abuse: each simulated user sends faster than a person would.
        KEFU_LIMITS__MESSAGES_PER_MINUTE="0",
        PYTHONPATH=str(ROOT),
    )
    return env


@dataclass
class Result:
    chats: int
    per_chat: int
    elapsed: float
    latencies: list[float]
    errors: int
    replied_chats: int = 0
    replies: int = 0
    # Seconds from the end of the load until every chat had a reply (None: not within the wait).
    all_replied_after: float | None = None
    # How long the replies were waited for (0: counted as they stood).
    reply_wait: float = 0.0

    @property
    def sent(self) -> int:
        return self.chats * self.per_chat

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed

    def pct(self, p: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(p * len(xs)))] * 1000 if xs else float("nan")


def _plan(base_chat: int, chats: int, per_chat: int) -> list[list[bytes]]:
    """Each chat's updates as JSON bodies, built before the clock starts."""
    plan = []
    for c in range(chats):
        chat_id = base_chat + c
        user = {"id": chat_id, "is_bot": False, "first_name": f"bench{c}", "language_code": "zh-hans"}
        bodies = []
        for i in range(per_chat):
            update = {
                "update_id": next(_IDS),
                "message": {
                    "message_id": next(_IDS),
                    "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "private", "first_name": f"bench{c}"},
                    "from": user,
                    "text": TEXTS[(c + i) % len(TEXTS)],
                },
            }
            bodies.append(json.dumps(update, ensure_ascii=False).encode())
        plan.append(bodies)
    return plan


async def run_load(bases: list[str], base_chat: int, chats: int, per_chat: int) -> Result:
    """Each chat posts its updates one after another over its own keep-alive connection; chat c goes to server c mod
    len(bases). The requests are bytes built before the clock starts (as in the WeChat benchmark): an HTTP client
    such as httpx spends milliseconds of the load generator's CPU per request once it holds 100 connections, and
    then it, not the server, sets the pace."""
    headers = {SECRET_HEADER: SECRET}
    plan = [
        (port, [post_wire(port, "/telegram", "application/json", body, headers) for body in bodies])
        for port, bodies in (
            (_port(bases[c % len(bases)]), bodies) for c, bodies in enumerate(_plan(base_chat, chats, per_chat))
        )
    ]
    latencies: list[float] = []
    errors = 0

    async def chat(port: int, wires: list[bytes]) -> None:
        nonlocal errors
        connection = Connection(port)
        try:
            for wire in wires:
                started = time.perf_counter()
                try:
                    status, _ = await asyncio.wait_for(connection.post(wire), 30)
                except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
                    status = 0
                    connection.close()
                latencies.append(time.perf_counter() - started)
                errors += 0 if status == 200 else 1
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(chat(port, wires) for port, wires in plan))
    elapsed = time.perf_counter() - started
    return Result(chats, per_chat, elapsed, latencies, errors)


async def _sends(api: str) -> dict[str, int]:
    async with httpx.AsyncClient(base_url=api) as http:
        sends: dict[str, int] = (await http.get("/stats")).json()["sends"]
        return sends


async def settle_replies(api: str, result: Result, base_chat: int, wait: float = 60.0) -> None:
    """Replies go out after the 200 (at most 1/s per chat, 30/s in all): wait until every chat has one (or `wait` s)."""
    started = time.monotonic()
    result.reply_wait = wait
    chats = {str(base_chat + c) for c in range(result.chats)}
    while True:
        sends = await _sends(api)
        replied = {c for c in chats if sends.get(c, 0) > 0}
        if len(replied) == len(chats):
            result.all_replied_after = time.monotonic() - started
            break
        if time.monotonic() - started > wait:
            break
        await asyncio.sleep(0.25)
    result.replied_chats = len(replied)
    result.replies = sum(sends.get(c, 0) for c in chats)


async def kefu_and_bare(kind: str, api_port: int, tmp: Path, processes: int = 1) -> tuple[list[Result], list[Result]]:
    """Run kefu and the bare endpoint side by side on fresh databases of `kind`, each as `processes` web processes.

    As in the WeChat benchmark, the lighter loads run once each and the heaviest ROUNDS times, kefu and bare in turn,
    so that a machine whose speed drifts drifts under both alike. kefu's replies leave at the Bot API's pace (30/s in
    all) during and after each load; the rounds do not wait for them (that would take half a minute per round), so
    every round runs with replies of earlier loads still leaving, as under a sustained load. The replies owed to the
    lighter load's chats and the first round's are waited for; the later rounds' are counted as they stand at the end.
    """
    api = f"http://127.0.0.1:{api_port}"
    loads = LOADS if processes == 1 else LOADS[-1:]
    chats = itertools.count((1_000_000 if kind == "sqlite" else 2_000_000) + 100_000 * processes, 10_000)
    if kind == "sqlite":
        kefu_url, bare_url = f"sqlite:///{tmp}/kefu{processes}.db", f"sqlite:///{tmp}/bare{processes}.db"
    else:
        kefu_url = await fresh_database("kefu_bench_telegram", migrate=False)
        bare_url = await fresh_database("kefu_bench_telegram_bare", migrate=False)
    started: list[Server] = []
    try:
        env = account_env(api_port, kefu_url)
        subprocess.run([str(VENV_BIN / "kefu"), "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)  # noqa: ASYNC221
        web, everything = await start_kefu(f"kefu-{kind}-{processes}", env, processes, tmp)
        started += everything
        env = account_env(api_port, bare_url)
        servers = await start_bare("bench.telegram_peer:bare_app", f"bare-{kind}-", env, processes, tmp)
        started += servers
        kefu_bases, bare_bases = [s.base for s in web], [s.base for s in servers]
        # Warm-up: imports, pools, first writes.
        await run_load(kefu_bases, next(chats), 5 * processes, 4)
        await run_load(bare_bases, next(chats), 5 * processes, 4)
        kefu: list[tuple[Result, int]] = []
        bare: list[Result] = []
        *lighter, (heavy_chats, heavy_per_chat) = loads
        rounds = [*lighter, *[(heavy_chats, heavy_per_chat)] * ROUNDS]
        for n, (c, per_chat) in enumerate(rounds):
            first = next(chats)
            kefu.append((await run_load(kefu_bases, first, c, per_chat), first))
            bare.append(await run_load(bare_bases, next(chats), c, per_chat))
            if n <= len(lighter):
                await settle_replies(api, *kefu[-1])
        for result, first in kefu[len(lighter) + 1 :]:
            await settle_replies(api, result, first, wait=0)
        async with httpx.AsyncClient(base_url=servers[0].base) as http:
            rows = (await http.get("/count")).json()["rows"]
        expected = 20 * processes + sum(c * m for c, m in rounds)
        if rows != expected:
            print(f"  bare-{kind}: {rows} rows stored, {expected} expected")
            bare[-1].errors += abs(expected - rows)
        return [r for r, _ in kefu], bare
    finally:
        for server in started:
            server.stop()
        if kind == "postgres":
            await drop_database(kefu_url)
            await drop_database(bare_url)


def _row(name: str, r: Result, replies: bool) -> str:
    waited = f"{'>':>2}{r.reply_wait:.0f} s" if r.reply_wait else "not waited"
    after = f"{r.all_replied_after:5.1f} s" if r.all_replied_after is not None else waited
    replied = f"{r.replied_chats:>4}/{r.chats:<4} {r.replies:>5} {after}" if replies else f"{'—':>15}"
    return (
        f"{name:<16} | {r.chats:>5} | {r.sent:>5} | {r.rate:>8.1f}/s | {r.pct(0.5):>7.1f} ms | {r.pct(0.99):>7.1f} ms"
        f" | {r.errors:>3} | {replied}"
    )


HEADER = (
    f"{'server':<16} | {'chats':>5} | {'upds':>5} | {'upds/s':>10} | {'p50':>10} | {'p99':>10}"
    f" | err | replied chats, replies by then, every chat replied after the load"
)


async def main() -> None:
    try:
        os.sched_setaffinity(0, {CLIENT_CORE})
        pinned = f"load generator and fake Bot API on core {CLIENT_CORE}, servers on core {SERVER_CORE}"
    except (OSError, AttributeError):
        pinned = "not pinned (single core or no sched_setaffinity)"
    tmp = Path(tempfile.mkdtemp(prefix="kefu-telegram-bench-"))
    api_port = _free_port()
    api_cmd = [sys.executable, "-m", "bench.telegram_peer", "fakeapi", str(api_port)]
    fake = await _start("fakeapi", api_cmd, account_env(api_port, ""), api_port, "/stats", CLIENT_CORE, tmp)
    print(f"Telegram webhook, one uvicorn worker; {pinned}; {os.cpu_count()} cores")
    print("latency = webhook request to 200 (kefu: the turn committed; replies follow in the background)")
    lines: list[str] = []
    figures: list[Figure] = []
    try:
        for kind, name in (("sqlite", "SQLite"), ("postgres", "PostgreSQL")):
            for processes in (1, 2):
                label = f"Telegram webhook, {name}, {_processes(processes)}"
                if kind == "sqlite" and processes > 1:
                    figures.append(Figure(label, None, None, "upds/s", note="n/a, single process by design"))
                    continue
                try:
                    kefu, bare = await kefu_and_bare(kind, api_port, tmp, processes)
                except (OSError, asyncpg.PostgresError) as exc:
                    lines.append(f"{kind}: skipped ({type(exc).__name__}: {exc})")
                    continue
                tag = "" if processes == 1 else f" x{processes}"
                for k, b in zip(kefu, bare, strict=True):
                    lines.append(_row(f"kefu {kind}{tag}", k, True))
                    lines.append(_row(f"bare {kind}{tag}", b, False))
                    ratio = f"kefu/bare: {k.rate / b.rate:.2f}x upds/s, p99 {k.pct(0.99) / b.pct(0.99):.1f}x"
                    lines.append(f"{'':<16}   {ratio}")
                heavy, heavy_bare = heaviest(kefu), heaviest(bare)
                rounds = f", median of {len(heavy)} rounds in turn" if len(heavy) > 1 else ""
                baseline = f"bare endpoint ({processes} process{'es' if processes > 1 else ''}, same database{rounds})"
                label += f", {heavy[0].chats} chats"
                (rate, p99), (bare_rate, bare_p99) = medians(heavy), medians(heavy_bare)
                figures.append(Figure(label, rate, bare_rate, "upds/s", baseline))
                figures.append(Figure(label, p99, bare_p99, "ms p99", baseline))
                if len(heavy) > 1:
                    ratios = ", ".join(f"{x.rate / y.rate:.2f}x" for x, y in zip(heavy, heavy_bare, strict=True))
                    lines.append(
                        f"{kind}{tag}, {len(heavy)} rounds in turn: kefu / bare per round {ratios};"
                        f" medians {rate:.1f} / {bare_rate:.1f} upds/s, {rate / bare_rate:.2f}x;"
                        f" p99 {p99:.0f} / {bare_p99:.0f} ms"
                    )
    finally:
        fake.stop()
    print(HEADER)
    for line in lines:
        print(line)
    print("x2 = two `kefu serve --role web` processes, one on each core, and a worker on core 0 (bare: two processes,")
    print("one on each core); chats split between them")
    emit(figures)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    # uvloop: the load generator's own event loop costs as little CPU as it can.
    import uvloop

    uvloop.run(main())
