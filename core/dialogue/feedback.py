"""Actions after the resolution: the satisfaction score, its comment, a reopen, reminders and time-outs."""

from __future__ import annotations

from datetime import timedelta

from core.dialogue.acts import Act
from core.dialogue.classifier import normalize
from core.dialogue.handover import act_enter_queue
from core.dialogue.model import (
    Deps,
    Draft,
    Event,
    Schedule,
    Snapshot,
    TicketNote,
    TimerKind,
)
from core.dialogue.reading import acts_of, rating_of, skip_words
from core.dialogue.replies import keep, rating_buttons
from core.messages import Button


def act_ask_feedback(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    _ask(draft, deps, "feedback.ask")


def act_ask_feedback_now(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """Thanks or an "ok" for the solution: welcome it and ask for the score now, not when the prompt's timer fires."""
    _ask(draft, deps, "feedback.welcome_ask" if Act.THANKS in acts_of(event) else "feedback.ok_ask")


def _ask(draft: Draft, deps: Deps, key: str) -> None:
    # The prompt's own timer may still be due: in awaiting_feedback it does nothing.
    draft.say(key, rating_buttons(deps, draft.lang))
    settings = deps.settings
    draft.effects.append(Schedule(TimerKind.FEEDBACK_REMINDER, timedelta(hours=settings.feedback_reminder_hours)))
    draft.effects.append(Schedule(TimerKind.FEEDBACK_TIMEOUT, timedelta(hours=settings.feedback_timeout_hours)))


def act_remind_feedback(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.say("feedback.reminder", rating_buttons(deps, draft.lang))


def act_reask_feedback(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """Words that are no score: a comment kept for the rep, then the prompt again; thanks or "好的" are no comment."""
    acts = acts_of(event)
    if acts.pure or not event.text.strip():
        draft.say("feedback.welcome_ask" if Act.THANKS in acts else "feedback.ask", rating_buttons(deps, draft.lang))
        return
    draft.effects.append(TicketNote("feedback_comment", {"text": event.text}))
    draft.say("feedback.ask_again", rating_buttons(deps, draft.lang))


def act_decline_feedback(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """The client would rather not score: step 5 ends without one, as at the prompt's time-out; nobody asks again."""
    draft.effects.append(TicketNote("feedback_declined", {"text": event.text}))
    draft.effects.append(TicketNote("feedback_missing", {}))
    keep(draft)
    draft.say("feedback.declined")


def _comment_with_score(draft: Draft, event: Event, deps: Deps) -> None:
    """The words beside a typed score ("1分，问题还在") are the client's comment; a score alone ("挺满意") has none."""
    acts = acts_of(event)
    if acts.score is not None and event.button is None and deps.lexicon.remark(event.text):
        draft.effects.append(TicketNote("feedback_comment", {"text": event.text}))


def act_feedback(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """Record the score, then offer room for an optional comment before the conversation closes."""
    rating = rating_of(event)
    draft.effects.append(TicketNote("feedback", {"rating": rating}))
    _comment_with_score(draft, event, deps)
    keep(draft)
    skip = Button("comment:skip", deps.texts.get("feedback.no_comment", draft.lang))
    draft.say("feedback.thanks", (skip,))
    minutes = deps.settings.feedback_comment_minutes
    draft.effects.append(Schedule(TimerKind.COMMENT_TIMEOUT, timedelta(minutes=minutes)))


def act_comment(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    acts = acts_of(event)
    no_comment = acts.pure and bool(acts.found & {Act.THANKS, Act.CANCEL, Act.AFFIRM, Act.SKIP})
    if event.text.strip() and event.button is None and not no_comment and normalize(event.text) not in skip_words(deps):
        draft.effects.append(TicketNote("feedback_comment", {"text": event.text}))
        draft.say("feedback.comment_thanks")
    else:
        draft.say("feedback.goodbye")


def act_feedback_low(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """A low score reopens the ticket (the desk does it); the client hears that someone will follow up."""
    draft.effects.append(TicketNote("feedback", {"rating": rating_of(event)}))
    _comment_with_score(draft, event, deps)
    keep(draft)
    draft.say("feedback.sorry")


def act_feedback_timeout(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.effects.append(TicketNote("feedback_missing", {}))
    keep(draft)


def act_reopen(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.effects.append(TicketNote("reopened", {"text": event.text}))
    draft.say("ticket.reopened")


def act_reopen_to_person(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """The problem is back and the client asks for a person: the ticket is worked again, by a person."""
    draft.effects.append(TicketNote("reopened", {"text": event.text}))
    act_enter_queue(draft, snapshot, event, deps)
