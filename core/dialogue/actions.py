"""Guards and actions of the dialogue machine: the named pieces its transition table refers to."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from core.dialogue.classifier import Classification, normalize
from core.dialogue.forms import CATEGORIES, SlotSpec, validate
from core.dialogue.model import (
    CANCEL,
    CATEGORY_PREFIX,
    CHOICE_PREFIX,
    CONFIRM,
    EDIT,
    EDIT_PREFIX,
    RATE_PREFIX,
    Classified,
    Deps,
    Draft,
    Event,
    EventKind,
    OpenTicket,
    Say,
    Schedule,
    SetHolder,
    Snapshot,
    State,
    TicketNote,
    TimerKind,
)
from core.messages import Button
from core.settings import DialogueSettings

Guard = Callable[[Snapshot, Event, Deps], bool]
Action = Callable[[Draft, Snapshot, Event, Deps], None]

# ---------------------------------------------------------------- guards


def _classify(snapshot: Snapshot, event: Event, deps: Deps) -> Classification:
    return deps.classifier.classify(event.text)


def _phrases(verdict: Classification) -> list[str]:
    """The matched rule phrases, each once, in the order they occur."""
    return list(dict.fromkeys(m.phrase for m in verdict.matched))


def _record_classified(draft: Draft, event: Event, deps: Deps) -> None:
    """The classifier decided this client message (to act, to ask, or to greet): say so to the engine, and keep it
    in the context for the ticket that the issue may end in."""
    if event.kind is not EventKind.MESSAGE or not event.text.strip():
        return
    verdict = deps.classifier.classify(event.text)
    effect = Classified(
        verdict.category, verdict.confidence, verdict.confident, tuple(_phrases(verdict)), deps.classifier.version
    )
    draft.effects.append(effect)
    draft.context["classified"] = {**effect.record(), "picked": False}


def _ticket_classification(draft: Draft, deps: Deps, category: str) -> dict[str, Any]:
    """What the ticket's "classified" event says of how its category was decided."""
    known = draft.context.get("classified") or {}
    return {
        "matched": list(known.get("matched") or []),
        "confident": bool(known.get("confident", False)) and known.get("category") == category,
        "picked": bool(known.get("picked", False)),
        "rules_version": known.get("version", deps.classifier.version),
    }


def is_handoff(text: str, settings: DialogueSettings) -> bool:
    """A request for a person: the whole message is a handoff word, or it contains a handoff phrase."""
    norm = normalize(text).strip(" .!?。！？~～")
    if norm in {normalize(p) for p in settings.handoff_exact} or norm == "/human":
        return True
    return any(normalize(p) in norm for p in settings.handoff_contains)


def _completes_form(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    if snapshot.category is None:
        return False
    filled = dict(snapshot.slots)
    current = snapshot.context.get("asking")
    if current and (event.text.strip() or event.kind is EventKind.BUTTON):
        spec = deps.forms.slot(snapshot.category, current)
        answer = _answer_text(event, spec, snapshot.category, deps, snapshot.language)
        if validate(spec, answer, _skip_words(deps)).error is None:
            filled[current] = True
    return deps.forms.next_missing(snapshot.category, filled) is None


GUARDS: dict[str, Guard] = {
    "always": lambda s, e, d: True,
    "handoff": lambda s, e, d: is_handoff(e.text, d.settings),
    "confident": lambda s, e, d: _classify(s, e, d).confident,
    "some_cue": lambda s, e, d: bool(_classify(s, e, d).matched),
    "category_button": lambda s, e, d: (e.button or "").startswith(CATEGORY_PREFIX),
    "completes_form": _completes_form,
    "confident_and_complete": lambda s, e, d: (
        _classify(s, e, d).confident and _prefills_all(_classify(s, e, d).category, e.text, s, d)
    ),
    "category_button_and_complete": lambda s, e, d: (
        (e.button or "").startswith(CATEGORY_PREFIX)
        and _prefills_all(_picked_category(e), _first_text_after_pick(s), s, d)
    ),
    "confirm": lambda s, e, d: e.button == CONFIRM,
    "edit": lambda s, e, d: e.button == EDIT,
    "edit_slot": lambda s, e, d: (e.button or "").startswith(EDIT_PREFIX),
    "cancel": lambda s, e, d: e.button == CANCEL,
    "to_rep": lambda s, e, d: e.data.get("user_id") is not None,
    "choice": lambda s, e, d: (e.button or "").startswith(CHOICE_PREFIX),
    "reopen": lambda s, e, d: any(normalize(w) in normalize(e.text) for w in d.settings.reopen_words),
    "idle_reminder": lambda s, e, d: e.data.get("timer") == TimerKind.IDLE_REMINDER,
    "idle_abandon": lambda s, e, d: e.data.get("timer") == TimerKind.IDLE_ABANDON,
    "feedback_prompt": lambda s, e, d: e.data.get("timer") == TimerKind.FEEDBACK_PROMPT,
    "feedback_reminder": lambda s, e, d: e.data.get("timer") == TimerKind.FEEDBACK_REMINDER,
    "feedback_timeout": lambda s, e, d: e.data.get("timer") == TimerKind.FEEDBACK_TIMEOUT,
    "low_score": lambda s, e, d: int(e.data.get("rating", 5)) <= d.low_score,
    "comment_timeout": lambda s, e, d: e.data.get("timer") == TimerKind.COMMENT_TIMEOUT,
}

# ---------------------------------------------------------------- actions


def _skip_words(deps: Deps) -> set[str]:
    return {normalize(w) for w in deps.settings.skip_words}


def _category_buttons(deps: Deps, lang: str) -> tuple[Button, ...]:
    return tuple(Button(CATEGORY_PREFIX + c, deps.texts.get(f"category.{c}", lang)) for c in CATEGORIES)


def _choice_buttons(spec: SlotSpec, category: str, deps: Deps, lang: str) -> tuple[Button, ...]:
    return tuple(
        Button(CHOICE_PREFIX + c, deps.texts.get(f"slots.{category}.{spec.name}.choices.{c}", lang))
        for c in spec.choices
    )


def _answer_text(event: Event, spec: SlotSpec, category: str, deps: Deps, lang: str) -> str:
    """A choice button answers with its label; anything else answers with the message text."""
    if event.button and event.button.startswith(CHOICE_PREFIX):
        choice = event.button[len(CHOICE_PREFIX) :]
        if choice in spec.choices:
            return deps.texts.get(f"slots.{category}.{spec.name}.choices.{choice}", lang)
    return event.text


def _ask_next(draft: Draft, deps: Deps) -> None:
    """Ask for the next missing slot, or show the summary when none is missing."""
    assert draft.category is not None
    spec = deps.forms.next_missing(draft.category, draft.slots)
    if spec is None:
        draft.context.pop("asking", None)
        draft.context.pop("editing", None)
        _show_summary(draft, deps)
        return
    draft.context["asking"] = spec.name
    key = f"slots.{draft.category}.{spec.name}"
    hint = "" if spec.required else deps.texts.get("form.optional_hint", draft.lang)
    buttons = _choice_buttons(spec, draft.category, deps, draft.lang)
    draft.say("form.ask", buttons, prompt=deps.texts.get(f"{key}.prompt", draft.lang), hint=hint)


def _summary_lines(draft: Draft, deps: Deps) -> str:
    assert draft.category is not None
    lines = []
    for i, spec in enumerate(deps.forms.slots(draft.category), start=1):
        value = draft.slots.get(spec.name)
        shown = value if value else deps.texts.get("form.skipped", draft.lang)
        lines.append(f"{i}. {deps.texts.get(f'slots.{draft.category}.{spec.name}.label', draft.lang)}: {shown}")
    evidence = draft.context.get("evidence") or []
    if evidence:
        lines.append(deps.texts.get("form.evidence_count", draft.lang, count=len(evidence)))
    return "\n".join(lines)


def _show_summary(draft: Draft, deps: Deps) -> None:
    assert draft.category is not None
    buttons = (
        Button(CONFIRM, deps.texts.get("confirm.submit", draft.lang)),
        Button(EDIT, deps.texts.get("confirm.edit", draft.lang)),
        Button(CANCEL, deps.texts.get("confirm.cancel", draft.lang)),
    )
    draft.say(
        "confirm.summary",
        buttons,
        category=deps.texts.get(f"category.{draft.category}", draft.lang),
        summary=_summary_lines(draft, deps),
    )


def _prefilled(snapshot: Snapshot, category: str, first_text: str, deps: Deps) -> dict[str, Any]:
    """Slots the client has already answered: the first message, a phone number on record."""
    slots: dict[str, Any] = {}
    for spec in deps.forms.slots(category):
        if spec.prefill == "first_message" and len(first_text.strip()) >= deps.settings.prefill_min_chars:
            checked = validate(spec, first_text, set())
            if checked.error is None:
                slots[spec.name] = checked.value
        elif spec.prefill == "client.phone" and snapshot.client_phone:
            slots[spec.name] = snapshot.client_phone
    return slots


def _start_form(draft: Draft, snapshot: Snapshot, category: str, first_text: str, deps: Deps) -> None:
    """Begin collecting a category's details, prefilling what the client has already told."""
    draft.category = category
    draft.slots = _prefilled(snapshot, category, first_text, deps)
    draft.context.pop("asking", None)
    draft.say("classify.picked", category=deps.texts.get(f"category.{category}", draft.lang))
    _ask_next(draft, deps)
    _schedule_idle(draft, deps)


def _picked_category(event: Event) -> str:
    category = (event.button or "")[len(CATEGORY_PREFIX) :]
    return category if category in CATEGORIES else "other"


def _first_text_after_pick(snapshot: Snapshot) -> str:
    if snapshot.state in {State.NEW, State.CLOSED}:
        return ""
    return str(snapshot.context.get("first_text") or "")


def _prefills_all(category: str, first_text: str, snapshot: Snapshot, deps: Deps) -> bool:
    return deps.forms.next_missing(category, _prefilled(snapshot, category, first_text, deps)) is None


def _schedule_idle(draft: Draft, deps: Deps) -> None:
    draft.effects.append(Schedule(TimerKind.IDLE_REMINDER, timedelta(minutes=deps.settings.idle_reminder_minutes)))
    draft.effects.append(Schedule(TimerKind.IDLE_ABANDON, timedelta(hours=deps.settings.idle_abandon_hours)))


def act_greet(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.category, draft.slots = None, {}
    draft.context = {k: v for k, v in draft.context.items() if k in {"turn", "evidence"}}
    draft.context["first_text"] = event.text
    _record_classified(draft, event, deps)
    draft.say("greeting.welcome", _category_buttons(deps, draft.lang))
    _schedule_idle(draft, deps)


def act_ask_category(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    if event.text:
        draft.context["first_text"] = event.text
    _record_classified(draft, event, deps)
    key = "classify.ask" if snapshot.state is State.CLASSIFYING or event.text else "greeting.welcome"
    draft.say(key, _category_buttons(deps, draft.lang))
    _schedule_idle(draft, deps)


def act_start_classified(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    if snapshot.state in {State.NEW, State.CLOSED}:
        draft.context = {k: v for k, v in draft.context.items() if k in {"turn", "evidence"}}
        draft.effects.append(Say("greeting.hello"))
    draft.context["first_text"] = event.text
    _record_classified(draft, event, deps)
    _start_form(draft, snapshot, _classify(snapshot, event, deps).category, event.text, deps)


def act_start_picked(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    if snapshot.state in {State.NEW, State.CLOSED}:
        draft.context = {k: v for k, v in draft.context.items() if k in {"turn", "evidence"}}
    category = _picked_category(event)
    # The keywords' verdict on the first message (if any) stays on record beside the client's own choice.
    known = dict(draft.context.get("classified") or {"matched": [], "confident": False})
    known.setdefault("version", deps.classifier.version)
    draft.context["classified"] = {**known, "category": category, "picked": True}
    _start_form(draft, snapshot, category, _first_text_after_pick(snapshot), deps)


def act_fill(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """Store the answer to the slot being asked, or explain why it was not accepted."""
    assert draft.category is not None
    current = draft.context.get("asking")
    if current is None:
        _ask_next(draft, deps)
        return
    spec = deps.forms.slot(draft.category, current)
    if event.attachments and not event.text.strip():
        # A screenshot or voice note is evidence for the ticket (the engine keeps it), not an answer.
        draft.say("form.evidence_received")
        _ask_next(draft, deps)
        return
    answer = _answer_text(event, spec, draft.category, deps, draft.lang)
    checked = validate(spec, answer, _skip_words(deps))
    if checked.error:
        buttons = _choice_buttons(spec, draft.category, deps, draft.lang)
        draft.say(checked.error, buttons)
        return
    draft.slots[current] = checked.value
    draft.context.pop("asking", None)
    _ask_next(draft, deps)
    _schedule_idle(draft, deps)


def act_confirm_edit(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    assert draft.category is not None
    buttons = tuple(
        Button(EDIT_PREFIX + s.name, deps.texts.get(f"slots.{draft.category}.{s.name}.label", draft.lang))
        for s in deps.forms.slots(draft.category)
    )
    draft.say("confirm.which", buttons)


def act_edit_slot(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    assert draft.category is not None
    name = (event.button or "")[len(EDIT_PREFIX) :]
    deps.forms.slot(draft.category, name)
    draft.slots.pop(name, None)
    # Later slots keep their answers: only the corrected one is asked again.
    draft.context["asking"] = name
    spec = deps.forms.slot(draft.category, name)
    key = f"slots.{draft.category}.{name}"
    hint = "" if spec.required else deps.texts.get("form.optional_hint", draft.lang)
    draft.say(
        "form.ask",
        _choice_buttons(spec, draft.category, deps, draft.lang),
        prompt=deps.texts.get(f"{key}.prompt", draft.lang),
        hint=hint,
    )


def act_resummarize(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.effects.append(Say("confirm.use_buttons"))
    _show_summary(draft, deps)


def act_cancel(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.category, draft.slots = None, {}
    draft.context = {k: v for k, v in draft.context.items() if k == "turn"}
    draft.say("confirm.cancelled")


def _details(draft: Draft) -> dict[str, Any]:
    details: dict[str, Any] = dict(draft.slots)
    if draft.context.get("first_text"):
        details["first_message"] = draft.context["first_text"]
    if draft.context.get("evidence"):
        details["evidence"] = list(draft.context["evidence"])
    return details


def act_open_ticket(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    assert draft.category is not None
    classification = _ticket_classification(draft, deps, draft.category)
    draft.effects.append(OpenTicket(draft.category, _details(draft), classification=classification))
    draft.context = {k: v for k, v in draft.context.items() if k == "turn"}
    draft.say("ticket.opened")


def act_enter_queue(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """Hand the conversation to people; a ticket records the issue even if the client said little."""
    if not snapshot.has_ticket:
        told = f"{draft.context.get('first_text') or ''} {event.text}"
        guess = deps.classifier.classify(told)
        category = draft.category or (guess.category if guess.confident else "other")
        if draft.category is None:
            draft.context["classified"] = {
                "category": guess.category,
                "confident": guess.confident,
                "matched": _phrases(guess),
                "version": deps.classifier.version,
                "picked": False,
            }
        classification = _ticket_classification(draft, deps, category)
        draft.effects.append(OpenTicket(category, _details(draft), handoff=True, classification=classification))
    draft.effects.append(TicketNote("handoff", {"text": event.text}))
    draft.context = {k: v for k, v in draft.context.items() if k == "turn"}
    draft.say("handoff.queued")


def act_append(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.effects.append(TicketNote("client_message", {"text": event.text}))
    draft.say("ticket.appended")


def act_append_silently(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    # A rep holds the conversation: the bot stays silent, the rep sees the message.
    draft.effects.append(TicketNote("client_message", {"text": event.text}))


def act_queue_wait(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.effects.append(TicketNote("client_message", {"text": event.text}))
    turn = int(draft.context.get("turn", 0))
    last = int(draft.context.get("queue_ack_turn", -10))
    # Acknowledge at most every few messages so a waiting client is not flooded with the same line.
    if turn - last >= 3:
        draft.context["queue_ack_turn"] = turn
        draft.say("handoff.still_waiting")


def act_claim(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    user_id = int(event.data["user_id"])
    draft.effects.append(SetHolder(user_id))
    draft.effects.append(TicketNote("claimed", {"user_id": user_id}))
    draft.say("handoff.claimed", rep_name=str(event.data.get("rep_name", "")))


def act_release(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.effects.append(SetHolder(None))
    draft.effects.append(TicketNote("released", {}))
    draft.say("handoff.released")


def act_requeue(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """Transferred to a department: nobody holds it until someone there claims it."""
    draft.effects.append(SetHolder(None))
    draft.say("handoff.transferred", department=str(event.data.get("department_name", "")))


def act_resolve(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.effects.append(SetHolder(None))
    draft.effects.append(TicketNote("resolved", {"solution": str(event.data.get("solution", ""))}))
    draft.say("ticket.resolved", solution=str(event.data.get("solution", "")))
    draft.effects.append(Schedule(TimerKind.FEEDBACK_PROMPT, timedelta(minutes=deps.settings.feedback_delay_minutes)))


def _rating_buttons(deps: Deps, lang: str) -> tuple[Button, ...]:
    return tuple(Button(f"{RATE_PREFIX}{n}", deps.texts.get(f"feedback.rate_{n}", lang)) for n in range(1, 6))


def act_ask_feedback(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.say("feedback.ask", _rating_buttons(deps, draft.lang))
    settings = deps.settings
    draft.effects.append(Schedule(TimerKind.FEEDBACK_REMINDER, timedelta(hours=settings.feedback_reminder_hours)))
    draft.effects.append(Schedule(TimerKind.FEEDBACK_TIMEOUT, timedelta(hours=settings.feedback_timeout_hours)))


def act_remind_feedback(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.say("feedback.reminder", _rating_buttons(deps, draft.lang))


def act_reask_feedback(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    if event.text:
        draft.effects.append(TicketNote("feedback_comment", {"text": event.text}))
    draft.say("feedback.ask_again", _rating_buttons(deps, draft.lang))


def act_feedback(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """Record the score, then offer room for an optional comment before the conversation closes."""
    rating = int(event.data["rating"])
    draft.effects.append(TicketNote("feedback", {"rating": rating}))
    draft.context = {k: v for k, v in draft.context.items() if k == "turn"}
    skip = Button("comment:skip", deps.texts.get("feedback.no_comment", draft.lang))
    draft.say("feedback.thanks", (skip,))
    minutes = deps.settings.feedback_comment_minutes
    draft.effects.append(Schedule(TimerKind.COMMENT_TIMEOUT, timedelta(minutes=minutes)))


def act_comment(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    if event.text.strip() and event.button is None and normalize(event.text) not in _skip_words(deps):
        draft.effects.append(TicketNote("feedback_comment", {"text": event.text}))
        draft.say("feedback.comment_thanks")
    else:
        draft.say("feedback.goodbye")


def act_feedback_low(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """A low score reopens the ticket (the desk does it); the client hears that someone will follow up."""
    draft.effects.append(TicketNote("feedback", {"rating": int(event.data["rating"])}))
    draft.context = {k: v for k, v in draft.context.items() if k == "turn"}
    draft.say("feedback.sorry")


def act_feedback_timeout(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.effects.append(TicketNote("feedback_missing", {}))
    draft.context = {k: v for k, v in draft.context.items() if k == "turn"}


def act_reopen(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.effects.append(TicketNote("reopened", {"text": event.text}))
    draft.say("ticket.reopened")


def act_note_after_resolve(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.effects.append(TicketNote("client_message", {"text": event.text}))
    draft.say("ticket.appended")


def act_remind(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    pending = tuple(Button.from_json(b) for b in draft.context.get("pending", []))
    draft.effects.append(Say("idle.reminder"))
    draft.context["pending"] = [b.to_json() for b in pending]


def act_abandon(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.category, draft.slots = None, {}
    draft.context = {k: v for k, v in draft.context.items() if k == "turn"}
    draft.say("idle.abandoned")


def act_nothing(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """A stale timer or a no-op: state stays, nothing is said."""


ACTIONS: dict[str, Action] = {
    name.removeprefix("act_"): fn for name, fn in dict(globals()).items() if name.startswith("act_") and callable(fn)
}
