"""A reading of a message kept while the machine asks the same question of the same message again."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def kept_for_the_message(read: Callable[P, R]) -> Callable[P, R]:
    """`read` with its last answer kept: called again with the very same snapshot, event and deps (and equal text
    arguments), it answers without reading again.

    One step asks the same thing of a message several times (a guard, then the row's action, then a reading that
    the action's own reading calls). Snapshots and events are frozen and a new message brings new ones, so holding
    the last arguments is enough to tell a repeat; holding them also keeps their ids from being reused. The answer
    is handed out itself: for one a caller may change, `kept_and_copied`.
    """
    return _kept(read, None)


def kept_and_copied(handed: Callable[[R], R]) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """`kept_for_the_message`, each answer handed out as `handed` copies it (the kept one is never changed)."""
    return lambda read: _kept(read, handed)


def _kept(read: Callable[P, R], handed: Callable[[R], R] | None) -> Callable[P, R]:
    last: list[tuple[tuple[Any, ...], R] | None] = [None]

    @wraps(read)
    def reading(*args: P.args, **kwargs: P.kwargs) -> R:
        if kwargs:
            return read(*args, **kwargs)
        kept = last[0]
        if kept is not None and _same(kept[0], args):
            answer = kept[1]
        else:
            answer = read(*args, **kwargs)
            last[0] = (args, answer)
        return answer if handed is None else handed(answer)

    return reading


def _same(before: tuple[Any, ...], now: tuple[Any, ...]) -> bool:
    if len(before) != len(now):
        return False
    return all(a is b or (type(a) is str and type(b) is str and a == b) for a, b in zip(before, now, strict=True))
