"""`kefu serve`'s server: SIGTERM turns readiness off first, serves on for the pre-stop delay, then stops."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from types import FrameType

import uvicorn

from core.draining import Draining

log = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    """uvicorn, whose stop begins with readiness off rather than with the listener closing.

    On SIGTERM or SIGINT: /readyz answers 503 at once while requests, webhooks and streams are still served
    for `prestop` seconds (the proxy or load balancer takes the process out of rotation meanwhile); then the
    event streams end with a reconnect hint and uvicorn's own graceful shutdown runs. A second signal stops
    without waiting.
    """

    def __init__(self, config: uvicorn.Config, draining: Draining, prestop: float) -> None:
        super().__init__(config)
        self.draining = draining
        self.prestop = prestop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.TimerHandle | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._loop is None or self.draining.not_ready:
            # Not serving yet, or already stopping and signalled again: stop now.
            self.draining.close_streams()
            super().handle_exit(sig, frame)
            return
        # A signal handler runs between two bytecodes of the loop's thread: hand the work to the loop itself.
        self._loop.call_soon_threadsafe(self._begin, sig)

    def _begin(self, sig: int) -> None:
        self.draining.begin()
        log.info("signal %s: out of rotation, stopping in %.1f s", signal.Signals(sig).name, self.prestop)
        assert self._loop is not None
        self._stopping = self._loop.call_later(self.prestop, self._stop, sig)

    def _stop(self, sig: int) -> None:
        self.draining.close_streams()
        super().handle_exit(sig, None)
