"""Background work of the webhooks: kept until done, failures logged, drain waits for work started while draining."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bots.common import BackgroundTasks

log = logging.getLogger("tests.background")


async def test_drain_waits_for_work_spawned_by_work_being_drained() -> None:
    tasks = BackgroundTasks(log, "failed")
    done: list[str] = []
    gate = asyncio.Event()

    async def second() -> None:
        await asyncio.sleep(0.01)
        done.append("second")

    async def first() -> None:
        await gate.wait()
        tasks.spawn(second())
        done.append("first")

    tasks.spawn(first())
    assert len(tasks) == 1
    gate.set()
    await tasks.drain()
    assert done == ["first", "second"]
    assert len(tasks) == 0


async def test_a_failure_is_logged_and_does_not_stop_the_drain(caplog: pytest.LogCaptureFixture) -> None:
    tasks = BackgroundTasks(log, "delivery failed")
    finished: list[int] = []

    async def boom() -> None:
        raise RuntimeError("network down")

    async def fine() -> None:
        await asyncio.sleep(0)
        finished.append(1)

    with caplog.at_level(logging.ERROR, logger="tests.background"):
        tasks.spawn(boom())
        tasks.spawn(fine())
        await tasks.drain()
    assert finished == [1]
    failures = [r for r in caplog.records if r.getMessage() == "delivery failed"]
    assert len(failures) == 1 and failures[0].exc_info is not None
    assert "network down" in str(failures[0].exc_info[1])
