"""Actions once a ticket exists: status, waiting for a person, a rep's claim, release and resolution."""

from __future__ import annotations

from datetime import timedelta

from core.dialogue.acts import Act
from core.dialogue.entities import find_phones, find_ticket_numbers
from core.dialogue.forms import normalize_phone
from core.dialogue.model import (
    ASKING_STATES,
    DRAFT_STATES,
    NEW_ISSUE_TURN,
    TICKET_LOOKUP_TEXT,
    TICKET_LOOKUP_TURN,
    Deps,
    Draft,
    Event,
    OpenTicket,
    Say,
    Schedule,
    SetHolder,
    Snapshot,
    TicketNote,
    TimerKind,
)
from core.dialogue.reading import (
    acts_of,
    answers_ticket_lookup,
    marked_last_turn,
    phrases,
    prefilled,
    ticket_classification,
    ticket_details,
)
from core.dialogue.replies import keep, reprompt

# Ticket statuses past the resolution: nobody is being found for them any more.
_SETTLED = frozenset({"resolved", "feedback", "closed"})


def act_tell_status(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """How the ticket is going: its status, who holds it and the next deadline, from the ticket itself."""
    ticket = snapshot.ticket
    assert ticket is not None
    if snapshot.has_ticket:
        draft.effects.append(TicketNote("client_message", {"text": event.text}))
    lang = draft.lang
    holder = ""
    if ticket.holder:
        holder = deps.texts.get("progress.holder", lang, name=ticket.holder)
    elif ticket.status not in _SETTLED:
        holder = deps.texts.get("progress.no_holder", lang)
    deadline = deps.texts.get("progress.deadline", lang, deadline=ticket.deadline) if ticket.deadline else ""
    resolution = ticket.resolution_deadline
    if Act.TIMING in acts_of(event) and resolution:
        # "要多久能处理好" asks when it is done, not only when someone first answers, and how long that takes.
        if resolution == ticket.deadline:
            deadline = ""
        within = ticket.resolution_within
        within = deps.texts.get("progress.resolution_within", lang, within=within) if within else ""
        deadline += deps.texts.get("progress.resolution_deadline", lang, deadline=resolution, within=within)
    draft.say(
        "progress.report",
        ticket_no=ticket.number,
        category=deps.texts.get(f"category.{ticket.category}", lang),
        status=deps.texts.get(f"progress.status.{ticket.status}", lang),
        holder=holder,
        deadline=deadline,
    )
    # Back to the question of an issue under way; after a greeting alone no issue is, and the menu would only crowd.
    if snapshot.state in DRAFT_STATES and (snapshot.state not in ASKING_STATES or snapshot.context.get("issue_text")):
        reprompt(draft, deps)


def act_look_for_ticket(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """No ticket of the client's was found to tell the status of: say so, and ask for its number or phone.

    A number that is not the client's is told as not found, as one that does not exist: whose it is stays
    unsaid. A phone number looks nothing up beyond the client's own tickets, which were looked for already:
    anyone can type anyone's number, so only the phone on the client's record (entered by the agency) is taken
    as his, and for any other a colleague checks who is asking before telling anything.
    """
    named = find_ticket_numbers(event.text)
    phones = find_phones(event.text) if answers_ticket_lookup(event.text, snapshot, deps) else ()
    if named:
        draft.say("progress.number_not_found", ticket_no=named[0])
    elif phones:
        own = snapshot.client_phone is not None and normalize_phone(snapshot.client_phone) in phones
        draft.say("progress.none_for_phone" if own else "progress.phone_unverified")
    elif marked_last_turn(snapshot, TICKET_LOOKUP_TURN):
        draft.say("progress.still_none")
    else:
        draft.say("progress.none_found")
    draft.context[TICKET_LOOKUP_TURN] = int(draft.context.get("turn", 0))
    said = str(snapshot.context.get(TICKET_LOOKUP_TEXT) or "")
    draft.context[TICKET_LOOKUP_TEXT] = f"{said} {event.text}".strip()


def act_reclassify(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """A ticket exists and the client names another category ("我要投诉你们的投放"): the ticket follows his word."""
    claim = acts_of(event).claim
    draft.effects.append(TicketNote("client_message", {"text": event.text}))
    draft.effects.append(TicketNote("client_reclassified", {"category": claim, "text": event.text}))
    draft.say("ticket.reclassified", new_category=deps.texts.get(f"category.{claim}", draft.lang))


def act_enter_queue(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """Hand the conversation to people; a ticket records the issue even if the client said little, in his words
    as written: the person who takes over reads the anger too ("烦死了😤 给我转人工！！" is a complaint's)."""
    _enter_queue(draft, snapshot, event, deps, event.text if event.said is None else event.said)


def act_hand_over_calmly(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """The client vents again and again: a calm word, and a person takes over; the ticket holds what the client
    told of the issue, not the venting."""
    draft.effects.append(Say("chat.calm_handover"))
    _enter_queue(draft, snapshot, event, deps, "")


def _enter_queue(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps, said: str) -> None:
    """Into the queue, with a ticket (if none is open yet) of the issue told so far and `said` besides."""
    if not snapshot.has_ticket:
        # What was said while a ticket was looked for is what the person is asked for.
        earlier = (
            draft.context.get("issue_text")
            or draft.context.get("first_text")
            or draft.context.get(TICKET_LOOKUP_TEXT)
            or ""
        )
        told = f"{earlier} {said}"
        guess = deps.classifier.classify(told)
        category = draft.category or (guess.category if guess.confident else "other")
        if draft.category is None:
            draft.context["classified"] = {
                "category": guess.category,
                "confident": guess.confident,
                "matched": phrases(guess),
                "version": deps.classifier.version,
                "picked": False,
            }
        if not draft.slots and told.strip():
            # What the client said before asking for a person is on the ticket, as a form would have it.
            draft.slots = prefilled(snapshot, category, told.strip(), deps)
        classification = ticket_classification(draft, deps, category)
        draft.effects.append(
            OpenTicket(category, ticket_details(draft, deps, category), handoff=True, classification=classification)
        )
    draft.effects.append(TicketNote("handoff", {"text": event.text}))
    keep(draft)
    draft.say("handoff.queued")


def act_append(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.effects.append(TicketNote("client_message", {"text": event.text}))
    draft.say("ticket.appended")


def act_thanks_noted(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.effects.append(TicketNote("client_message", {"text": event.text}))
    draft.say("ticket.thanks")


def act_acknowledge(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    # "好的", "嗯", "是的" after the ticket opened say nothing new: no note for the rep, and not "added to the ticket".
    draft.say("ticket.acknowledged")


def act_await_new_issue(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """Another issue announced alone ("还有个事"): the next message is that issue, not a note on the ticket."""
    draft.context[NEW_ISSUE_TURN] = int(draft.context.get("turn", 0))
    draft.say("ticket.await_new_issue")


def act_append_silently(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    # A rep holds the conversation: the bot stays silent, the rep sees the message.
    draft.effects.append(TicketNote("client_message", {"text": event.text}))


def act_queue_wait(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.effects.append(TicketNote("client_message", {"text": event.text}))
    turn = int(draft.context.get("turn", 0))
    last = int(draft.context.get("queue_ack_turn", -10))
    # Every message is acknowledged; the longer line at most every few messages, so it does not repeat itself.
    if turn - last >= 3:
        draft.context["queue_ack_turn"] = turn
        draft.say("handoff.still_waiting")
    else:
        draft.say("handoff.noted")


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
