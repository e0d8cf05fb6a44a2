"""The dialogue state machine: an explicit transition table over named guards and actions, and `step`."""

from __future__ import annotations

from dataclasses import dataclass, replace

from core.dialogue.actions import ACTIONS, GUARDS, recognize
from core.dialogue.acts import NO_ACTS, Act, Acts
from core.dialogue.hours import hours_answer
from core.dialogue.intake import timing_answer
from core.dialogue.model import (
    ACT_EVENTS,
    CALL_BACK,
    DRAFT_STATES,
    Deps,
    Draft,
    Event,
    EventKind,
    Outcome,
    Say,
    Snapshot,
    State,
)
from core.dialogue.reading import only_venting, without_venting
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
# What the bot says first to a client who starts with an issue.
_HELLO = "greeting.hello"


def _hours_row(source: State) -> Transition:
    """A question about when the agency works, alone: answered, and the client is back where he was.

    With more beside it ("几点下班？我们的发票还没开") the hours are answered and the rest goes on (see `step`).
    """
    return Transition(source, E.HOURS, "only_hours", source, "tell_hours")


def _start_rows(source: State) -> list[Transition]:
    """How a fresh issue starts: from NEW, and again from CLOSED when the client writes anew."""
    return [
        # "你们几点下班" opens nothing: the next message is a first one still
        _hours_row(source),
        Transition(source, E.HANDOFF, "always", S.HUMAN_QUEUE, "enter_queue"),
        Transition(source, E.STATUS, "knows_ticket", source, "tell_status"),
        # "之前提交的工单有进展了吗" from a client none of whose tickets was found: asked for its number, not a category
        Transition(source, E.STATUS, "asks_of_unknown_ticket", source, "look_for_ticket"),
        # "你们一般多久回复" before any issue: the quickest targets, and nothing opened
        Transition(source, E.TIMING, "asks_timing", source, "tell_timing"),
        Transition(source, E.GREETING, "pure", S.GREETED, "greet"),
        Transition(source, E.THANKS, "nothing_else", source, "say_bye"),
        # "好的", "嗯嗯", "ok" with nothing open start no form: a first one is greeted, one after the end acknowledged
        Transition(source, E.AFFIRM, "pure", *((S.GREETED, "greet") if source is S.NEW else (source, "say_ok"))),
        Transition(source, E.BOT_QUESTION, "always", S.GREETED, "explain_bot"),
        # "垃圾公司" as the first message: a calm word and the welcome, and no description of the issue
        Transition(source, E.VENT, "only_venting", S.GREETED, "calm_down"),
        # "just a question, what are your fees…": the category the client names decides, whatever the words lean to
        Transition(source, E.CLAIM, "claim_completes", S.CONFIRMING, "start_claimed"),
        Transition(source, E.CLAIM, "always", S.COLLECTING, "start_claimed"),
        Transition(source, E.MESSAGE, "confident_and_complete", S.CONFIRMING, "start_classified"),
        Transition(source, E.MESSAGE, "confident", S.COLLECTING, "start_classified"),
        Transition(source, E.MESSAGE, "some_cue", S.CLASSIFYING, "ask_category"),
        Transition(source, E.MESSAGE, "always", S.GREETED, "greet"),
        Transition(source, E.BUTTON, "category_button_and_complete", S.CONFIRMING, "start_picked"),
        Transition(source, E.BUTTON, "category_button", S.COLLECTING, "start_picked"),
        Transition(source, E.BUTTON, "always", S.GREETED, "greet"),
        Transition(source, E.TIMEOUT, "always", source, "nothing"),
    ]


def _asking_rows(source: State) -> list[Transition]:
    """Greeted or classifying: the bot asks what the issue is about; the client's messages add up."""
    return [
        _hours_row(source),
        Transition(source, E.HANDOFF, "always", S.HUMAN_QUEUE, "enter_queue"),
        Transition(source, E.CANCEL, "always", S.CLOSED, "cancel"),
        Transition(source, E.THANKS, "nothing_else", S.CLOSED, "say_bye"),
        Transition(source, E.STATUS, "knows_ticket", source, "tell_status"),
        # "之前提交的工单有进展了吗" from a client none of whose tickets was found: asked for its number, not a category
        Transition(source, E.STATUS, "asks_of_unknown_ticket", source, "look_for_ticket"),
        Transition(source, E.TIMING, "asks_timing", source, "tell_timing"),
        Transition(source, E.GREETING, "pure", source, "greet_again"),
        Transition(source, E.BOT_QUESTION, "always", source, "explain_bot"),
        *_venting_rows(source),
        Transition(source, E.CLAIM, "claim_completes", S.CONFIRMING, "start_claimed"),
        Transition(source, E.CLAIM, "always", S.COLLECTING, "start_claimed"),
        Transition(source, E.MESSAGE, "confident_and_complete", S.CONFIRMING, "start_classified"),
        Transition(source, E.MESSAGE, "confident", S.COLLECTING, "start_classified"),
        Transition(source, E.MESSAGE, "asked_enough_and_complete", S.CONFIRMING, "start_guessed"),
        Transition(source, E.MESSAGE, "asked_enough", S.COLLECTING, "start_guessed"),
        Transition(source, E.MESSAGE, "always", S.CLASSIFYING, "ask_category"),
        Transition(source, E.BUTTON, "category_button_and_complete", S.CONFIRMING, "start_picked"),
        Transition(source, E.BUTTON, "category_button", S.COLLECTING, "start_picked"),
        Transition(source, E.BUTTON, "always", source, "ask_category"),
    ]


def _venting_rows(source: State) -> list[Transition]:
    """Venting and nothing else ("垃圾公司", "滚") while the bot asks something: a calm word and the question again;
    no answer, yes or change is taken from it. If it goes on, a person takes over."""
    return [
        Transition(source, E.VENT, "vented_enough", S.HUMAN_QUEUE, "hand_over_calmly"),
        Transition(source, E.VENT, "only_venting", source, "calm_down"),
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


def _ticket_talk_rows(source: State) -> list[Transition]:
    """A ticket exists: status questions are answered from it; naming a category updates it."""
    return [
        Transition(source, E.STATUS, "status_of_ticket", source, "tell_status"),
        Transition(source, E.GREETING, "pure_and_knows_ticket", source, "tell_status"),
        Transition(source, E.CLAIM, "claim_differs", source, "reclassify"),
    ]


def _new_issue_rows(source: State, guard: str = "new_issue") -> list[Transition]:
    """Another issue ("还有个事要投诉…") gets a ticket of its own; the one filed stays with the desk."""
    return [
        # "还有个事" alone: the other issue follows in the next message
        Transition(source, E.MESSAGE, "announces_new_issue", source, "await_new_issue"),
        Transition(source, E.MESSAGE, f"{guard}_complete", S.CONFIRMING, "start_new_issue"),
        Transition(source, E.MESSAGE, f"{guard}_known", S.COLLECTING, "start_new_issue"),
        Transition(source, E.MESSAGE, guard, S.CLASSIFYING, "start_new_issue"),
    ]


def _rated_rows(source: State) -> list[Transition]:
    """A score (a button, a typed digit, words) or a problem that is back, once the ticket is resolved.

    A low score reopens the ticket as a complaint; a message that says the problem is not solved reopens it whatever
    score it gives ("还行吧，但是数据还是不对" is no 4), with a person if one is asked for.
    """
    return [
        Transition(source, E.FEEDBACK, "low_score", S.TICKET_OPEN, "feedback_low"),
        Transition(source, E.FEEDBACK, "always", S.FEEDBACK_COMMENT, "feedback"),
        Transition(source, E.SCORE, "low_score", S.TICKET_OPEN, "feedback_low"),
        Transition(source, E.HANDOFF, "reopen", S.HUMAN_QUEUE, "reopen_to_person"),
        Transition(source, E.HANDOFF, "always", S.HUMAN_QUEUE, "enter_queue"),
        Transition(source, E.MESSAGE, "reopen", S.TICKET_OPEN, "reopen"),
        Transition(source, E.SCORE, "always", S.FEEDBACK_COMMENT, "feedback"),
    ]


TRANSITIONS: tuple[Transition, ...] = (
    *_start_rows(S.NEW),
    *_asking_rows(S.GREETED),
    *_draft_timeouts(S.GREETED),
    *_asking_rows(S.CLASSIFYING),
    *_draft_timeouts(S.CLASSIFYING),
    # collecting: the details the category needs; every message may answer several of them
    _hours_row(S.COLLECTING),
    Transition(S.COLLECTING, E.HANDOFF, "always", S.HUMAN_QUEUE, "enter_queue"),
    # "不用了" asked for a detail that may be left out is no cancel (reading.recognize): it leaves that detail out
    Transition(S.COLLECTING, E.CANCEL, "always", S.CLOSED, "cancel"),
    # "上一个工单怎么样了" while another issue's form is filled: its status, then back to the question
    Transition(S.COLLECTING, E.STATUS, "status_of_a_filed_ticket", S.COLLECTING, "tell_status"),
    # "要多久能处理好？" asked for a detail: the targets the issue would get, then the same question; nothing stored
    Transition(S.COLLECTING, E.TIMING, "asks_timing", S.COLLECTING, "tell_timing"),
    Transition(S.COLLECTING, E.EDIT, "edit_without_value", S.COLLECTING, "ask_edited_slot"),
    Transition(S.COLLECTING, E.EDIT, "edit_completes", S.CONFIRMING, "apply_edit"),
    Transition(S.COLLECTING, E.EDIT, "always", S.COLLECTING, "apply_edit"),
    Transition(S.COLLECTING, E.CLAIM, "claim_differs_and_completes", S.CONFIRMING, "switch_category"),
    Transition(S.COLLECTING, E.CLAIM, "claim_differs", S.COLLECTING, "switch_category"),
    Transition(S.COLLECTING, E.BOT_QUESTION, "always", S.COLLECTING, "explain_bot"),
    Transition(S.COLLECTING, E.DECLINE_CONTACT, "asking_contact_and_completes", S.CONFIRMING, "contact_by_channel"),
    Transition(S.COLLECTING, E.DECLINE_CONTACT, "asking_contact", S.COLLECTING, "contact_by_channel"),
    # "等一下我查一下": the client went to look the answer up; the question stands
    Transition(S.COLLECTING, E.HOLD, "pure", S.COLLECTING, "hold_on"),
    # "垃圾公司" asked for the project: no project; more of the issue's telling neither, nor a question aside
    *_venting_rows(S.COLLECTING),
    # more of the issue sent before the question asked meanwhile was read ("你们做的海报" / "logo印错了")
    Transition(S.COLLECTING, E.MESSAGE, "continues_issue_and_completes", S.CONFIRMING, "continue_issue"),
    Transition(S.COLLECTING, E.MESSAGE, "continues_issue", S.COLLECTING, "continue_issue"),
    Transition(S.COLLECTING, E.QUESTION, "side_question", S.COLLECTING, "side_question"),
    Transition(S.COLLECTING, E.MESSAGE, "not_an_answer", S.COLLECTING, "reask"),
    # the first description of an issue the bot filed on its own may be of another category: it moves there
    Transition(S.COLLECTING, E.MESSAGE, "describes_another_category_and_completes", S.CONFIRMING, "move_to_described"),
    Transition(S.COLLECTING, E.MESSAGE, "describes_another_category", S.COLLECTING, "move_to_described"),
    Transition(S.COLLECTING, E.MESSAGE, "completes_form", S.CONFIRMING, "fill"),
    Transition(S.COLLECTING, E.MESSAGE, "always", S.COLLECTING, "fill"),
    # a category picked mid-form (e.g. from the WeChat menu) starts that category's form afresh
    Transition(S.COLLECTING, E.BUTTON, "category_button_and_complete", S.CONFIRMING, "start_picked"),
    Transition(S.COLLECTING, E.BUTTON, "category_button", S.COLLECTING, "start_picked"),
    Transition(S.COLLECTING, E.BUTTON, "completes_form", S.CONFIRMING, "fill"),
    Transition(S.COLLECTING, E.BUTTON, "always", S.COLLECTING, "fill"),
    *_draft_timeouts(S.COLLECTING),
    # confirming: "是" submits, "不对" asks what to change, "电话改成…" changes it, "算了" cancels
    _hours_row(S.CONFIRMING),
    Transition(S.CONFIRMING, E.BUTTON, "confirm", S.TICKET_OPEN, "open_ticket"),
    Transition(S.CONFIRMING, E.BUTTON, "category_button_and_complete", S.CONFIRMING, "start_picked"),
    Transition(S.CONFIRMING, E.BUTTON, "category_button", S.COLLECTING, "start_picked"),
    Transition(S.CONFIRMING, E.BUTTON, "edit", S.CONFIRMING, "confirm_edit"),
    Transition(S.CONFIRMING, E.BUTTON, "edit_slot", S.COLLECTING, "edit_slot"),
    Transition(S.CONFIRMING, E.BUTTON, "cancel", S.CLOSED, "cancel"),
    Transition(S.CONFIRMING, E.BUTTON, "always", S.CONFIRMING, "resummarize"),
    Transition(S.CONFIRMING, E.HANDOFF, "always", S.HUMAN_QUEUE, "enter_queue"),
    Transition(S.CONFIRMING, E.CANCEL, "always", S.CLOSED, "cancel"),
    Transition(S.CONFIRMING, E.STATUS, "status_of_a_filed_ticket", S.CONFIRMING, "tell_status"),
    Transition(S.CONFIRMING, E.TIMING, "asks_timing", S.CONFIRMING, "tell_timing"),
    Transition(S.CONFIRMING, E.EDIT, "edit_without_value", S.COLLECTING, "ask_edited_slot"),
    Transition(S.CONFIRMING, E.EDIT, "always", S.CONFIRMING, "apply_edit"),
    Transition(S.CONFIRMING, E.CLAIM, "claim_differs_and_completes", S.CONFIRMING, "switch_category"),
    Transition(S.CONFIRMING, E.CLAIM, "claim_differs", S.COLLECTING, "switch_category"),
    # "你们是不是有病" at the summary: no yes, no change, no words added to the issue
    *_venting_rows(S.CONFIRMING),
    # "稍等我看看", "我跟老板确认下" at the summary: the client checks it; no change asked, no yes
    Transition(S.CONFIRMING, E.HOLD, "pure", S.CONFIRMING, "hold_on"),
    Transition(S.CONFIRMING, E.DENY, "always", S.CONFIRMING, "ask_what_to_change"),
    # "对" right after choosing "修改": the client is asked again, a second yes submits
    Transition(S.CONFIRMING, E.AFFIRM, "pure_after_choosing_to_change", S.CONFIRMING, "change_or_submit"),
    Transition(S.CONFIRMING, E.AFFIRM, "pure", S.TICKET_OPEN, "open_ticket"),
    Transition(S.CONFIRMING, E.BOT_QUESTION, "always", S.CONFIRMING, "explain_bot"),
    Transition(S.CONFIRMING, E.MESSAGE, "adds_details", S.CONFIRMING, "apply_edit"),
    Transition(S.CONFIRMING, E.MESSAGE, "answers_what_to_change", S.CONFIRMING, "add_to_issue_text"),
    Transition(S.CONFIRMING, E.QUESTION, "always", S.CONFIRMING, "side_question"),
    Transition(S.CONFIRMING, E.MESSAGE, "continues_issue_and_completes", S.CONFIRMING, "continue_issue"),
    Transition(S.CONFIRMING, E.MESSAGE, "continues_issue", S.COLLECTING, "continue_issue"),
    Transition(S.CONFIRMING, E.MESSAGE, "always", S.CONFIRMING, "resummarize"),
    *_draft_timeouts(S.CONFIRMING),
    # ticket open, the bot holds the conversation
    _hours_row(S.TICKET_OPEN),
    Transition(S.TICKET_OPEN, E.HANDOFF, "always", S.HUMAN_QUEUE, "enter_queue"),
    Transition(S.TICKET_OPEN, E.STATUS, "status_of_ticket", S.TICKET_OPEN, "tell_status"),
    # "垃圾公司" once the ticket is open: no other issue and no addition, a calm word (noted for the rep)
    *_venting_rows(S.TICKET_OPEN),
    *_new_issue_rows(S.TICKET_OPEN),
    *_ticket_talk_rows(S.TICKET_OPEN),
    Transition(S.TICKET_OPEN, E.THANKS, "pure", S.TICKET_OPEN, "thanks_noted"),
    Transition(S.TICKET_OPEN, E.AFFIRM, "pure", S.TICKET_OPEN, "acknowledge"),
    # a sticker or emoji alone adds nothing to the ticket
    Transition(S.TICKET_OPEN, E.MESSAGE, "no_words", S.TICKET_OPEN, "acknowledge"),
    Transition(S.TICKET_OPEN, E.MESSAGE, "always", S.TICKET_OPEN, "append"),
    Transition(S.TICKET_OPEN, E.BUTTON, "always", S.TICKET_OPEN, "append"),
    Transition(S.TICKET_OPEN, E.TIMEOUT, "always", S.TICKET_OPEN, "nothing"),
    *_rep_rows(S.TICKET_OPEN),
    # waiting for a person (who may be out of office: the hours say when one is in)
    _hours_row(S.HUMAN_QUEUE),
    *_ticket_talk_rows(S.HUMAN_QUEUE),
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
    # resolved: the solution was told; the satisfaction prompt follows, but a score in words counts at once
    _hours_row(S.RESOLVED),
    Transition(S.RESOLVED, E.TIMEOUT, "feedback_prompt", S.AWAITING_FEEDBACK, "ask_feedback"),
    Transition(S.RESOLVED, E.TIMEOUT, "always", S.RESOLVED, "nothing"),
    *_rated_rows(S.RESOLVED),
    Transition(S.RESOLVED, E.STATUS, "status_of_ticket", S.RESOLVED, "tell_status"),
    *_new_issue_rows(S.RESOLVED),
    # "谢谢", "好的" to the solution: the client is here and content, so the satisfaction prompt comes now
    Transition(S.RESOLVED, E.THANKS, "pure", S.AWAITING_FEEDBACK, "ask_feedback_now"),
    Transition(S.RESOLVED, E.AFFIRM, "pure", S.AWAITING_FEEDBACK, "ask_feedback_now"),
    Transition(S.RESOLVED, E.MESSAGE, "always", S.RESOLVED, "note_after_resolve"),
    Transition(S.RESOLVED, E.BUTTON, "always", S.RESOLVED, "note_after_resolve"),
    Transition(S.RESOLVED, E.REP_CLAIM, "always", S.WITH_REP, "claim"),
    # awaiting feedback
    _hours_row(S.AWAITING_FEEDBACK),
    *_rated_rows(S.AWAITING_FEEDBACK),
    Transition(S.AWAITING_FEEDBACK, E.TIMEOUT, "feedback_reminder", S.AWAITING_FEEDBACK, "remind_feedback"),
    Transition(S.AWAITING_FEEDBACK, E.TIMEOUT, "feedback_timeout", S.CLOSED, "feedback_timeout"),
    Transition(S.AWAITING_FEEDBACK, E.TIMEOUT, "always", S.AWAITING_FEEDBACK, "nothing"),
    # "不用评了", "算了", "没空": no score, and no more asking
    Transition(S.AWAITING_FEEDBACK, E.MESSAGE, "declines_rating", S.CLOSED, "decline_feedback"),
    Transition(S.AWAITING_FEEDBACK, E.STATUS, "status_of_ticket", S.AWAITING_FEEDBACK, "tell_status"),
    *_new_issue_rows(S.AWAITING_FEEDBACK),
    Transition(S.AWAITING_FEEDBACK, E.MESSAGE, "always", S.AWAITING_FEEDBACK, "reask_feedback"),
    Transition(S.AWAITING_FEEDBACK, E.BUTTON, "always", S.AWAITING_FEEDBACK, "reask_feedback"),
    Transition(S.AWAITING_FEEDBACK, E.REP_CLAIM, "always", S.WITH_REP, "claim"),
    # rated: an optional comment, then the conversation closes; the problem back, or another issue, is no comment
    _hours_row(S.FEEDBACK_COMMENT),
    Transition(S.FEEDBACK_COMMENT, E.HANDOFF, "reopen", S.HUMAN_QUEUE, "reopen_to_person"),
    Transition(S.FEEDBACK_COMMENT, E.HANDOFF, "always", S.HUMAN_QUEUE, "enter_queue"),
    Transition(S.FEEDBACK_COMMENT, E.MESSAGE, "reopen", S.TICKET_OPEN, "reopen"),
    Transition(S.FEEDBACK_COMMENT, E.STATUS, "status_of_ticket", S.FEEDBACK_COMMENT, "tell_status"),
    *_new_issue_rows(S.FEEDBACK_COMMENT, "said_new_issue"),
    Transition(S.FEEDBACK_COMMENT, E.THANKS, "pure", S.CLOSED, "comment"),
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


def _takes(row: Transition, event: Event, acts: Acts) -> bool:
    """A row takes its own kind of event; an act row also takes a client message that performs the act."""
    if row.event is event.kind:
        return True
    return event.kind is EventKind.MESSAGE and row.event in ACT_EVENTS and row.event.value in acts.found


def step(snapshot: Snapshot, event: Event, deps: Deps) -> Outcome:
    """Apply one event: the first row whose source, event (or act) and guard match decides.

    A question about the hours beside more ("几点下班？我们的发票还没开"), where the table answers the hours, is
    answered first; the rest of the message then goes through the table as if it had come alone. So is a clause
    that asks how long the agency takes beside others that tell something ("退款，要多久？" asked for the outcome
    wanted: the targets are told, and "退款" is the answer). Likewise venting beside more ("垃圾公司！！海报印错了"),
    where the table hears venting: a calm word first, then the rest.
    """
    if event.kind is EventKind.MESSAGE and event.acts is None:
        event = replace(event, acts=recognize(event.text, snapshot, deps))
    acts = event.acts or NO_ACTS
    if (
        Act.VENT in acts
        and accepts(snapshot.state, E.VENT)
        and not only_venting(event, deps)
        and (calmer := without_venting(event.text, deps)) is not None
    ):
        # "好的，废物", "项目就是双十一那个，你们搞什么鬼": the venting is acknowledged calmly, and the rest goes on as
        # if it had come alone, so no insult becomes a detail and a yes beside one is still a yes.
        outcome = step(snapshot, replace(event, text=calmer, acts=None, said=event.said or event.text), deps)
        return _said_first(outcome, Say("chat.calm"))
    if Act.HOURS in acts and accepts(snapshot.state, E.HOURS) and not GUARDS["only_hours"](snapshot, event, deps):
        rest = deps.lexicon.without(event.text, Act.HOURS)
        said = None if event.said is None else deps.lexicon.without(event.said, Act.HOURS)
        rest_event = replace(event, text=rest, said=said)
        return _answered_beside(snapshot, rest_event, deps, hours_answer(deps, snapshot.language))
    if (
        Act.TIMING in acts
        and snapshot.promise is not None
        and accepts(snapshot.state, E.TIMING)
        and (told := deps.lexicon.without_timing(event.text)) is not None
    ):
        answer = timing_answer(snapshot.promise, snapshot.category, deps, snapshot.language)
        return _answered_beside(snapshot, replace(event, text=told), deps, answer)
    return _step(snapshot, event, deps)


def _answered_beside(snapshot: Snapshot, rest: Event, deps: Deps, answer: Say) -> Outcome:
    """The rest of a message through the table, with the answer to the question asked beside it said first."""
    return _said_first(_step(snapshot, replace(rest, acts=recognize(rest.text, snapshot, deps)), deps), answer)


def _said_first(outcome: Outcome, said: Say) -> Outcome:
    """The outcome with `said` before anything else it says, after the bot's hello if it begins the conversation."""
    effects = list(outcome.effects)
    at = next((i for i, e in enumerate(effects) if not (isinstance(e, Say) and e.key == _HELLO)), len(effects))
    effects.insert(at, said)
    return replace(outcome, effects=tuple(effects))


def _step(snapshot: Snapshot, event: Event, deps: Deps) -> Outcome:
    acts = event.acts or NO_ACTS
    for row in TRANSITIONS:
        if row.source is snapshot.state and _takes(row, event, acts) and GUARDS[row.guard](snapshot, event, deps):
            draft = Draft(
                state=row.target,
                category=snapshot.category,
                slots=dict(snapshot.slots),
                context=dict(snapshot.context),
                effects=[],
                lang=snapshot.language,
            )
            ACTIONS[row.action](draft, snapshot, event, deps)
            if Act.CALL_BACK in acts and draft.state in DRAFT_STATES:
                # "方便的话回个电话" with the number to call is no request for a person (see reading.recognize):
                # whatever the row made of the message, the issue's ticket keeps the wish to be called.
                draft.context[CALL_BACK] = True
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
