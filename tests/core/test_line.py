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


async def _full_with_a_waiter() -> tuple[Line, asyncio.Task[None]]:
    """A line of one place, taken, and a transaction waiting for it."""
    line = Line(1)
    await line.acquire()
    waiting = asyncio.create_task(line.acquire())
    await asyncio.sleep(0)
    return line, waiting


async def test_a_cancelled_wait_gives_back_no_place_it_did_not_get_and_any_it_did() -> None:
    line, gave_up = await _full_with_a_waiter()
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


async def test_urgent_waiters_wait_like_others_once_places_and_reserved_ones_are_taken() -> None:
    line = Line(1)  # no reserved places unless given
    await line.acquire()
    urgent = asyncio.create_task(line.acquire(urgent=True))
    await asyncio.sleep(0)
    assert not urgent.done()
    line.release()
    await urgent
    reserving = Line(1, reserved=1)
    await reserving.acquire()
    plain = asyncio.create_task(reserving.acquire())  # not urgent unless asked
    await asyncio.sleep(0)
    assert not plain.done() and (line.taken, reserving.taken) == (1, 1)
    plain.cancel()
    await asyncio.gather(plain, return_exceptions=True)


async def test_a_wait_cancelled_before_any_release_leaves_the_line_to_those_behind() -> None:
    line, gave_up = await _full_with_a_waiter()
    gave_up.cancel()
    assert [type(e) for e in await asyncio.gather(gave_up, return_exceptions=True)] == [asyncio.CancelledError]
    behind = asyncio.create_task(line.acquire())
    await asyncio.sleep(0)
    line.release()
    await behind
    assert line.taken == 1


async def test_each_release_hands_one_place_to_the_first_waiter_within_its_limit() -> None:
    line = Line(2, reserved=1)
    for urgent in (False, False, True):
        await line.acquire(urgent)
    plain = [asyncio.create_task(line.acquire()) for _ in range(2)]
    urgent_waiter = asyncio.create_task(line.acquire(urgent=True))
    await asyncio.sleep(0)
    assert line.taken == 3 and not any(task.done() for task in (urgent_waiter, *plain))

    async def released() -> list[bool]:
        line.release()
        for _ in range(3):
            await asyncio.sleep(0)
        return [task.done() for task in (urgent_waiter, *plain)]

    assert await released() == [True, False, False], "the reserved place freed goes to the urgent waiter"
    assert await released() == [True, False, False], "a reserved place is no place for the others"
    assert await released() == [True, True, False] and line.taken == 2
    assert await released() == [True, True, True] and line.taken == 2
