"""Types of the dialogue: states, events, the snapshot the machine reads and the effects it returns."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

from core.business_hours import BusinessCalendar
from core.dialogue.acts import ActLexicon, Acts, default_lexicon
from core.dialogue.classifier import KeywordClassifier
from core.dialogue.forms import Forms
from core.messages import Attachment, Button
from core.settings import DEFAULT_CONFIG_DIR, DialogueSettings
from core.texts import Texts


class State(enum.StrEnum):
    """Where a conversation stands."""

    NEW = "new"
    GREETED = "greeted"
    CLASSIFYING = "classifying"
    COLLECTING = "collecting"
    CONFIRMING = "confirming"
    TICKET_OPEN = "ticket_open"
    HUMAN_QUEUE = "human_queue"
    WITH_REP = "with_rep"
    RESOLVED = "resolved"
    AWAITING_FEEDBACK = "awaiting_feedback"
    FEEDBACK_COMMENT = "feedback_comment"
    CLOSED = "closed"


class EventKind(enum.StrEnum):
    """What can happen to a conversation."""

    MESSAGE = "message"
    BUTTON = "button"
    TIMEOUT = "timeout"
    REP_CLAIM = "rep_claim"
    REP_RELEASE = "rep_release"
    REP_TRANSFER = "rep_transfer"
    RESOLVE = "resolve"
    FEEDBACK = "feedback"
    # Dialogue acts of a client message (core/dialogue/acts.py): a row on one of these takes a message that
    # performs that act; rows are tried in order, so the table says which act wins in each state.
    AFFIRM = "affirm"
    DENY = "deny"
    CANCEL = "cancel"
    EDIT = "edit"
    HANDOFF = "handoff"
    STATUS = "status"
    TIMING = "timing"
    GREETING = "greeting"
    THANKS = "thanks"
    BOT_QUESTION = "bot_question"
    DECLINE_CONTACT = "decline_contact"
    HOLD = "hold"
    HOURS = "hours"
    QUESTION = "question"
    SCORE = "score"
    CLAIM = "claim"
    VENT = "vent"


# The event kinds that are acts of a client message rather than events of their own.
ACT_EVENTS = frozenset(
    {
        EventKind.AFFIRM,
        EventKind.DENY,
        EventKind.CANCEL,
        EventKind.EDIT,
        EventKind.HANDOFF,
        EventKind.STATUS,
        EventKind.TIMING,
        EventKind.GREETING,
        EventKind.THANKS,
        EventKind.BOT_QUESTION,
        EventKind.DECLINE_CONTACT,
        EventKind.HOLD,
        EventKind.HOURS,
        EventKind.QUESTION,
        EventKind.SCORE,
        EventKind.CLAIM,
        EventKind.VENT,
    }
)


class TimerKind(enum.StrEnum):
    """The follow-ups the dialogue schedules for itself."""

    IDLE_REMINDER = "idle_reminder"
    IDLE_ABANDON = "idle_abandon"
    FEEDBACK_PROMPT = "feedback_prompt"
    FEEDBACK_REMINDER = "feedback_reminder"
    FEEDBACK_TIMEOUT = "feedback_timeout"
    COMMENT_TIMEOUT = "comment_timeout"


# States in which the client is filling in a draft, before any ticket exists.
DRAFT_STATES = frozenset({State.GREETED, State.CLASSIFYING, State.COLLECTING, State.CONFIRMING})
# States in which the bot asks what the issue is about, and the client's fragments add up to its description.
ASKING_STATES = frozenset({State.GREETED, State.CLASSIFYING})
BOT_SILENT_STATES = frozenset({State.WITH_REP})

CONFIRM = "confirm:yes"
EDIT = "confirm:edit"
CANCEL = "confirm:cancel"
CATEGORY_PREFIX = "cat:"
# Event data: seconds since the client's previous message (absent for his first).
GAP = "gap"
# Context key: the client's turn at which he last told the issue in his own words (its first message, the answer
# to the detail that holds it, or more of it).
TOLD_TURN = "told_turn"
# Context key: the client's turn at which he said another issue follows ("还有个事"), with nothing of it yet.
NEW_ISSUE_TURN = "new_issue_turn"
# Context key: the client asked to be called back while the issue was taken in ("方便的话回个电话", "call me back");
# also the ticket's detail that says so.
CALL_BACK = "call_back"
# Context key: the client's turn at which the bot found no ticket to tell the status of and asked for its number (or
# the phone it was filed with); the next message's number or phone is read as the answer.
TICKET_LOOKUP_TURN = "ticket_lookup_turn"
# Context key: what the client said while his ticket was looked for, for the ticket a person is asked for after it.
TICKET_LOOKUP_TEXT = "ticket_lookup_text"
# How many times the category was asked for in the issue under way (the context key).
CATEGORY_ASKS = "category_asks"
EDIT_PREFIX = "edit:"
CHOICE_PREFIX = "choice:"
RATE_PREFIX = "rate:"


@dataclass(frozen=True, slots=True)
class Event:
    """One input to the machine: a client message or button, a timer, or a rep's action."""

    kind: EventKind
    text: str = ""
    button: str | None = None
    actor: str | None = None
    attachments: tuple[Attachment, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    # What the message does, read once per message (None: not read yet, or not a client message).
    acts: Acts | None = None
    # The message as the client wrote it, where `text` is what it says without its venting ("垃圾公司！！海报印错了"
    # is read for details as "海报印错了"): its category is read from all of it, anger included.
    said: str | None = None


@dataclass(frozen=True, slots=True)
class TicketView:
    """What a client may be told of his ticket when he asks how it is going."""

    number: str
    category: str
    status: str
    holder: str | None = None
    # The next deadline the agency promised, already formatted in the client's time zone.
    deadline: str | None = None
    # The deadline for resolving it, formatted likewise, while the ticket is open.
    resolution_deadline: str | None = None
    # How long resolving takes by the ticket's targets, formatted for the client ("72 小时"), while it is open.
    resolution_within: str | None = None


@dataclass(frozen=True, slots=True)
class Promise:
    """What the agency promises for an issue like the one being taken in: the targets of its priority (SLA), in
    business time, already formatted for the client ("2 小时")."""

    first_response: str
    resolution: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the machine knows of a conversation when an event arrives."""

    state: State
    category: str | None = None
    slots: Mapping[str, Any] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)
    has_ticket: bool = False
    language: str = "zh"
    client_phone: str | None = None
    channel: str = ""
    # The ticket the client asks about (the conversation's, or his latest), when the message asks for status.
    ticket: TicketView | None = None
    # The targets the issue being taken in would get, when the message asks how long the agency takes.
    promise: Promise | None = None


# Effects: what the engine must do after the step, in one transaction.
@dataclass(frozen=True, slots=True)
class Say:
    """Send a text (by key in config/texts.*.yaml) to the client."""

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True, slots=True)
class OpenTicket:
    """Open a ticket from the collected details."""

    category: str
    details: Mapping[str, Any]
    handoff: bool = False
    # How the category was decided (see Classified.record), for the ticket's "classified" event.
    classification: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class TicketNote:
    """Record something on the open ticket's audit trail (client message, handoff, reopen, rating)."""

    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SetHolder:
    """Give the conversation to a rep (user id) or back to the bot (None)."""

    user_id: int | None


@dataclass(frozen=True, slots=True)
class LeaveTicket:
    """The client raised another issue: the open ticket stays with the desk, the conversation moves on."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """Fire a TIMEOUT event at this conversation after a delay; `turn` makes older timers stale."""

    timer: TimerKind
    after: timedelta


@dataclass(frozen=True, slots=True)
class Classified:
    """The classifier decided the client's message: recorded on the stored message, for replay and reports."""

    category: str
    confidence: float
    confident: bool
    matched: tuple[str, ...]
    version: int | None

    def record(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "confidence": self.confidence,
            "confident": self.confident,
            "matched": list(self.matched),
            "version": self.version,
        }


Effect = Say | OpenTicket | TicketNote | SetHolder | LeaveTicket | Schedule | Classified


@dataclass(frozen=True, slots=True)
class Outcome:
    """The machine's answer: the next state, updated slots and context, and the effects."""

    state: State
    category: str | None
    slots: Mapping[str, Any]
    context: Mapping[str, Any]
    effects: tuple[Effect, ...]


@cache
def default_calendar() -> BusinessCalendar:
    """The shipped opening hours, for callers (and tests) that were given no calendar."""
    return BusinessCalendar.load(DEFAULT_CONFIG_DIR / "business_hours.yaml")


@dataclass(frozen=True, slots=True)
class Deps:
    """What guards and actions may consult; all read-only."""

    classifier: KeywordClassifier
    forms: Forms
    texts: Texts
    settings: DialogueSettings
    low_score: int = 2
    lexicon: ActLexicon = field(default_factory=default_lexicon)
    # Today in the business time zone: relative dates ("上周三") are read against it.
    today: date = field(default_factory=date.today)
    # The agency's opening hours, told to clients who ask when it works, and the moment they ask (the engine's
    # clock): whether it is open now is said from them.
    calendar: BusinessCalendar = field(default_factory=default_calendar)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(slots=True)
class Draft:
    """Mutable working copy of the snapshot while an action runs."""

    state: State
    category: str | None
    slots: dict[str, Any]
    context: dict[str, Any]
    effects: list[Effect]
    lang: str

    def say(self, key: str, buttons: tuple[Button, ...] = (), **params: Any) -> None:
        self.effects.append(Say(key, params, buttons))
        self.context["pending"] = [b.to_json() for b in buttons]

    def outcome(self) -> Outcome:
        return Outcome(self.state, self.category, self.slots, self.context, tuple(self.effects))
