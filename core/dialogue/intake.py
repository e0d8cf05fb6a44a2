"""Actions that take an issue in: greeting, classifying, filling and confirming the form, opening the ticket."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from core.dialogue.classifier import has_words
from core.dialogue.forms import SlotSpec
from core.dialogue.guards import new_issue_category
from core.dialogue.model import (
    CATEGORY_ASKS,
    DRAFT_STATES,
    EDIT_PREFIX,
    TOLD_TURN,
    Classified,
    Deps,
    Draft,
    Event,
    EventKind,
    LeaveTicket,
    OpenTicket,
    Promise,
    Say,
    Snapshot,
    State,
    TicketNote,
)
from core.dialogue.reading import (
    CHOOSING_CHANGE,
    DESCRIBED,
    FREE_TEXT,
    MORE_OF_ISSUE,
    NO_CONTACT,
    NO_TIME,
    OTHER_KIND_ASKED,
    SETTLED,
    VENTED,
    WHAT_TO_CHANGE,
    Misplaced,
    acts_of,
    answer_text,
    asking,
    classify,
    continued_issue,
    described_category,
    described_slots,
    extract_slots,
    first_text_after_pick,
    given_over,
    issue_text,
    issue_text_slot,
    misplaced_answer,
    only_venting,
    phrases,
    picked_category,
    prefilled,
    read_slot,
    split_issues,
    switched_slots,
    ticket_classification,
    ticket_details,
    told_so_far,
    told_with_answer,
    vented_before,
)
from core.dialogue.replies import (
    ask_next,
    category_buttons,
    confirm_buttons,
    edit_buttons,
    keep,
    prompt_for,
    reask,
    reprompt,
    schedule_idle,
    show_summary,
    slot_label,
)
from core.messages import Button


def _hello_if_first(draft: Draft, snapshot: Snapshot) -> None:
    """An issue told in the client's first message gets the welcome first, and keeps what came with it."""
    if snapshot.state in {State.NEW, State.CLOSED}:
        keep(draft, "evidence")
        draft.effects.append(Say("greeting.hello"))


def _second_issue(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """Keep a second issue of the message for when the first one's ticket is filed, and say so."""
    rest = split_issues(told_so_far(snapshot, event), deps)[1]
    if rest is None:
        draft.context.pop("next_issue", None)
        return
    draft.context["next_issue"] = rest
    draft.say("classify.two_issues")


def _record_classified(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """The classifier decided this client message (to act, to ask, or to greet): say so to the engine, and keep it
    in the context for the ticket that the issue may end in."""
    if event.kind is not EventKind.MESSAGE or not event.text.strip():
        return
    verdict = classify(snapshot, event, deps)
    effect = Classified(
        verdict.category, verdict.confidence, verdict.confident, tuple(phrases(verdict)), deps.classifier.version
    )
    draft.effects.append(effect)
    # The client named a category ("我要咨询…") or a forced rule decided it: his later words do not move the issue.
    named = deps.lexicon.named_categories(issue_text(snapshot, event, deps))
    settled = {SETTLED: True} if verdict.forced or named else {}
    draft.context["classified"] = {**effect.record(), "picked": False, **settled}


def _note_told(draft: Draft, deps: Deps, before: Any) -> None:
    """Remember the turn at which the issue was told in the client's words (for more of it sent right after)."""
    spec = issue_text_slot(draft.category, deps) if draft.category else None
    if spec is not None and draft.slots.get(spec.name) and draft.slots.get(spec.name) != before:
        draft.context[TOLD_TURN] = draft.context.get("turn")


def _start_form(
    draft: Draft, snapshot: Snapshot, category: str, first_text: str, deps: Deps, *, key: str = "classify.picked"
) -> None:
    """Begin collecting a category's details, prefilling what the client has already told."""
    draft.category = category
    draft.slots = prefilled(snapshot, category, first_text, deps)
    _note_told(draft, deps, None)
    draft.context.pop("asking", None)
    draft.say(key, category=deps.texts.get(f"category.{category}", draft.lang))
    ask_next(draft, deps)
    schedule_idle(draft, deps)


def act_greet(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.category, draft.slots = None, {}
    keep(draft, "evidence")
    if not acts_of(event).pure and not only_venting(event, deps):
        # A greeting alone, a message without words ("[图片]") or venting says nothing of the issue: the next
        # message is classified afresh.
        if has_words(event.text):
            draft.context["first_text"] = event.text
            draft.context["issue_text"] = event.text
        _record_classified(draft, snapshot, event, deps)
    # The welcome offers the categories: it counts as asking for one.
    draft.context[CATEGORY_ASKS] = 1
    # "您好，我是星辰传媒的李经理": greeted back by the name he gave.
    introduced = deps.lexicon.introduction(event.text) if event.kind is EventKind.MESSAGE else None
    if introduced is not None and introduced.name:
        draft.say("greeting.welcome_named", category_buttons(deps, draft.lang), name=introduced.name)
    elif introduced is None and len(draft.context.get("issue_text", "").strip()) >= deps.settings.prefill_min_chars:
        # "二维码扫不出来" told, with no word the rules know: "describe your issue" would ask for what was just
        # said, so only the category is asked.
        draft.effects.append(Say("greeting.hello"))
        draft.say("classify.ask", category_buttons(deps, draft.lang))
    else:
        draft.say("greeting.welcome", category_buttons(deps, draft.lang))
    schedule_idle(draft, deps)


def act_greet_again(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.say("greeting.again", category_buttons(deps, draft.lang))
    schedule_idle(draft, deps)


def act_say_bye(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """Thanks or a goodbye with no issue open: a short reply, no form, no reminder."""
    draft.category, draft.slots = None, {}
    keep(draft)
    draft.say("chat.bye")


def act_say_ok(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """A yes ("好的") after the matter ended (cancelled, rated, closed): acknowledged, no form, no reminder."""
    draft.category, draft.slots = None, {}
    keep(draft)
    draft.say("chat.ok")


def act_explain_bot(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.effects.append(Say("chat.bot_identity"))
    if snapshot.state in {State.NEW, State.CLOSED}:
        keep(draft, "evidence")
        draft.say("greeting.again", category_buttons(deps, draft.lang))
        schedule_idle(draft, deps)
        return
    reprompt(draft, deps)


def act_ask_category(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    if has_words(event.text):
        draft.context.setdefault("first_text", event.text)
        draft.context["issue_text"] = told_so_far(snapshot, event)
    _record_classified(draft, snapshot, event, deps)
    draft.context[CATEGORY_ASKS] = int(snapshot.context.get(CATEGORY_ASKS, 0)) + 1
    key = "classify.ask" if snapshot.state is State.CLASSIFYING or event.text else "greeting.welcome"
    draft.say(key, category_buttons(deps, draft.lang))
    schedule_idle(draft, deps)


def act_start_classified(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    text = issue_text(snapshot, event, deps)
    _hello_if_first(draft, snapshot)
    _record_classified(draft, snapshot, event, deps)
    _second_issue(draft, snapshot, event, deps)
    draft.context["first_text"] = text
    draft.context.pop("issue_text", None)
    _start_form(draft, snapshot, classify(snapshot, event, deps).category, text, deps)


def act_start_guessed(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """Asked for the category in vain: the issue goes under the words' best reading, which the client may change."""
    text = issue_text(snapshot, event, deps)
    _record_classified(draft, snapshot, event, deps)
    draft.context["first_text"] = text
    draft.context.pop("issue_text", None)
    draft.context.pop(CATEGORY_ASKS, None)
    _start_form(draft, snapshot, classify(snapshot, event, deps).category, text, deps, key="classify.guessed")


def act_start_claimed(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """The client named the category ("我要投诉"): his word decides, and what he said so far is the description."""
    claim = acts_of(event).claim
    assert claim is not None
    text = issue_text(snapshot, event, deps)
    _hello_if_first(draft, snapshot)
    _record_classified(draft, snapshot, event, deps)
    _second_issue(draft, snapshot, event, deps)
    known = dict(draft.context.get("classified") or {"matched": [], "confident": False})
    known.setdefault("version", deps.classifier.version)
    draft.context["classified"] = {**known, "category": claim, "picked": True}
    draft.context["first_text"] = text
    draft.context.pop("issue_text", None)
    _start_form(draft, snapshot, claim, text, deps)


def act_start_picked(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    if snapshot.state in {State.NEW, State.CLOSED}:
        keep(draft, "evidence")
    category = picked_category(event)
    # The keywords' verdict on the first message (if any) stays on record beside the client's own choice.
    known = dict(draft.context.get("classified") or {"matched": [], "confident": False})
    known.setdefault("version", deps.classifier.version)
    draft.context["classified"] = {**known, "category": category, "picked": True}
    first_text = first_text_after_pick(snapshot)
    if first_text:
        draft.context["first_text"] = first_text
    draft.context.pop("issue_text", None)
    _start_form(draft, snapshot, category, first_text, deps)


def _move_issue(draft: Draft, deps: Deps, category: str, slots: dict[str, Any], key: str) -> None:
    """The issue goes on in another category's form with these details; the client is told so in one line."""
    assert draft.category is not None
    told = draft.slots.get(issue.name) if (issue := issue_text_slot(draft.category, deps)) else None
    draft.category = category
    draft.slots = slots
    _note_told(draft, deps, told)
    draft.context.pop("asking", None)
    # A summary shown was of the other category's form: this one is shown whole when it is complete, and its
    # answers are not "updated" ones.
    draft.context.pop("summary_shown", None)
    draft.say(key, category=deps.texts.get(f"category.{category}", draft.lang))
    ask_next(draft, deps)
    schedule_idle(draft, deps)


def act_switch_category(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """The client objects ("我是投诉！不是咨询！"): the claimed category's form, keeping the details it shares."""
    claim = acts_of(event).claim
    assert claim is not None
    classified = dict(draft.context.get("classified") or {"matched": [], "confident": False})
    draft.context["classified"] = {**classified, "category": claim, "picked": True}
    _move_issue(draft, deps, claim, switched_slots(snapshot, event, claim, deps), "classify.switched")


def act_move_to_described(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """The first description of an issue the bot filed on its own is surely of another category ("[图片]" taken
    for other, then "海报上的电话印错了"): that category's form, the description its answer, shared details kept."""
    category = described_category(snapshot, event, deps)
    assert category is not None
    slots = described_slots(snapshot, event, category, deps)
    _record_classified(draft, snapshot, event, deps)
    draft.context["classified"] = {**draft.context["classified"], DESCRIBED: True}
    _move_issue(draft, deps, category, slots, "classify.described")


def _fill_from_message(
    draft: Draft, snapshot: Snapshot, event: Event, deps: Deps, *, project: str | None = None
) -> None:
    """Store every detail the message carries that is still missing (never overwriting an answer). A date that
    qualifies the project just named is part of its name ("去年的年框"), not when the problem began."""
    assert draft.category is not None
    if event.kind is EventKind.MESSAGE:
        for name, value in extract_slots(draft.category, event.text, deps, draft.lang).items():
            said = value.split(" (")[0]
            if project and said and f"{said}的" in project and deps.forms.slot(draft.category, name).extract == "date":
                continue
            if given_over(snapshot, draft.category, name, draft.slots, deps):
                draft.slots[name] = value


def act_fill(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """Store the answer to the detail being asked and any other the message gives, or say why it was not taken."""
    assert draft.category is not None
    current = draft.context.get("asking")
    if current is None:
        _fill_from_message(draft, snapshot, event, deps)
        ask_next(draft, deps)
        return
    spec = deps.forms.slot(draft.category, current)
    if event.attachments and not event.text.strip():
        # A screenshot or voice note is evidence for the ticket (the engine keeps it), not an answer.
        draft.say("form.evidence_received")
        ask_next(draft, deps)
        return
    misplaced = misplaced_answer(snapshot, event, deps)
    if misplaced is not None:
        _place_elsewhere(draft, event, deps, spec, misplaced)
        return
    answer = answer_text(event, spec, draft.category, deps, draft.lang)
    checked = read_slot(spec, answer, deps, answered=True)
    if checked.error:
        _fill_from_message(draft, snapshot, event, deps)
        reask(draft, deps, spec, checked.error)
        return
    told = snapshot.slots.get(issue.name) if (issue := issue_text_slot(draft.category, deps)) else None
    draft.slots[current] = checked.value
    draft.context.pop(OTHER_KIND_ASKED, None)
    project = str(checked.value or "") if spec.extract == "project" else None
    _fill_from_message(draft, snapshot, event, deps, project=project)
    if current not in FREE_TEXT:
        draft.slots.update(told_with_answer(draft.category, spec, event.text, draft.slots, deps, draft.lang))
    _note_told(draft, deps, told)
    draft.context.pop("asking", None)
    if draft.context.get("summary_shown") and checked.value:
        # A detail changed after the summary was shown: say what it is now, above the short question.
        label = slot_label(draft, deps, current)
        draft.effects.append(Say("confirm.changed", {"changes": f"{label}: {checked.value}"}))
    ask_next(draft, deps)
    schedule_idle(draft, deps)


def _place_elsewhere(draft: Draft, event: Event, deps: Deps, spec: SlotSpec, misplaced: Misplaced) -> None:
    """An answer that is another detail's value: stored there and the detail asked again, or asked once more."""
    if misplaced.kind == MORE_OF_ISSUE and misplaced.slot is not None:
        # The whole description would repeat what the client just said: only where it went.
        draft.slots[misplaced.slot] = misplaced.value
        if misplaced.leaves_out:
            draft.slots[spec.name] = None
            draft.context.pop(OTHER_KIND_ASKED, None)
        draft.say("form.added_to", label=slot_label(draft, deps, misplaced.slot))
        ask_next(draft, deps)
    elif misplaced.slot is not None:
        draft.slots[misplaced.slot] = misplaced.value
        say_changed(draft, deps, [misplaced.slot], key="form.noted")
        ask_next(draft, deps)
    else:
        draft.context[OTHER_KIND_ASKED] = spec.name
        label = slot_label(draft, deps, spec.name)
        if misplaced.kind == NO_TIME:
            # Not quoted: what says nothing of when may be anything, an insult too.
            draft.effects.append(Say("form.not_a_time", {"label": label}))
        elif misplaced.kind == NO_CONTACT:
            draft.effects.append(Say("form.not_a_contact", {"answer": event.text.strip(), "label": label}))
        else:
            kind = deps.texts.get(f"form.kinds.{misplaced.kind}", draft.lang)
            draft.effects.append(Say("form.other_kind", {"answer": event.text.strip(), "kind": kind, "label": label}))
        reprompt(draft, deps)
    schedule_idle(draft, deps)


def act_reask(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    spec = asking(snapshot, deps)
    assert spec is not None
    reask(draft, deps, spec, "form.not_an_answer", with_prompt=True)


def act_apply_edit(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """A correction ("电话写错了，应该是139…") changes that detail at once; then on where the client was."""
    assert draft.category is not None
    acts = acts_of(event)
    changed: list[str] = []
    if acts.edit is not None:
        name, value = acts.edit
        spec = deps.forms.slot(draft.category, name)
        checked = read_slot(spec, value, deps, answered=True)
        if checked.error is not None:
            draft.context["asking"] = name
            reask(draft, deps, spec, checked.error)
            return
        draft.slots[name] = checked.value
        changed.append(name)
    for name, value in extract_slots(draft.category, event.text, deps, draft.lang, guesses=False).items():
        replaceable = snapshot.state is State.CONFIRMING or given_over(
            snapshot, draft.category, name, draft.slots, deps
        )
        if name not in changed and replaceable and draft.slots.get(name) != value:
            draft.slots[name] = value
            changed.append(name)
    # While the form is filled, a detail that held nothing is noted ("已记下 联系电话: 139…"); at the summary, and
    # for one that held another value, the detail is updated.
    noted = [n for n in changed if snapshot.state is State.COLLECTING and not snapshot.slots.get(n)]
    say_changed(draft, deps, [n for n in changed if n not in noted])
    say_changed(draft, deps, noted, key="form.noted")
    if draft.context.get("asking") in changed:
        draft.context.pop("asking", None)
    ask_next(draft, deps)
    schedule_idle(draft, deps)


def say_changed(draft: Draft, deps: Deps, names: list[str], *, key: str = "confirm.changed") -> None:
    """Tell the client which details now read what ("已更新 联系电话: 139…"), those that hold a value."""
    lines = [f"{slot_label(draft, deps, n)}: {draft.slots[n]}" for n in names if draft.slots.get(n)]
    if lines:
        draft.effects.append(Say(key, {"changes": "；".join(lines)}))


def act_contact_by_channel(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """The client declines to give a number ("微信上联系我就行"): his own channel is the contact."""
    spec = asking(snapshot, deps)
    assert spec is not None
    key = f"console.channel.{snapshot.channel}"
    channel = deps.texts.get(key, draft.lang) if deps.texts.has(key) else snapshot.channel
    draft.slots[spec.name] = deps.texts.get("form.contact_by_channel", draft.lang, channel=channel)
    draft.context.pop("asking", None)
    ask_next(draft, deps)
    schedule_idle(draft, deps)


def act_side_question(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """A question aside is filed with the issue for the rep to answer; then back to where the client was."""
    side = list(draft.context.get("side_questions") or [])
    side.append(event.text)
    draft.context["side_questions"] = side
    draft.effects.append(Say("form.side_noted"))
    reprompt(draft, deps)
    schedule_idle(draft, deps)


def act_tell_timing(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """How long the agency takes, from the targets the issue would get (before any issue is told, the quickest
    of any); then the same question again, nothing stored (the question is no answer to it)."""
    assert snapshot.promise is not None
    targets = timing_answer(snapshot.promise, draft.category, deps, draft.lang)
    if draft.category is None:
        draft.effects.append(targets)
    else:
        draft.say("form.timing", targets=deps.texts.get(targets.key, draft.lang, **targets.params))
    if snapshot.state in DRAFT_STATES:
        reprompt(draft, deps)
        schedule_idle(draft, deps)
    else:
        draft.effects.append(Say("hours.anything_else"))


def timing_answer(promise: Promise, category: str | None, deps: Deps, lang: str) -> Say:
    """The targets an issue of `category` would get ("提交后，投诉类问题我们承诺在 2 小时内（工作时间）首次回复…"), or
    with no issue told yet the quickest ones, which depend on what it is."""
    durations = {"first_response": promise.first_response, "resolution": promise.resolution}
    if category is None:
        return Say("form.timing_general", durations)
    return Say("form.timing_targets", {"category": deps.texts.get(f"category.{category}", lang), **durations})


def act_continue_issue(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """More of the issue's telling joins its text; the issue moves where the whole telling reads, if the bot chose
    its category; then back to the question asked, or the summary with the text as it is now."""
    more = continued_issue(snapshot, event, deps)
    assert more is not None and draft.category is not None
    draft.context[TOLD_TURN] = draft.context.get("turn")
    if more.moved:
        _record_classified(draft, snapshot, event, deps)
        known = {**draft.context["classified"], "category": more.category, DESCRIBED: True}
        draft.context["classified"] = known
        _move_issue(draft, deps, more.category, more.slots, "classify.described")
        return
    changed = [name for name, value in more.slots.items() if draft.slots.get(name) != value]
    draft.slots = more.slots
    if draft.context.get("summary_shown"):
        say_changed(draft, deps, changed)
    elif more.prompted and (issue := issue_text_slot(draft.category, deps)) is not None:
        # Told in answer to the question asked: the client hears where his words went before it is asked again.
        draft.effects.append(Say("form.added", {"label": slot_label(draft, deps, issue.name)}))
    ask_next(draft, deps)
    schedule_idle(draft, deps)


def act_calm_down(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """Venting and nothing else: a calm word, a person offered if it goes on, and the question again. Nothing is
    taken as an answer, a yes or a change, and the detail asked counts no re-ask."""
    vented = vented_before(snapshot) + 1
    draft.effects.append(Say("chat.calm"))
    offer_after = deps.settings.vent_offer_person_after
    if offer_after and vented >= offer_after:
        draft.effects.append(Say("chat.calm_offer_person"))
    if snapshot.state in {State.NEW, State.CLOSED}:
        # Nothing open to ask again: the welcome, as to a greeting (the venting is no first description).
        act_greet(draft, snapshot, event, deps)
    elif snapshot.state in DRAFT_STATES:
        reprompt(draft, deps)
        schedule_idle(draft, deps)
    else:
        # A ticket is open: nothing to ask, but the rep sees how the client feels (it adds nothing to the issue).
        draft.effects.append(TicketNote("client_message", {"text": event.text}))
    draft.context[VENTED] = vented


def act_hold_on(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """The client went to look the answer up, or to check the summary: no answer taken, no question repeated, the
    form waits for it."""
    draft.effects.append(Say("confirm.hold" if snapshot.state is State.CONFIRMING else "form.hold"))
    schedule_idle(draft, deps)


def act_ask_what_to_change(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.say("confirm.what_to_change", edit_buttons(draft, deps))
    # The next message answers this question (see guards: answers_what_to_change).
    draft.context[WHAT_TO_CHANGE] = int(draft.context.get("turn", 0))
    schedule_idle(draft, deps)


def act_add_to_issue_text(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """Asked what to change, the client says something no detail of the form reads ("it started on Monday"): it
    goes into the issue's own text rather than being dropped, and the summary says so."""
    assert draft.category is not None
    spec = issue_text_slot(draft.category, deps)
    assert spec is not None
    before = str(draft.slots.get(spec.name) or "").strip()
    draft.slots[spec.name] = f"{before}；{event.text.strip()}" if before else event.text.strip()
    draft.context.pop(WHAT_TO_CHANGE, None)
    say_changed(draft, deps, [spec.name])
    ask_next(draft, deps)
    schedule_idle(draft, deps)


def act_confirm_edit(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.say("confirm.which", edit_buttons(draft, deps))
    draft.context[CHOOSING_CHANGE] = int(draft.context.get("turn", 0))


def act_change_or_submit(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """A yes right after the client asked to change something: submitting would go against that, so the choice is
    put to the client once more; a second yes submits."""
    draft.say("confirm.change_or_submit", edit_buttons(draft, deps))
    schedule_idle(draft, deps)


def act_edit_slot(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    assert draft.category is not None
    name = (event.button or "")[len(EDIT_PREFIX) :]
    spec = deps.forms.slot(draft.category, name)
    draft.slots.pop(name, None)
    # Later slots keep their answers: only the corrected one is asked again.
    draft.context["asking"] = name
    prompt, hint, buttons = prompt_for(draft, spec, deps)
    draft.say("form.ask", buttons, prompt=prompt, hint=hint)


def act_ask_edited_slot(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """The client says which detail is wrong but not what it should be: ask for that one again."""
    assert draft.category is not None
    edit = acts_of(event).edit
    assert edit is not None
    spec = deps.forms.slot(draft.category, edit[0])
    draft.slots.pop(spec.name, None)
    draft.context["asking"] = spec.name
    prompt, hint, buttons = prompt_for(draft, spec, deps)
    draft.say("form.ask", buttons, prompt=prompt, hint=hint)
    schedule_idle(draft, deps)


def act_resummarize(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """Something the confirmation cannot use: ask again briefly, or show the summary when asked for it."""
    if event.kind is EventKind.BUTTON or not draft.context.get("summary_shown"):
        draft.effects.append(Say("confirm.use_buttons"))
        show_summary(draft, deps)
    else:
        draft.say("confirm.brief", confirm_buttons(draft, deps))
    schedule_idle(draft, deps)


def act_cancel(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.category, draft.slots = None, {}
    keep(draft)
    draft.say("confirm.cancelled")


def act_open_ticket(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    assert draft.category is not None
    classification = ticket_classification(draft, deps, draft.category)
    draft.effects.append(
        OpenTicket(draft.category, ticket_details(draft, deps, draft.category), classification=classification)
    )
    # A second issue of the first message is filed next (the engine feeds it in once this ticket is open).
    keep(draft, "next_issue")
    draft.say("ticket.opened")


def act_start_new_issue(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """Another issue while a ticket is open: that ticket stays with the desk, this one gets its own form."""
    draft.say("ticket.new_issue")
    draft.effects.append(LeaveTicket())
    draft.category, draft.slots = None, {}
    keep(draft)
    # Classified as a first message: no earlier fragment of the filed issue counts towards it.
    fresh = replace(snapshot, state=State.CLOSED, context={}, slots={})
    _record_classified(draft, fresh, event, deps)
    category = new_issue_category(snapshot, event, deps)
    draft.context["first_text"] = event.text
    if category is None:
        draft.context["issue_text"] = event.text
        draft.say("classify.ask", category_buttons(deps, draft.lang))
        schedule_idle(draft, deps)
        return
    if acts_of(event).claim is not None:
        known = dict(draft.context.get("classified") or {"matched": [], "confident": False})
        draft.context["classified"] = {**known, "category": category, "picked": True}
    _start_form(draft, fresh, category, event.text, deps)


def act_remind(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    pending = tuple(Button.from_json(b) for b in draft.context.get("pending", []))
    draft.effects.append(Say("idle.reminder"))
    draft.context["pending"] = [b.to_json() for b in pending]


def act_abandon(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.category, draft.slots = None, {}
    keep(draft)
    draft.say("idle.abandoned")


def act_nothing(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """A stale timer or a no-op: state stays, nothing is said."""
