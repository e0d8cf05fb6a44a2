"""The dialogue table's actions by name: each names a function of intake, handover or feedback."""

from __future__ import annotations

from collections.abc import Callable

from core.dialogue import feedback, handover, hours, intake
from core.dialogue.guards import GUARDS, Guard
from core.dialogue.model import Deps, Draft, Event, Snapshot
from core.dialogue.reading import recognize, split_issues

Action = Callable[[Draft, Snapshot, Event, Deps], None]

__all__ = ["ACTIONS", "GUARDS", "Action", "Guard", "recognize", "split_issues"]

# The name a row of the table gives (`Transition(..., "fill")`) and the function it runs.
ACTIONS: dict[str, Action] = {
    # intake
    "greet": intake.act_greet,
    "greet_again": intake.act_greet_again,
    "say_bye": intake.act_say_bye,
    "say_ok": intake.act_say_ok,
    "explain_bot": intake.act_explain_bot,
    "ask_category": intake.act_ask_category,
    "start_classified": intake.act_start_classified,
    "start_guessed": intake.act_start_guessed,
    "start_claimed": intake.act_start_claimed,
    "start_picked": intake.act_start_picked,
    "switch_category": intake.act_switch_category,
    "move_to_described": intake.act_move_to_described,
    "fill": intake.act_fill,
    "reask": intake.act_reask,
    "apply_edit": intake.act_apply_edit,
    "contact_by_channel": intake.act_contact_by_channel,
    "side_question": intake.act_side_question,
    "tell_timing": intake.act_tell_timing,
    "continue_issue": intake.act_continue_issue,
    "hold_on": intake.act_hold_on,
    "calm_down": intake.act_calm_down,
    "ask_what_to_change": intake.act_ask_what_to_change,
    "change_or_submit": intake.act_change_or_submit,
    "add_to_issue_text": intake.act_add_to_issue_text,
    "confirm_edit": intake.act_confirm_edit,
    "edit_slot": intake.act_edit_slot,
    "ask_edited_slot": intake.act_ask_edited_slot,
    "resummarize": intake.act_resummarize,
    "cancel": intake.act_cancel,
    "open_ticket": intake.act_open_ticket,
    "start_new_issue": intake.act_start_new_issue,
    "remind": intake.act_remind,
    "abandon": intake.act_abandon,
    "nothing": intake.act_nothing,
    # handover
    "tell_status": handover.act_tell_status,
    "look_for_ticket": handover.act_look_for_ticket,
    "reclassify": handover.act_reclassify,
    "enter_queue": handover.act_enter_queue,
    "hand_over_calmly": handover.act_hand_over_calmly,
    "append": handover.act_append,
    "thanks_noted": handover.act_thanks_noted,
    "acknowledge": handover.act_acknowledge,
    "await_new_issue": handover.act_await_new_issue,
    "append_silently": handover.act_append_silently,
    "queue_wait": handover.act_queue_wait,
    "claim": handover.act_claim,
    "release": handover.act_release,
    "requeue": handover.act_requeue,
    "resolve": handover.act_resolve,
    # office hours
    "tell_hours": hours.act_tell_hours,
    # feedback
    "ask_feedback": feedback.act_ask_feedback,
    "ask_feedback_now": feedback.act_ask_feedback_now,
    "decline_feedback": feedback.act_decline_feedback,
    "reopen_to_person": feedback.act_reopen_to_person,
    "remind_feedback": feedback.act_remind_feedback,
    "reask_feedback": feedback.act_reask_feedback,
    "feedback": feedback.act_feedback,
    "comment": feedback.act_comment,
    "feedback_low": feedback.act_feedback_low,
    "feedback_timeout": feedback.act_feedback_timeout,
    "reopen": feedback.act_reopen,
    # After the resolution a message is a note on the ticket, as while it is open.
    "note_after_resolve": handover.act_append,
}
