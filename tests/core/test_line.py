"""The line of transactions waiting for a place: first come, first served, urgent ones before all others."""

from __future__ import annotations

import asyncio

from core.db.session import Line


async def _queued(line: Line, name: str, order: list[str], urgent: bool = False) -> None:
    await line.acquire(urgent)
    order.append(name)


async def test_urgent_waiters_get_the_next_place_before_those_that_came_first() -> None:
    line, order = Line(1), list[str]()
    await line.acquire()
    waiting = [asyncio.create_task(_queued(line, n, order)) for n in ("turn1", "turn2")]
    await asyncio.sleep(0)
    waiting.append(asyncio.create_task(_queued(line, "settle", order, urgent=True)))
    await asyncio.sleep(0)
    for _ in range(3):
        line.release()
        await asyncio.sleep(0)
    await asyncio.gather(*waiting)
    assert order == ["settle", "turn1", "turn2"]


async def test_reserved_places_are_for_urgent_waiters_only() -> None:
    line, order = Line(1, reserved=1), list[str]()
    await line.acquire()
    turn = asyncio.create_task(_queued(line, "turn", order))
    await _queued(line, "settle", order, urgent=True)
    await asyncio.sleep(0)
    assert order == ["settle"] and not turn.done()
    line.release()
    line.release()
    await turn
    assert order == ["settle", "turn"] and line.taken == 1


async def test_a_cancelled_wait_gives_back_no_place_it_did_not_get_and_any_it_did() -> None:
    line = Line(1)
    await line.acquire()
    gave_up = asyncio.create_task(line.acquire())
    await asyncio.sleep(0)
    gave_up.cancel()
    line.release()  # handed to nobody: the waiter is gone
    assert [type(e) for e in await asyncio.gather(gave_up, return_exceptions=True)] == [asyncio.CancelledError]
    assert line.taken == 0
    await line.acquire()
    handed = asyncio.create_task(line.acquire())
    await asyncio.sleep(0)
    line.release()  # handed over, then the waiter is cancelled before it runs
    handed.cancel()
    assert [type(e) for e in await asyncio.gather(handed, return_exceptions=True)] == [asyncio.CancelledError]
    assert line.taken == 0
