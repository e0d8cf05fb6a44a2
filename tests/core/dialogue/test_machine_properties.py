"""Property tests: random event sequences never crash the dialogue or reach an undefined state."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.dialogue.classifier import KeywordClassifier, Rule
from core.dialogue.forms import Forms
from core.dialogue.machine import InvalidTransition, accepts, step
from core.dialogue.model import (
    CANCEL,
    CONFIRM,
    EDIT,
    Deps,
    Event,
    EventKind,
    OpenTicket,
    SetHolder,
    Snapshot,
    State,
    TimerKind,
)
from core.settings import PROJECT_ROOT, DialogueSettings
from core.texts import Texts

CONFIG = Path(PROJECT_ROOT) / "config"
DEPS = Deps(
    KeywordClassifier([Rule("投诉", "complaint", 2), Rule("请问", "inquiry", 2), Rule("建议", "suggestion", 2)]),
    Forms.load(CONFIG / "forms.yaml"),
    Texts.load(CONFIG),
    DialogueSettings(),
)
CLIENT_KINDS = {EventKind.MESSAGE, EventKind.BUTTON, EventKind.TIMEOUT, EventKind.FEEDBACK}

texts = st.sampled_from(
    [
        "你好",
        "我要投诉广告效果",
        "请问报价",
        "建议增加报表",
        "人工",
        "跳过",
        "1",
        "2",
        "3",
        "13800138000",
        "没解决",
        "",
        "随便说点什么",
    ]
) | st.text(max_size=30)
buttons = st.sampled_from(
    [
        "cat:inquiry",
        "cat:complaint",
        "cat:suggestion",
        "cat:other",
        CONFIRM,
        EDIT,
        CANCEL,
        "edit:project",
        "edit:phone",
        "choice:media",
        "comment:skip",
        "rate:3",
        "bogus",
    ]
)
events = st.one_of(
    st.builds(lambda t: Event(EventKind.MESSAGE, text=t), texts),
    st.builds(lambda b: Event(EventKind.BUTTON, button=b, text=b), buttons),
    st.builds(lambda t: Event(EventKind.TIMEOUT, data={"timer": t.value}), st.sampled_from(list(TimerKind))),
    st.builds(lambda r: Event(EventKind.FEEDBACK, data={"rating": r}), st.integers(1, 5)),
    st.just(Event(EventKind.REP_CLAIM, data={"user_id": 7, "rep_name": "小李"})),
    st.just(Event(EventKind.REP_RELEASE)),
    st.just(Event(EventKind.RESOLVE, data={"solution": "已处理"})),
    st.just(Event(EventKind.REP_TRANSFER, data={"department_name": "媒介部"})),
    st.just(Event(EventKind.REP_TRANSFER, data={"user_id": 8, "rep_name": "小王"})),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events, max_size=40))
def test_random_sequences_keep_the_dialogue_defined(sequence: list[Event]) -> None:
    snapshot = Snapshot(State.NEW)
    holder: int | None = None
    for event in sequence:
        if (
            event.kind is EventKind.BUTTON
            and event.button
            and not (
                any(b["id"] == event.button for b in snapshot.context.get("pending", []))
                or event.button.startswith("cat:")
            )
        ):
            # The engine turns buttons that were not offered into plain text before the machine sees them.
            event = Event(EventKind.MESSAGE, text=event.text)
        if event.kind is EventKind.FEEDBACK and not accepts(snapshot.state, EventKind.FEEDBACK):
            # Likewise a rating is only a rating where the dialogue asked for one.
            event = Event(EventKind.MESSAGE, text=str(event.data["rating"]))
        try:
            outcome = step(snapshot, event, DEPS)
        except InvalidTransition:
            assert event.kind not in CLIENT_KINDS, (snapshot.state, event)
            continue
        assert outcome.state in State
        if outcome.state in (State.COLLECTING, State.CONFIRMING):
            assert outcome.category is not None
        opened = any(isinstance(e, OpenTicket) for e in outcome.effects)
        assert not (opened and snapshot.has_ticket), "one open ticket per conversation"
        for effect in outcome.effects:
            if isinstance(effect, SetHolder):
                holder = effect.user_id
        if outcome.state is State.WITH_REP:
            assert holder is not None, "a rep holds the conversation"
        has_ticket = (snapshot.has_ticket or opened) and outcome.state is not State.CLOSED
        snapshot = Snapshot(outcome.state, outcome.category, outcome.slots, outcome.context, has_ticket, "zh", None)
