"""Replies sent twice after kill -9 under load, on Telegram and WeChat, beside the sends on the wire at the kills.

One `kefu serve` (role all, PostgreSQL) takes messages from many chats while it is killed with SIGKILL and
started again, N times. The fake API (bench/telegram_peer.py, bench/wechat_peer.py) answers each send after
100-400 ms, as a distant network would, and counts every send on arrival. A send is on the wire from its
arrival until its sender has read the answer, and the outbox cannot know whether those arrived: the fake API
counts the sends it was still holding when their sender died, and at each kill (the process stopped first)
the bench counts the answers lying unread in the process's sockets from the fake API (/proc/net/tcp).
The clients post like the networks do: a message that got no answer is posted again until it
gets one. WeChat runs with a passive budget of 1 ms, so every reply goes through the outbox and the fake API,
as every Telegram reply does (and as WeChat replies do whenever a turn outlasts the budget).

Once the load is done and every outbox row is settled: re-sent = sends that reached the API minus the
replies sent through it (outbox rows, not passive replies). At most the sends on the wire at the kills
should be repeated. "lost" counts client messages answered with a 200 that kefu never stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import func, select

from bench import telegram_bench
from bench.databases import drop_database, fresh_database
from bench.figures import Figure, emit, sized
from bench.wechat_bench import (
    CLIENT_CORE,
    SERVER_CORE,
    Server,
    _account_env,
    _free_port,
    _requests,
    _start,
    kefu_command,
)
from core.db.models import Message, OutboxMessage
from core.db.session import Database
from core.outbox import IN_RESPONSE, SENDING, SENT

CHATS = sized(40, 10)
PER_CHAT = sized(5, 3)
# BENCH_CRASH_KILLS: more kills for a steadier figure.
KILLS = int(os.environ.get("BENCH_CRASH_KILLS", "0")) or sized(3, 2)
LATENCY_MS = "100,400"
# The outbox's lease is 60 s: rows that were on the wire at a kill go again after it.
SETTLE_SECONDS = 150.0
# A start on a busy machine (imports, migrations, the rules) can take a while; the clients keep retrying.
START_WAIT = 120.0
LABELS = {"telegram": "Telegram", "wechat": "WeChat"}


@dataclass
class Crashes:
    channel: str
    replies: int
    sends: int
    # Sends on the wire at the kills: held by the fake API (cut) or answered but unread by the process.
    cut: int
    unread: int
    lost: int

    @property
    def in_flight(self) -> int:
        return self.cut + self.unread

    @property
    def resent(self) -> int:
        return self.sends - self.replies


Post = Callable[[httpx.AsyncClient, str, int, int], Awaitable[bool]]


async def _drive(base: Callable[[], str], chats: int, per_chat: int, post: Post) -> None:
    """Every chat posts its messages in turn; one without a 200 is posted again until it gets one."""
    async with httpx.AsyncClient(timeout=10) as http:

        async def chat(c: int) -> None:
            for i in range(per_chat):
                deadline = time.monotonic() + 300
                while not await post(http, base(), c, i):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"chat {c} message {i} never answered")
                    await asyncio.sleep(0.2)

        await asyncio.gather(*(chat(c) for c in range(chats)))


async def _settled(db: Database, api: str) -> tuple[int, int, int, int]:
    """Wait until no outbox row is unsent and nothing is on the wire.

    (replies sent through the API, sends that reached it, client messages stored, sends cut off by a kill)
    """
    deadline = time.monotonic() + SETTLE_SECONDS
    async with httpx.AsyncClient(base_url=api) as http:
        while True:
            async with db.transaction() as session:
                unsent = await session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.status.in_(("pending", SENDING)))
                )
                replies = await session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.status == SENT, OutboxMessage.external_id.is_distinct_from(IN_RESPONSE))
                )
                inbound = await session.scalar(
                    select(func.count()).select_from(Message).where(Message.direction == "in")
                )
            stats = (await http.get("/stats")).json()
            if (unsent == 0 and stats["open"] == 0) or time.monotonic() > deadline:
                return int(replies or 0), sum(stats["sends"].values()), int(inbound or 0), stats["cut"]
            await asyncio.sleep(0.5)


async def run(channel: str, tmp: Path) -> Crashes:
    url = await fresh_database(f"kefu_bench_crash_{channel}")
    api_port = _free_port()
    api = f"http://127.0.0.1:{api_port}"
    peer = "bench.telegram_peer" if channel == "telegram" else "bench.wechat_peer"
    if channel == "telegram":
        env = telegram_bench.account_env(api_port, url)
    else:
        # Every reply through the outbox, as when turns outlast the passive budget (a busy or slow moment).
        env = _account_env(api_port, url) | {"KEFU_WECHAT_PASSIVE_BUDGET_SECONDS": "0.001"}
    env = env | {"BENCH_API_LATENCY_MS": LATENCY_MS}
    fake = await _start(
        f"fakeapi-{channel}", [sys.executable, "-m", peer, "fakeapi", str(api_port)], env, api_port, "/stats",
        CLIENT_CORE, tmp,
    )  # fmt: skip
    port = _free_port()
    name = f"kefu-crash-{channel}"
    server: Server | None = None
    db = Database(url)
    try:
        server = await _start(name, kefu_command(port), env, port, "/healthz", SERVER_CORE, tmp, START_WAIT)
        post = _telegram_post() if channel == "telegram" else _wechat_post(port)
        running = server
        load = asyncio.create_task(_drive(lambda: running.base, CHATS, PER_CHAT, post))
        unread = 0
        for _ in range(KILLS):
            await asyncio.sleep(random.uniform(1.0, 2.5))
            if load.done():
                break
            unread += _kill(running.proc, api_port)
            running.proc.wait()
            server = None
            server = running = await _start(
                name, kefu_command(port), env, port, "/healthz", SERVER_CORE, tmp, START_WAIT
            )
        await load
        replies, sends, inbound, cut = await _settled(db, api)
    finally:
        if server is not None:
            server.stop()
        fake.stop()
        await db.dispose()
        await drop_database(url)
    return Crashes(channel, replies, sends, cut, unread, lost=CHATS * PER_CHAT - inbound)


def _kill(proc: subprocess.Popen[bytes], api_port: int) -> int:
    """SIGKILL the process; the answers of the API that lay unread in its sockets at that instant.

    Stopped first, so that it reads nothing more while its sockets are looked at.
    """
    proc.send_signal(signal.SIGSTOP)
    stat = Path(f"/proc/{proc.pid}/stat")
    # The stop takes effect when the process is next interrupted: a few microseconds.
    while stat.read_text().rsplit(")", 1)[1].split()[0] not in ("T", "t"):
        time.sleep(0.0001)
    unread = unread_answers(api_port)
    proc.kill()
    return unread


def unread_answers(api_port: int, table: str = "/proc/net/tcp") -> int:
    """Connections to the API's port with bytes received but not read by their owner (rx_queue > 0).

    A client sends one request at a time on a connection, so each is one answer not read yet. Counted for
    every process of the machine: the bench's other clients talk to kefu, not to the API.
    """
    count = 0
    for line in Path(table).read_text().splitlines()[1:]:
        fields = line.split()
        remote_port = int(fields[2].rsplit(":", 1)[1], 16)
        rx_queue = int(fields[4].split(":")[1], 16)
        if remote_port == api_port and rx_queue > 0:
            count += 1
    return count


def _telegram_post() -> Post:
    plan = telegram_bench._plan(7_000_000, CHATS, PER_CHAT)
    headers = {telegram_bench.SECRET_HEADER: telegram_bench.SECRET, "Content-Type": "application/json"}

    async def post(http: httpx.AsyncClient, base: str, c: int, i: int) -> bool:
        try:
            return (await http.post(f"{base}/telegram", content=plan[c][i], headers=headers)).status_code == 200
        except httpx.HTTPError:
            return False

    return post


def _wechat_post(port: int) -> Post:
    plan = _requests("C", CHATS, PER_CHAT)

    async def post(http: httpx.AsyncClient, base: str, c: int, i: int) -> bool:
        _openid, query, body = plan[c][i]
        try:
            r = await http.post(f"{base}/wechat", params=query, content=body, headers={"Content-Type": "text/xml"})
        except httpx.HTTPError:
            return False
        return r.status_code == 200

    return post


async def main() -> None:
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setaffinity(0, {CLIENT_CORE})
    tmp = Path(tempfile.mkdtemp(prefix="kefu-crash-bench-"))
    try:
        results = [await run(channel, tmp) for channel in ("telegram", "wechat")]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"kill -9 under load: {CHATS} chats x {PER_CHAT} messages, {KILLS} kills, API latency {LATENCY_MS} ms")
    print(
        f"{'channel':<9} | {'replies':>7} | {'sends':>6} | {'re-sent':>7} | on the wire at kills (held, unread) | lost"
    )
    for r in results:
        wire = f"{r.in_flight} ({r.cut}, {r.unread})"
        print(f"{r.channel:<9} | {r.replies:>7} | {r.sends:>6} | {r.resent:>7} | {wire:>35} | {r.lost}")
    print(json.dumps([r.__dict__ | {"resent": r.resent, "in_flight": r.in_flight} for r in results]))
    emit(
        Figure(
            f"replies re-sent after {KILLS} kill -9s, {LABELS[r.channel]}, {CHATS} chats x {PER_CHAT}",
            r.resent,
            r.in_flight,
            "replies",
            "sends on the wire at the kills",
        )
        for r in results
    )


if __name__ == "__main__":
    asyncio.run(main())
