"""Real kefu processes for reliability tests: started, killed with SIGKILL, stopped with SIGTERM, restarted."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

KEFU = Path(sys.executable).parent / "kefu"
# uvicorn finishes its graceful shutdown, then re-raises the SIGTERM it caught, so the exit shows the signal.
GRACEFUL = frozenset({0, -signal.SIGTERM})


async def eventually(predicate: Callable[[], Awaitable[bool]], seconds: float) -> None:
    """Wait until `predicate()` holds, polling; TimeoutError after `seconds`."""
    deadline = time.monotonic() + seconds
    while not await predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not reached in {seconds}s")
        await asyncio.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class KefuProcess:
    """One `kefu serve` child process on loopback, with its log in a file."""

    def __init__(self, env: dict[str, str], log: Path, *, role: str = "all", port: int | None = None) -> None:
        self.env = {**os.environ, **env}
        self.log = log
        self.role = role
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(KEFU), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--role", self.role],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def wait_ready(self, within: float = 90.0) -> None:
        # Generous: on a busy two-core machine importing and starting kefu alone can take half a minute.
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"kefu exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
                try:
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(f"kefu not ready after {within}s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait: the graceful shutdown; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
