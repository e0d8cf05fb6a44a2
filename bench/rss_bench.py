"""Resident memory of `kefu serve`: idle after start, and after N conversations driven through its WeChat webhook.

Beside it, in the same run: the bare WeChat endpoint (bench/wechat_peer.py) under uvicorn, a process with
the same web, database and crypto libraries loaded, idle and after the same N messages. kefu runs in one
process (role all) on a fresh SQLite file with every channel configured (WeChat Official Account, WeCom kf,
Telegram with its reps' group, web chat); each conversation is a new WeChat user sending one message, over 50
keep-alive connections. Memory is VmRSS (and the peak, VmHWM) from /proc/PID/status.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.figures import Figure, count_label, emit, sized
from bench.wechat_bench import (
    CLIENT_CORE,
    ROOT,
    SERVER_CORE,
    VENV_BIN,
    Result,
    Server,
    _account_env,
    _free_port,
    _start,
    _stats,
    bare_command,
    kefu_command,
    run_load,
    settle_sends,
)

CONVERSATIONS = sized(10_000, 1_000)
CONNECTIONS = 50
SETTLE_SECONDS = 3.0  # after start: the lifespan's first ticks and config poll have run


def every_channel(env: dict[str, str], api_port: int) -> dict[str, str]:
    """The WeChat bench's environment plus WeCom kf and Telegram (webhook and reps' group) on the fake API."""
    api = f"http://127.0.0.1:{api_port}"
    return env | {
        "KEFU_WECOM_CORP_ID": "wwbench",
        "KEFU_WECOM_SECRET": "kf-secret",
        "KEFU_WECOM_TOKEN": "kf-token",
        "KEFU_WECOM_AES_KEY": env["KEFU_WECHAT_AES_KEY"],
        "KEFU_WECOM_API_BASE": f"{api}/cgi-bin/",
        "KEFU_TELEGRAM_TOKEN": "4242:BENCH",
        "KEFU_TELEGRAM_SECRET": "kefu-bench-secret",
        "KEFU_TELEGRAM_API_BASE": api,
        "KEFU_TELEGRAM_REPS_CHAT_ID": "-1004242",
    }


@dataclass
class Memory:
    idle_mb: float
    after_mb: float
    peak_mb: float
    load: Result


def status_mb(pid: int, field: str) -> float:
    """A memory line of /proc/PID/status (VmRSS, VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


async def measure(server: Server, api: str, tag: str, *, check_sends: bool) -> Memory:
    await asyncio.sleep(SETTLE_SECONDS)
    idle = status_mb(server.proc.pid, "VmRSS")
    before = await _stats(api)
    load = await run_load(server.base, tag, CONVERSATIONS, 1, connections=CONNECTIONS)
    if check_sends:
        await settle_sends(api, load, before, f"oBench{tag}")
    await asyncio.sleep(SETTLE_SECONDS)
    return Memory(idle, status_mb(server.proc.pid, "VmRSS"), status_mb(server.proc.pid, "VmHWM"), load)


async def main() -> None:
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setaffinity(0, {CLIENT_CORE})
    tmp = Path(tempfile.mkdtemp(prefix="kefu-rss-bench-"))
    api_port = _free_port()
    api = f"http://127.0.0.1:{api_port}"
    api_cmd = [sys.executable, "-m", "bench.wechat_peer", "fakeapi", str(api_port)]
    fake = await _start("fakeapi", api_cmd, _account_env(api_port, ""), api_port, "/stats", CLIENT_CORE, tmp)
    try:
        env = every_channel(_account_env(api_port, f"sqlite:///{tmp}/kefu.db"), api_port)
        subprocess.run([str(VENV_BIN / "kefu"), "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)  # noqa: ASYNC221
        port = _free_port()
        server = await _start("kefu", kefu_command(port), env, port, "/healthz", SERVER_CORE, tmp)
        try:
            kefu = await measure(server, api, "R", check_sends=True)
        finally:
            server.stop()
        env = _account_env(api_port, f"sqlite:///{tmp}/bare.db")
        port = _free_port()
        server = await _start(
            "bare", bare_command("bench.wechat_peer:bare_app", port), env, port, "/count", SERVER_CORE, tmp
        )
        try:
            bare = await measure(server, api, "Rb", check_sends=False)
        finally:
            server.stop()
    finally:
        fake.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"resident memory (MiB), one process on SQLite, {CONVERSATIONS:,} conversations of one WeChat message")
    print(f"{'server':<8} | {'idle':>8} | {'after':>8} | {'peak':>8} | {'msgs/s':>8} | errors")
    for name, m in (("kefu", kefu), ("bare", bare)):
        errors = m.load.errors + m.load.bad_replies + m.load.sends_missing
        print(
            f"{name:<8} | {m.idle_mb:>8.1f} | {m.after_mb:>8.1f} | {m.peak_mb:>8.1f} | {m.load.rate:>8.1f} | {errors}"
        )
    baseline = "bare uvicorn app, same libraries"
    emit(
        [
            Figure(
                "RSS, kefu serve idle after start, every channel (SQLite)", kefu.idle_mb, bare.idle_mb, "MiB", baseline
            ),
            Figure(
                f"RSS after {count_label(CONVERSATIONS)} conversations (WeChat, SQLite)",
                kefu.after_mb,
                bare.after_mb,
                "MiB",
                f"{baseline}, same messages",
            ),
        ]
    )


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
