"""A stopping process's state: out of rotation first, then its open streams told to reconnect elsewhere."""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


class Draining:
    """Set by the signal handler: readiness turns 503 at once; streams are closed when the pre-stop delay ends."""

    def __init__(self) -> None:
        self.not_ready = False
        self.closing = False
        self._on_close: list[Callable[[], None]] = []

    def begin(self) -> None:
        """Stop advertising readiness; everything in flight (and new requests) is still served."""
        if not self.not_ready:
            log.info("stopping: readiness off, still serving")
        self.not_ready = True

    def on_close(self, callback: Callable[[], None]) -> None:
        """Run when streams must end (they send their reader a reconnect hint and return)."""
        self._on_close.append(callback)

    def close_streams(self) -> None:
        self.begin()
        if self.closing:
            return
        self.closing = True
        for callback in self._on_close:
            try:
                callback()
            except Exception:
                log.exception("closing streams failed")
