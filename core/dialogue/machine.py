"""The dialogue state machine: an explicit transition table over named guards and actions, and `step`."""

from __future__ import annotations

from dataclasses import dataclass

from core.dialogue.actions import ACTIONS, GUARDS
from core.dialogue.model import Deps, Draft, Event, EventKind, Outcome, Snapshot, State
from core.errors import Conflict


@dataclass(frozen=True, slots=True)
class Transition:
    """One row of the table: in `source`, on `event`, if `guard` holds, run `action` and go to `target`."""

    source: State
    event: EventKind
    guard: str
    target: State
    action: str


# ---------------------------------------------------------------- the table

S, E = State, EventKind


def _start_rows(source: State) -> list[Transition]:
    """How a fresh issue starts: from NEW, and again from CLOSED when the client writes anew."""
    return [
        Transition(source, E.MESSAGE, "handoff", S.HUMAN_QUEUE, "enter_queue"),
        Transition(source, E.MESSAGE, "confident_and_complete", S.CONFIRMING, "start_classified"),
        Transition(source, E.MESSAGE, "confident", S.COLLECTING, "start_classified"),
        Transition(source, E.MESSAGE, "some_cue", S.CLASSIFYING, "ask_category"),
        Transition(source, E.MESSAGE, "always", S.GREETED, "greet"),
        Transition(source, E.BUTTON, "category_button_and_complete", S.CONFIRMING, "start_picked"),
        Transition(source, E.BUTTON, "category_button", S.COLLECTING, "start_picked"),
        Transition(source, E.BUTTON, "always", S.GREETED, "greet"),
        Transition(source, E.TIMEOUT, "always", source, "nothing"),
    ]


def _draft_timeouts(source: State) -> list[Transition]:
    return [
        Transition(source, E.TIMEOUT, "idle_reminder", source, "remind"),
        Transition(source, E.TIMEOUT, "idle_abandon", S.CLOSED, "abandon"),
        Transition(source, E.TIMEOUT, "always", source, "nothing"),
    ]


def _rep_rows(source: State) -> list[Transition]:
    return [
        Transition(source, E.REP_CLAIM, "always", S.WITH_REP, "claim"),
        Transition(source, E.RESOLVE, "always", S.RESOLVED, "resolve"),
        # a transfer to a named rep hands it over; to a department, it waits for someone there
        Transition(source, E.REP_TRANSFER, "to_rep", S.WITH_REP, "claim"),
        Transition(source, E.REP_TRANSFER, "always", S.HUMAN_QUEUE, "requeue"),
    ]


TRANSITIONS: tuple[Transition, ...] = (
    *_start_rows(S.NEW),
    # greeted / classifying: the client is asked what the issue is about
    Transition(S.GREETED, E.MESSAGE, "handoff", S.HUMAN_QUEUE, "enter_queue"),
    Transition(S.GREETED, E.MESSAGE, "confident_and_complete", S.CONFIRMING, "start_classified"),
    Transition(S.GREETED, E.MESSAGE, "confident", S.COLLECTING, "start_classified"),
    Transition(S.GREETED, E.MESSAGE, "always", S.CLASSIFYING, "ask_category"),
    Transition(S.GREETED, E.BUTTON, "category_button_and_complete", S.CONFIRMING, "start_picked"),
    Transition(S.GREETED, E.BUTTON, "category_button", S.COLLECTING, "start_picked"),
    Transition(S.GREETED, E.BUTTON, "always", S.GREETED, "ask_category"),
    *_draft_timeouts(S.GREETED),
    Transition(S.CLASSIFYING, E.MESSAGE, "handoff", S.HUMAN_QUEUE, "enter_queue"),
    Transition(S.CLASSIFYING, E.MESSAGE, "confident_and_complete", S.CONFIRMING, "start_classified"),
    Transition(S.CLASSIFYING, E.MESSAGE, "confident", S.COLLECTING, "start_classified"),
    Transition(S.CLASSIFYING, E.MESSAGE, "always", S.CLASSIFYING, "ask_category"),
    Transition(S.CLASSIFYING, E.BUTTON, "category_button_and_complete", S.CONFIRMING, "start_picked"),
    Transition(S.CLASSIFYING, E.BUTTON, "category_button", S.COLLECTING, "start_picked"),
    Transition(S.CLASSIFYING, E.BUTTON, "always", S.CLASSIFYING, "ask_category"),
    *_draft_timeouts(S.CLASSIFYING),
    # collecting: one slot at a time
    Transition(S.COLLECTING, E.MESSAGE, "handoff", S.HUMAN_QUEUE, "enter_queue"),
    Transition(S.COLLECTING, E.MESSAGE, "completes_form", S.CONFIRMING, "fill"),
    Transition(S.COLLECTING, E.MESSAGE, "always", S.COLLECTING, "fill"),
    # a category picked mid-form (e.g. from the WeChat menu) starts that category's form afresh
    Transition(S.COLLECTING, E.BUTTON, "category_button_and_complete", S.CONFIRMING, "start_picked"),
    Transition(S.COLLECTING, E.BUTTON, "category_button", S.COLLECTING, "start_picked"),
    Transition(S.COLLECTING, E.BUTTON, "completes_form", S.CONFIRMING, "fill"),
    Transition(S.COLLECTING, E.BUTTON, "always", S.COLLECTING, "fill"),
    *_draft_timeouts(S.COLLECTING),
    # confirming: the summary with confirm / edit / cancel
    Transition(S.CONFIRMING, E.BUTTON, "confirm", S.TICKET_OPEN, "open_ticket"),
    Transition(S.CONFIRMING, E.BUTTON, "category_button_and_complete", S.CONFIRMING, "start_picked"),
    Transition(S.CONFIRMING, E.BUTTON, "category_button", S.COLLECTING, "start_picked"),
    Transition(S.CONFIRMING, E.BUTTON, "edit", S.CONFIRMING, "confirm_edit"),
    Transition(S.CONFIRMING, E.BUTTON, "edit_slot", S.COLLECTING, "edit_slot"),
    Transition(S.CONFIRMING, E.BUTTON, "cancel", S.CLOSED, "cancel"),
    Transition(S.CONFIRMING, E.BUTTON, "always", S.CONFIRMING, "resummarize"),
    Transition(S.CONFIRMING, E.MESSAGE, "handoff", S.HUMAN_QUEUE, "enter_queue"),
    Transition(S.CONFIRMING, E.MESSAGE, "always", S.CONFIRMING, "resummarize"),
    *_draft_timeouts(S.CONFIRMING),
    # ticket open, the bot holds the conversation
    Transition(S.TICKET_OPEN, E.MESSAGE, "handoff", S.HUMAN_QUEUE, "enter_queue"),
    Transition(S.TICKET_OPEN, E.MESSAGE, "always", S.TICKET_OPEN, "append"),
    Transition(S.TICKET_OPEN, E.BUTTON, "always", S.TICKET_OPEN, "append"),
    Transition(S.TICKET_OPEN, E.TIMEOUT, "always", S.TICKET_OPEN, "nothing"),
    *_rep_rows(S.TICKET_OPEN),
    # waiting for a person
    Transition(S.HUMAN_QUEUE, E.MESSAGE, "always", S.HUMAN_QUEUE, "queue_wait"),
    Transition(S.HUMAN_QUEUE, E.BUTTON, "always", S.HUMAN_QUEUE, "queue_wait"),
    Transition(S.HUMAN_QUEUE, E.TIMEOUT, "always", S.HUMAN_QUEUE, "nothing"),
    Transition(S.HUMAN_QUEUE, E.REP_RELEASE, "always", S.TICKET_OPEN, "release"),
    *_rep_rows(S.HUMAN_QUEUE),
    # a rep holds the conversation: the bot is silent
    Transition(S.WITH_REP, E.MESSAGE, "always", S.WITH_REP, "append_silently"),
    Transition(S.WITH_REP, E.BUTTON, "always", S.WITH_REP, "append_silently"),
    Transition(S.WITH_REP, E.TIMEOUT, "always", S.WITH_REP, "nothing"),
    Transition(S.WITH_REP, E.REP_RELEASE, "always", S.TICKET_OPEN, "release"),
    *_rep_rows(S.WITH_REP),
    # resolved: the solution was told; the satisfaction prompt follows
    Transition(S.RESOLVED, E.TIMEOUT, "feedback_prompt", S.AWAITING_FEEDBACK, "ask_feedback"),
    Transition(S.RESOLVED, E.TIMEOUT, "always", S.RESOLVED, "nothing"),
    Transition(S.RESOLVED, E.FEEDBACK, "low_score", S.TICKET_OPEN, "feedback_low"),
    Transition(S.RESOLVED, E.FEEDBACK, "always", S.FEEDBACK_COMMENT, "feedback"),
    Transition(S.RESOLVED, E.MESSAGE, "handoff", S.HUMAN_QUEUE, "enter_queue"),
    Transition(S.RESOLVED, E.MESSAGE, "reopen", S.TICKET_OPEN, "reopen"),
    Transition(S.RESOLVED, E.MESSAGE, "always", S.RESOLVED, "note_after_resolve"),
    Transition(S.RESOLVED, E.BUTTON, "always", S.RESOLVED, "note_after_resolve"),
    Transition(S.RESOLVED, E.REP_CLAIM, "always", S.WITH_REP, "claim"),
    # awaiting feedback
    Transition(S.AWAITING_FEEDBACK, E.FEEDBACK, "low_score", S.TICKET_OPEN, "feedback_low"),
    Transition(S.AWAITING_FEEDBACK, E.FEEDBACK, "always", S.FEEDBACK_COMMENT, "feedback"),
    Transition(S.AWAITING_FEEDBACK, E.TIMEOUT, "feedback_reminder", S.AWAITING_FEEDBACK, "remind_feedback"),
    Transition(S.AWAITING_FEEDBACK, E.TIMEOUT, "feedback_timeout", S.CLOSED, "feedback_timeout"),
    Transition(S.AWAITING_FEEDBACK, E.TIMEOUT, "always", S.AWAITING_FEEDBACK, "nothing"),
    Transition(S.AWAITING_FEEDBACK, E.MESSAGE, "handoff", S.HUMAN_QUEUE, "enter_queue"),
    Transition(S.AWAITING_FEEDBACK, E.MESSAGE, "reopen", S.TICKET_OPEN, "reopen"),
    Transition(S.AWAITING_FEEDBACK, E.MESSAGE, "always", S.AWAITING_FEEDBACK, "reask_feedback"),
    Transition(S.AWAITING_FEEDBACK, E.BUTTON, "always", S.AWAITING_FEEDBACK, "reask_feedback"),
    Transition(S.AWAITING_FEEDBACK, E.REP_CLAIM, "always", S.WITH_REP, "claim"),
    # rated: an optional comment, then the conversation closes
    Transition(S.FEEDBACK_COMMENT, E.MESSAGE, "handoff", S.HUMAN_QUEUE, "enter_queue"),
    Transition(S.FEEDBACK_COMMENT, E.MESSAGE, "always", S.CLOSED, "comment"),
    Transition(S.FEEDBACK_COMMENT, E.BUTTON, "always", S.CLOSED, "comment"),
    Transition(S.FEEDBACK_COMMENT, E.TIMEOUT, "comment_timeout", S.CLOSED, "nothing"),
    Transition(S.FEEDBACK_COMMENT, E.TIMEOUT, "always", S.FEEDBACK_COMMENT, "nothing"),
    Transition(S.FEEDBACK_COMMENT, E.REP_CLAIM, "always", S.WITH_REP, "claim"),
    # closed: a new message starts a new issue
    *_start_rows(S.CLOSED),
)


class InvalidTransition(Conflict):
    """No row of the table accepts this event in this state."""


def accepts(state: State, kind: EventKind) -> bool:
    """Whether any row of the table takes this kind of event in this state."""
    return any(row.source is state and row.event is kind for row in TRANSITIONS)


def step(snapshot: Snapshot, event: Event, deps: Deps) -> Outcome:
    """Apply one event: the first row whose source, event and guard match decides."""
    for row in TRANSITIONS:
        if row.source is snapshot.state and row.event is event.kind and GUARDS[row.guard](snapshot, event, deps):
            draft = Draft(
                state=row.target,
                category=snapshot.category,
                slots=dict(snapshot.slots),
                context=dict(snapshot.context),
                effects=[],
                lang=snapshot.language,
            )
            ACTIONS[row.action](draft, snapshot, event, deps)
            return draft.outcome()
    raise InvalidTransition(f"{event.kind.value} is not accepted in state {snapshot.state.value}")


def mermaid() -> str:
    """The transition table as a Mermaid state diagram."""
    lines = ["stateDiagram-v2", f"    [*] --> {State.NEW.value}"]
    seen: set[tuple[str, str, str]] = set()
    for row in TRANSITIONS:
        label = row.event.value if row.guard == "always" else f"{row.event.value} [{row.guard}]"
        edge = (row.source.value, row.target.value, label)
        if edge not in seen:
            seen.add(edge)
            lines.append(f"    {row.source.value} --> {row.target.value}: {label}")
    return "\n".join(lines) + "\n"
