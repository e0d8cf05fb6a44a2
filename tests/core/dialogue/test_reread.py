"""A reading asked again of the same message in one step answers from what it read, and only then."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from core.dialogue.model import Event, EventKind, Snapshot, State
from core.dialogue.reread import kept_and_copied, kept_for_the_message

SNAPSHOT = Snapshot(state=State.COLLECTING, category="complaint", slots={"phone": "13800138000"})
EVENT = Event(kind=EventKind.MESSAGE, text="电话写错了")


Read = Callable[[Snapshot, Event, str], dict[str, Any]]


def _counting() -> tuple[list[tuple[Any, ...]], Read]:
    calls: list[tuple[Any, ...]] = []

    def read(snapshot: Snapshot, event: Event, claim: str) -> dict[str, Any]:
        calls.append((snapshot, event, claim))
        return {"claim": claim, "text": event.text}

    return calls, read


def test_the_same_message_asked_again_is_read_once() -> None:
    calls, read = _counting()
    kept = kept_for_the_message(read)
    first = kept(SNAPSHOT, EVENT, "complaint")
    # An equal text argument built anew is the same question.
    again = kept(SNAPSHOT, EVENT, "".join(["comp", "laint"]))
    assert again is first and len(calls) == 1


def test_another_event_snapshot_or_argument_is_read_anew() -> None:
    calls, read = _counting()
    kept = kept_for_the_message(read)
    kept(SNAPSHOT, EVENT, "complaint")
    # Equal but not the same: a new message's event is a new object, even with the same words.
    kept(SNAPSHOT, replace(EVENT), "complaint")
    kept(replace(SNAPSHOT), EVENT, "complaint")
    kept(SNAPSHOT, EVENT, "inquiry")
    assert len(calls) == 4
    assert kept(SNAPSHOT, EVENT, "inquiry") == {"claim": "inquiry", "text": "电话写错了"} and len(calls) == 4


def _copy(answer: dict[str, Any]) -> dict[str, Any]:
    return dict(answer)


def test_a_copied_answer_changed_by_its_caller_leaves_the_kept_one_alone() -> None:
    calls, read = _counting()
    kept = kept_and_copied(_copy)(read)
    first = kept(SNAPSHOT, EVENT, "complaint")
    first["claim"] = "changed"
    assert kept(SNAPSHOT, EVENT, "complaint") == {"claim": "complaint", "text": "电话写错了"} and len(calls) == 1
