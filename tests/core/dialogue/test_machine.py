"""The dialogue machine on its own: table soundness, reachability, and single steps."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import pytest

from core.dialogue.actions import ACTIONS, GUARDS
from core.dialogue.classifier import KeywordClassifier, Rule
from core.dialogue.forms import Forms
from core.dialogue.machine import TRANSITIONS, InvalidTransition, mermaid, step
from core.dialogue.model import CONFIRM, Deps, Event, EventKind, OpenTicket, Say, Schedule, Snapshot, State
from core.settings import PROJECT_ROOT, DialogueSettings
from core.texts import Texts

CONFIG = PROJECT_ROOT / "config"


@pytest.fixture
def deps() -> Deps:
    rules = [
        Rule("投诉", "complaint", 2.0),
        Rule("太差", "complaint", 2.0),
        Rule("请问", "inquiry", 1.5),
        Rule("报价", "inquiry", 1.5),
        Rule("建议", "suggestion", 2.0),
        Rule("广告", "inquiry", 0.3),
    ]
    return Deps(KeywordClassifier(rules), Forms.load(CONFIG / "forms.yaml"), Texts.load(CONFIG), DialogueSettings())


def test_every_row_names_a_known_guard_and_action() -> None:
    for row in TRANSITIONS:
        assert row.guard in GUARDS, row
        assert row.action in ACTIONS, row


def test_every_state_is_reachable_from_new() -> None:
    edges: dict[State, set[State]] = {}
    for row in TRANSITIONS:
        edges.setdefault(row.source, set()).add(row.target)
    seen = {State.NEW}
    queue = deque([State.NEW])
    while queue:
        for target in edges.get(queue.popleft(), ()):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    assert seen == set(State)


def test_no_state_is_a_dead_end() -> None:
    for state in State:
        leaving = {row.target for row in TRANSITIONS if row.source is state} - {state}
        assert leaving, f"{state} has no way out"


def test_client_input_is_always_handled() -> None:
    """Every state has an unconditional row for messages and buttons, so client input never raises."""
    for state in State:
        for kind in (EventKind.MESSAGE, EventKind.BUTTON, EventKind.TIMEOUT):
            rows = [r for r in TRANSITIONS if r.source is state and r.event is kind]
            assert rows and rows[-1].guard == "always", (state, kind)


def test_rep_events_in_a_draft_state_are_rejected(deps: Deps) -> None:
    with pytest.raises(InvalidTransition):
        step(Snapshot(State.COLLECTING, category="complaint"), Event(EventKind.REP_CLAIM, data={"user_id": 1}), deps)


def test_confident_complaint_starts_collecting_with_prefill(deps: Deps) -> None:
    outcome = step(Snapshot(State.NEW), Event(EventKind.MESSAGE, text="投放效果太差了，点击量几乎为零"), deps)
    assert outcome.state is State.COLLECTING
    assert outcome.category == "complaint"
    assert outcome.slots == {"description": "投放效果太差了，点击量几乎为零"}
    assert outcome.context["asking"] == "project"
    assert any(isinstance(e, Schedule) for e in outcome.effects)


def test_greeting_without_cues_offers_categories(deps: Deps) -> None:
    outcome = step(Snapshot(State.NEW), Event(EventKind.MESSAGE, text="你好"), deps)
    assert outcome.state is State.GREETED
    says = [e for e in outcome.effects if isinstance(e, Say)]
    assert [b.id for b in says[-1].buttons] == ["cat:inquiry", "cat:complaint", "cat:suggestion", "cat:other"]
    assert outcome.context["pending"][1] == {"id": "cat:complaint", "label": "投诉"}


def test_weak_cue_asks_to_classify(deps: Deps) -> None:
    outcome = step(Snapshot(State.NEW), Event(EventKind.MESSAGE, text="广告"), deps)
    assert outcome.state is State.CLASSIFYING


def test_optional_slot_accepts_skip_required_does_not(deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "complaint", {"description": "x" * 10, "project": "p"}, {"asking": "since"})
    outcome = step(snap, Event(EventKind.MESSAGE, text="跳过"), deps)
    assert outcome.slots["since"] is None and outcome.context["asking"] == "expected"
    snap = Snapshot(State.COLLECTING, "complaint", {"description": "x" * 10}, {"asking": "project"})
    outcome = step(snap, Event(EventKind.MESSAGE, text="跳过"), deps)
    assert "project" not in outcome.slots
    assert [e.key for e in outcome.effects if isinstance(e, Say)] == ["form.required"]


def test_last_slot_leads_to_confirmation_and_confirm_opens_ticket(deps: Deps) -> None:
    filled = {"description": "投放没有效果", "project": "A", "since": None, "expected": None}
    snap = Snapshot(State.COLLECTING, "complaint", filled, {"asking": "phone"})
    outcome = step(snap, Event(EventKind.MESSAGE, text="13800138000"), deps)
    assert outcome.state is State.CONFIRMING
    confirmed = step(
        Snapshot(State.CONFIRMING, "complaint", outcome.slots, outcome.context),
        Event(EventKind.BUTTON, button=CONFIRM),
        deps,
    )
    assert confirmed.state is State.TICKET_OPEN
    opened = [e for e in confirmed.effects if isinstance(e, OpenTicket)]
    assert opened and opened[0].details["phone"] == "13800138000"


def test_known_phone_is_not_asked_again(deps: Deps) -> None:
    snap = Snapshot(State.NEW, client_phone="13900139000")
    outcome = step(snap, Event(EventKind.MESSAGE, text="我要投诉"), deps)
    assert outcome.slots.get("phone") == "13900139000"


def test_handoff_words(deps: Deps) -> None:
    for text in ("人工", "转人工", "我要转人工客服", "HUMAN", "agent", "Can I talk to a human?"):
        outcome = step(
            Snapshot(State.COLLECTING, "inquiry", {}, {"asking": "topic"}), Event(EventKind.MESSAGE, text=text), deps
        )
        assert outcome.state is State.HUMAN_QUEUE, text
    outcome = step(Snapshot(State.NEW), Event(EventKind.MESSAGE, text="人工智能广告怎么投放？请问"), deps)
    assert outcome.state is not State.HUMAN_QUEUE


def test_mermaid_diagram_lists_every_state_and_docs_show_it() -> None:
    diagram = mermaid()
    assert diagram.startswith("stateDiagram-v2")
    for state in State:
        assert f" {state.value} " in diagram or f" {state.value}:" in diagram
    doc = (Path(PROJECT_ROOT) / "docs" / "dialogue.md").read_text(encoding="utf-8")
    assert diagram in doc, "docs/dialogue.md is out of date: run `kefu dialogue diagram`"
