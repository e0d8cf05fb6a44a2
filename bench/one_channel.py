"""The channel a one-server tool loads (`bench.turn_cpu`, `bench.turn_profile`): WeChat or Telegram, from argv."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

from bench import telegram_bench as telegram
from bench.wechat_bench import CLIENT_CORE, Server, _account_env, _start, run_load

CHANNELS = ("wechat", "telegram")
# Telegram's loads each start at chats of their own (WeChat's are told apart by their tags).
_CHATS = itertools.count(7_000_000, 10_000)


def channel_from_argv(tool: str) -> str:
    """The channel named on the command line (WeChat when none is); a usage error for any other word."""
    channel = sys.argv[1] if len(sys.argv) > 1 else "wechat"
    if channel not in CHANNELS:
        raise SystemExit(f"usage: python -m bench.{tool} [{'|'.join(CHANNELS)}]")
    return channel


def account_env(channel: str, api_port: int, database_url: str) -> dict[str, str]:
    """The environment of a server configured for `channel`, its API at `api_port`."""
    env = _account_env if channel == "wechat" else telegram.account_env
    return env(api_port, database_url)


def bare_app(channel: str) -> str:
    """The bare endpoint's app factory for `channel`."""
    return f"bench.{channel}_peer:bare_app"


async def start_fake_api(channel: str, api_port: int, tmp: Path) -> Server:
    """The channel's fake API on the load generator's core."""
    command = [sys.executable, "-m", f"bench.{channel}_peer", "fakeapi", str(api_port)]
    return await _start("fakeapi", command, account_env(channel, api_port, ""), api_port, "/stats", CLIENT_CORE, tmp)


async def load(channel: str, base: str, tag: str, users: int, messages: int) -> tuple[float, float, int]:
    """One load of `users` x `messages` on the server at `base`: (msgs/s, p99 ms, replies carried in the response)."""
    if channel == "wechat":
        done = await run_load(base, tag, users, messages)
        return done.rate, done.pct(0.99), done.passive
    sent = await telegram.run_load([base], next(_CHATS), users, messages)
    return sent.rate, sent.pct(0.99), 0
