"""Where a WeChat turn's time goes: py-spy samples `kefu serve` under the WeChat benchmark's load.

One `kefu serve` (role all) on a fresh PostgreSQL database, pinned to core 0, takes USERS users x MESSAGES
messages (bench/wechat_bench.py's load generator, on core 1) while py-spy (the `bench` extra) samples it.
Prints the functions with the most samples, on the stack (inclusive) and at the top (self), and keeps the
collapsed stacks in var/bench/turn_profile.txt (open with any flame graph viewer, e.g. speedscope).
Run: `python -m bench.turn_profile`; py-spy needs ptrace rights over the server (root, or the same user
with kernel.yama.ptrace_scope 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from bench import one_channel
from bench.databases import drop_database, fresh_database
from bench.wechat_bench import (
    CLIENT_CORE,
    ROOT,
    VENV_BIN,
    _free_port,
    start_kefu,
)

USERS, MESSAGES = 100, 10
OUT = ROOT / "var" / "bench" / "turn_profile.txt"
TOP = 25


def summarize(collapsed: Path, top: int = TOP) -> str:
    """The functions with most samples (inclusive, then self) in py-spy's collapsed ("raw") stacks."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = [_short(f) for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    lines = [f"{total} samples", "inclusive:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    lines.append("self:")
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """`receive (core/engine/turns.py:199)` -> `receive (core/engine/turns.py)`: one entry per function."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


async def main() -> None:
    channel = one_channel.channel_from_argv("turn_profile")
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setaffinity(0, {CLIENT_CORE})
    tmp = Path(tempfile.mkdtemp(prefix="kefu-turn-profile-"))
    url = await fresh_database("kefu_bench_turn_profile")
    api_port = _free_port()
    fake = await one_channel.start_fake_api(channel, api_port, tmp)
    try:
        env = one_channel.account_env(channel, api_port, url)
        _, servers = await start_kefu("kefu-profile", env, 1, tmp)
        try:
            server = servers[0]
            await one_channel.load(channel, server.base, "Pw", 10, 5)  # warm-up: imports, pools, token, first writes
            OUT.parent.mkdir(parents=True, exist_ok=True)
            spy = subprocess.Popen(  # noqa: ASYNC220 - started once, stopped below
                [str(VENV_BIN / "py-spy"), "record", "--pid", str(server.proc.pid), "--rate", "200",
                 "--format", "raw", "--output", str(OUT), "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )  # fmt: skip
            await asyncio.sleep(1.0)
            rate, p99, _ = await one_channel.load(channel, server.base, "P", USERS, MESSAGES)
            spy.send_signal(2)  # SIGINT: py-spy writes what it sampled and exits
            spy.wait(30)
        finally:
            for s in servers:
                s.stop()
    finally:
        fake.stop()
        await drop_database(url)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{channel}, {USERS} users x {MESSAGES} messages: {rate:.0f} msgs/s, p99 {p99:.0f} ms")
    print(summarize(OUT))


if __name__ == "__main__":
    asyncio.run(main())
