"""CPU time per message of `kefu serve` and of the bare endpoint: a figure a busy machine does not blur.

Throughput on a shared machine moves with everything else that runs on it; the CPU time a server spends per
message (utime + stime from /proc/PID/stat, before and after the load) moves far less. Both servers get the
same load (the channel benchmark's generator, USERS users x MESSAGES messages, after a warm-up) on a fresh
PostgreSQL database each. On Telegram the figure covers the load only: kefu's replies go on leaving at the Bot
API's pace (30/s) during it and after it, so its share of their sending is in the figure as it is in the
benchmark's throughput. Run: `python -m bench.turn_cpu [wechat|telegram]`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from bench import one_channel
from bench.databases import drop_database, fresh_database
from bench.wechat_bench import (
    CLIENT_CORE,
    Server,
    _free_port,
    start_bare,
    start_kefu,
)

USERS, MESSAGES = 100, 10
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """The CPU time (utime + stime) a process has used, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


async def per_message(channel: str, server: Server, tag: str) -> tuple[float, float, float, int]:
    """(CPU ms per message, msgs/s, p99 ms, replies carried in the response) over the load, after a warm-up."""
    await one_channel.load(channel, server.base, f"{tag}w", 10, 5)
    before = cpu_seconds(server.proc.pid)
    rate, p99, passive = await one_channel.load(channel, server.base, tag, USERS, MESSAGES)
    used = cpu_seconds(server.proc.pid) - before
    return 1000 * used / (USERS * MESSAGES), rate, p99, passive


async def main() -> None:
    channel = one_channel.channel_from_argv("turn_cpu")
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setaffinity(0, {CLIENT_CORE})
    tmp = Path(tempfile.mkdtemp(prefix="kefu-turn-cpu-"))
    api_port = _free_port()
    fake = await one_channel.start_fake_api(channel, api_port, tmp)
    figures: dict[str, tuple[float, float, float, int]] = {}
    try:
        for name in ("kefu", "bare"):
            url = await fresh_database(f"kefu_bench_turn_cpu_{name}")
            env = one_channel.account_env(channel, api_port, url)
            try:
                if name == "kefu":
                    _, servers = await start_kefu("kefu-cpu", env, 1, tmp)
                else:
                    servers = await start_bare(one_channel.bare_app(channel), "bare-cpu", env, 1, tmp)
                try:
                    figures[name] = await per_message(channel, servers[0], f"C{name[0]}")
                finally:
                    for s in servers:
                        s.stop()
            finally:
                await drop_database(url)
    finally:
        fake.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    (kefu_ms, kefu_rate, kefu_p99, passive), (bare_ms, bare_rate, bare_p99, _) = figures["kefu"], figures["bare"]
    print(f"{USERS} users x {MESSAGES} {channel} messages, PostgreSQL, CPU time of the server process per message")
    print(f"kefu {kefu_ms:.2f} ms ({kefu_rate:.0f} msgs/s, p99 {kefu_p99:.0f} ms, {passive} answered in the response),")
    print(f"bare {bare_ms:.2f} ms ({bare_rate:.0f} msgs/s, p99 {bare_p99:.0f} ms),")
    ceiling = f"one core's ceiling kefu {1000 / kefu_ms:.0f}, bare {1000 / bare_ms:.0f} msgs/s"
    print(f"kefu / bare {kefu_ms / bare_ms:.2f}x: {ceiling}")


if __name__ == "__main__":
    asyncio.run(main())
