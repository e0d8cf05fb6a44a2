"""The background ticks (outbox sweep, follow-ups, notifiers): APScheduler is the clock, we own the tasks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]


class BackgroundJobs:
    """Interval jobs that never overlap themselves and that a shutdown lets finish.

    APScheduler's asyncio executor cancels running coroutines when it shuts down, which would cut a send
    off mid-flight; here each tick only starts a task we keep, so stopping can wait for it.
    """

    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler()
        self._running: dict[str, asyncio.Task[object]] = {}
        self._stopping = False

    def every(self, name: str, seconds: float, job: Job) -> None:
        self._scheduler.add_job(self._tick, "interval", seconds=seconds, id=name, args=(name, job), coalesce=True)

    async def _tick(self, name: str, job: Job) -> None:
        # A coroutine, so APScheduler runs it on the loop (it would put a plain function in a thread).
        if self._stopping:
            return
        task = self._running.get(name)
        if task is not None and not task.done():
            return  # the previous run is still busy: skip this tick rather than overlap
        self._running[name] = asyncio.create_task(self._run(name, job), name=f"job-{name}")

    async def _run(self, name: str, job: Job) -> object:
        try:
            return await job()
        except Exception:
            log.exception("background job %s failed; it runs again at the next tick", name)
            return None

    def start(self) -> None:
        self._scheduler.start()

    async def stop(self, grace: float = 10.0) -> None:
        """Take no new ticks, let running jobs finish (up to `grace` seconds), then cancel what is left."""
        self._stopping = True
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        running = [t for t in self._running.values() if not t.done()]
        if not running:
            return
        _, pending = await asyncio.wait(running, timeout=grace)
        for task in pending:
            log.warning("background job %s did not finish within %.0fs; cancelled", task.get_name(), grace)
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    @property
    def busy(self) -> list[str]:
        return [name for name, task in self._running.items() if not task.done()]
