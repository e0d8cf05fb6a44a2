"""What the fake HTTP APIs share: a real aiohttp server on 127.0.0.1 in a thread of its own, recording calls."""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, Generic, TypeVar

from aiohttp import web

CallT = TypeVar("CallT")


@dataclass
class FakeServer(ABC, Generic[CallT]):
    """A fake API on a free port of 127.0.0.1; subclasses add the routes and append what they receive to `calls`.

    It runs its own event loop in its own thread, so the code under test reaches it over a real socket from
    any loop (pytest's, uvicorn's, a subprocess's) and a test may inspect `calls` without awaiting.
    """

    # Names the thread and the error when the server does not start.
    name: ClassVar[str] = "fake API"

    calls: list[CallT] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @abstractmethod
    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Route the API's endpoints to this fake's handlers."""

    def start(self) -> None:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            self.add_routes(app.router)
            self._runner = web.AppRunner(app)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            self.port = int(self._runner.addresses[0][1])
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, name=self.name.replace(" ", "-"), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"{self.name} did not start")

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
