"""Guards and actions of the dialogue machine: the named pieces its transition table refers to."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from core.dialogue.acts import NO_ACTS, Act, Acts
from core.dialogue.classifier import Classification, normalize
from core.dialogue.entities import DateMention, Entities, extract, find_phones
from core.dialogue.fields import edit_request
from core.dialogue.forms import CATEGORIES, SlotSpec, Validated, validate
from core.dialogue.model import (
    ASKING_STATES,
    CANCEL,
    CATEGORY_PREFIX,
    CHOICE_PREFIX,
    CONFIRM,
    DRAFT_STATES,
    EDIT,
    EDIT_PREFIX,
    RATE_PREFIX,
    Classified,
    Deps,
    Draft,
    Event,
    EventKind,
    LeaveTicket,
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

Guard = Callable[[Snapshot, Event, Deps], bool]
Action = Callable[[Draft, Snapshot, Event, Deps], None]

# ---------------------------------------------------------------- guards


def recognize(text: str, snapshot: Snapshot, deps: Deps) -> Acts:
    """The acts of a client message, with a correction ("电话改成…") resolved to one of the form's details."""
    acts = deps.lexicon.recognize(text)
    category = snapshot.category
    if category is None:
        return acts
    found = edit_request(text)
    if found is None:
        return acts
    slot = _slot_for_field(category, found[0], deps)
    if slot is None:
        return acts
    # "the project name is wrong", "项目名写错了": which detail is wrong, without its new value.
    value = "" if normalize(found[1]).strip(" .!。！") in _NOT_A_VALUE else found[1]
    return replace(acts, found=acts.found | {Act.EDIT}, edit=(slot, value))


_NOT_A_VALUE = frozenset({"wrong", "incorrect", "not right", "错了", "错的", "不对", "有误", "写错了", "不正确"})


def _slot_for_field(category: str, field: str, deps: Deps) -> str | None:
    """The form's detail a field word names: "电话" is the complaint's phone and the suggestion's contact."""
    names = [s.name for s in deps.forms.slots(category)]
    if field in names:
        return field
    if field in {"phone", "email"} and "contact" in names:
        return "contact"
    if field == "contact" and "phone" in names:
        return "phone"
    return None


def _acts(event: Event) -> Acts:
    return event.acts or NO_ACTS


def _told(snapshot: Snapshot, event: Event) -> str:
    """What the client has said so far: fragments sent one after another while asked count together."""
    earlier = str(snapshot.context.get("issue_text") or "") if snapshot.state in ASKING_STATES else ""
    return f"{earlier} {event.text}".strip() if earlier else event.text


# Words before a break that make an issue of their own ("数据不对" yes, "你好" no).
_ISSUE_MIN_CHARS = 4
# Issues counted out ("1.账单多扣了 2.合同怎么签", "一是…二是…", "第一…第二…"): each number after the first
# begins another issue.
_COUNT_FIRST = re.compile(r"(?:^|(?<=[\s，。；;,:：!！?？]))(?:1\s*[.、)）](?!\d)|①|一是|一、|第一|首先)")
_COUNT_NEXT = re.compile(
    r"(?:^|(?<=[\s，。；;,:：!！?？]))(?:[2-9]\s*[.、)）](?!\d)|[②③④⑤]|[二三四]是|[二三四]、|第[二三四]|其次|再次)"
)


def _counted_breaks(norm: str) -> list[int]:
    first = _COUNT_FIRST.search(norm)
    return [m.start() for m in _COUNT_NEXT.finditer(norm, first.end())] if first else []


def split_issues(text: str, deps: Deps) -> tuple[str, str | None]:
    """Two issues in one message ("投放数据一直不对，另外发票什么时候能开？"): the first one's words, and the rest.

    A break ("另外", "还有个事", "also") splits only after words of an issue, and only when what follows is
    said to be another issue ("还有个事…") or is surely of another category; "对了" inside one account does not.
    """
    norm = normalize(text)
    # Normalizing keeps positions when it keeps the length (full-width to half-width, lower case).
    source = text if len(norm) == len(text) else norm
    counted = _counted_breaks(norm)
    for start in sorted({*deps.lexicon.issue_breaks(norm), *counted}):
        first, rest = source[:start].rstrip(" ,，.。;；、!！"), source[start:]
        if len(normalize(first).strip()) < _ISSUE_MIN_CHARS:
            continue
        before, after = deps.classifier.classify(first), deps.classifier.classify(rest)
        acts = deps.lexicon.recognize(rest)
        if start in counted and (after.matched or Act.QUESTION in acts):
            # Counted out by the client: two issues whatever their categories.
            return first, rest
        if not before.matched:
            continue
        another = after.confident and after.category != before.category
        if (Act.NEW_ISSUE in acts and after.matched) or another or (acts.claim and acts.claim != before.category):
            return first, rest
    return text, None


def _issue_text(snapshot: Snapshot, event: Event, deps: Deps) -> str:
    """The words of the issue being started: all told so far, up to where a second issue begins."""
    return split_issues(_told(snapshot, event), deps)[0]


def _second_issue(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """Keep a second issue of the message for when the first one's ticket is filed, and say so."""
    rest = split_issues(_told(snapshot, event), deps)[1]
    if rest is None:
        draft.context.pop("next_issue", None)
        return
    draft.context["next_issue"] = rest
    draft.say("classify.two_issues")


def _classify(snapshot: Snapshot, event: Event, deps: Deps) -> Classification:
    return deps.classifier.classify(_issue_text(snapshot, event, deps))


def _phrases(verdict: Classification) -> list[str]:
    """The matched rule phrases, each once, in the order they occur."""
    return list(dict.fromkeys(m.phrase for m in verdict.matched))


def _record_classified(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """The classifier decided this client message (to act, to ask, or to greet): say so to the engine, and keep it
    in the context for the ticket that the issue may end in."""
    if event.kind is not EventKind.MESSAGE or not event.text.strip():
        return
    verdict = _classify(snapshot, event, deps)
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


def _asking(snapshot: Snapshot, deps: Deps) -> SlotSpec | None:
    name = snapshot.context.get("asking")
    if snapshot.category is None or not name:
        return None
    return deps.forms.slot(snapshot.category, str(name))


def _filled_after(snapshot: Snapshot, event: Event, deps: Deps) -> dict[str, Any]:
    """The details once this message is read: the answer to the detail asked, and any other it carries."""
    assert snapshot.category is not None
    filled = dict(snapshot.slots)
    spec = _asking(snapshot, deps)
    if spec is not None and (event.text.strip() or event.kind is EventKind.BUTTON):
        answer = _answer_text(event, spec, snapshot.category, deps, snapshot.language)
        checked = _read_slot(spec, answer, deps, answered=True)
        if checked.error is None:
            filled[spec.name] = checked.value
            if spec.name not in _FREE_TEXT:
                filled.update(_free_text_answers(snapshot.category, event.text, filled, deps))
    if event.kind is EventKind.MESSAGE:
        for name, value in extract_slots(snapshot.category, event.text, deps).items():
            filled.setdefault(name, value)
    edit = _acts(event).edit
    if edit is not None and edit[1]:
        filled[edit[0]] = edit[1]
    return filled


def _completes_form(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    if snapshot.category is None:
        return False
    return deps.forms.next_missing(snapshot.category, _filled_after(snapshot, event, deps)) is None


def _claim_differs(snapshot: Snapshot, event: Event) -> bool:
    claim = _acts(event).claim
    current = snapshot.ticket.category if snapshot.ticket is not None else snapshot.category
    return claim is not None and claim != current


def _claim_completes(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    claim = _acts(event).claim
    if claim is None:
        return False
    return _prefills_all(claim, _issue_text(snapshot, event, deps), snapshot, deps)


def _asking_contact(snapshot: Snapshot, deps: Deps) -> bool:
    spec = _asking(snapshot, deps)
    return spec is not None and (spec.validator == "phone" or spec.extract == "contact")


# The details whose answer is free text: any question the client asks there is his answer.
_FREE_TEXT = frozenset({"description", "question", "proposal"})


def _side_question(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    """A question aside ("对了，发票能先开吗？") while a detail it does not answer is asked."""
    spec = _asking(snapshot, deps)
    if spec is None or spec.name in _FREE_TEXT:
        return False
    if _acts(event).found & {Act.SIDE_MARKER, Act.NEW_ISSUE}:
        return True
    assert snapshot.category is not None
    return spec.extract is not None and spec.name not in extract_slots(snapshot.category, event.text, deps)


def _not_an_answer(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    """A message like "嗯", "好的", "谢谢" while a detail is asked: an act, not the detail (skip words answer)."""
    acts = _acts(event)
    return acts.pure and Act.SKIP not in acts and not event.attachments and _asking(snapshot, deps) is not None


def _adds_details(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    """At the confirmation, a message that carries a detail the form has (a phone number, a date)."""
    if snapshot.category is None:
        return False
    found = extract_slots(snapshot.category, event.text, deps, guesses=False)
    return any(snapshot.slots.get(name) != value for name, value in found.items())


# Acts that keep a message about the ticket already open, whatever else it says.
_ABOUT_THE_TICKET = frozenset({Act.ADDITION, Act.STATUS, Act.HANDOFF, Act.CANCEL})
# Words by which a message points back at what was filed ("我那个工单", "刚才的事", "this ticket").
_REFERS_TO_TICKET = re.compile(
    r"工单|单子|我的问题|我那个|刚才|之前的|上次的|这件事|那件事|这个事|那个事|这事|那事|"
    r"kf-?\d|ticket|my issue|this issue"
)
# An unmarked message needs this much text to count as another issue: "太慢了" is about the ticket open.
_NEW_ISSUE_MIN_CHARS = 8


def _question_of_its_own(event: Event) -> bool:
    """A status question after a marker ("还有 下个月的排期表什么时候能给？") that points at nothing filed."""
    acts = _acts(event)
    return (
        acts.found & _ABOUT_THE_TICKET == {Act.STATUS}
        and bool(acts.found & {Act.SIDE_MARKER, Act.NEW_ISSUE})
        and not _REFERS_TO_TICKET.search(normalize(event.text))
    )


def _new_issue(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    """With a ticket open, a message that raises another issue rather than adding to that ticket.

    Said as such ("还有个事…"), in a thread of its own (a new mail, not a reply), after "另外"/"对了" with words
    of an issue, or unmarked but confidently of another category than the ticket's; never "补充一下…", a status
    question or thanks.
    """
    acts = _acts(event)
    about = acts.found & _ABOUT_THE_TICKET
    if _question_of_its_own(event):
        about = frozenset()
    if acts.pure or about:
        return False
    if Act.NEW_ISSUE in acts or event.data.get("new_thread"):
        return True
    verdict = deps.classifier.classify(event.text)
    if Act.SIDE_MARKER in acts:
        return bool(verdict.matched) or acts.claim is not None
    if verdict.matched and snapshot.category is not None and snapshot.slots.get("project"):
        # An issue with another project than the ticket's ("双十一的素材也被拒了" after one about 暑期档).
        named = extract_slots(snapshot.category, event.text, deps, guesses=False).get("project")
        if named and normalize(named) != normalize(str(snapshot.slots["project"])):
            return True
    return (
        Act.THANKS not in acts
        and acts.claim is None
        and verdict.confident
        and verdict.category != snapshot.category
        and len(normalize(event.text)) >= _NEW_ISSUE_MIN_CHARS
    )


def _new_issue_category(snapshot: Snapshot, event: Event, deps: Deps) -> str | None:
    """The other issue's category when the client named it or the keywords are sure of it."""
    claim = _acts(event).claim
    if claim is not None:
        return claim
    verdict = deps.classifier.classify(event.text)
    return verdict.category if verdict.confident else None


def _new_issue_known(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    return _new_issue(snapshot, event, deps) and _new_issue_category(snapshot, event, deps) is not None


def _new_issue_complete(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    category = _new_issue_category(snapshot, event, deps) if _new_issue(snapshot, event, deps) else None
    fresh = replace(snapshot, state=State.CLOSED, context={}, slots={})
    return category is not None and _prefills_all(category, event.text, fresh, deps)


def _rating(event: Event) -> int:
    if "rating" in event.data:
        return int(event.data["rating"])
    score = _acts(event).score
    return score if score is not None else 5


GUARDS: dict[str, Guard] = {
    "always": lambda s, e, d: True,
    "pure": lambda s, e, d: _acts(e).pure,
    "knows_ticket": lambda s, e, d: s.ticket is not None,
    "status_of_ticket": lambda s, e, d: s.ticket is not None and not _question_of_its_own(e),
    "pure_and_knows_ticket": lambda s, e, d: _acts(e).pure and s.ticket is not None,
    "confident": lambda s, e, d: _classify(s, e, d).confident,
    "some_cue": lambda s, e, d: bool(_classify(s, e, d).matched),
    "category_button": lambda s, e, d: (e.button or "").startswith(CATEGORY_PREFIX),
    "completes_form": _completes_form,
    "confident_and_complete": lambda s, e, d: (
        _classify(s, e, d).confident and _prefills_all(_classify(s, e, d).category, _issue_text(s, e, d), s, d)
    ),
    "category_button_and_complete": lambda s, e, d: (
        (e.button or "").startswith(CATEGORY_PREFIX)
        and _prefills_all(_picked_category(e), _first_text_after_pick(s), s, d)
    ),
    "claim_completes": _claim_completes,
    "claim_differs": lambda s, e, d: _claim_differs(s, e),
    "claim_differs_and_completes": lambda s, e, d: _claim_differs(s, e) and _claim_switch_completes(s, e, d),
    "edit_completes": _completes_form,
    "edit_without_value": lambda s, e, d: _acts(e).edit is not None and not (_acts(e).edit or ("", ""))[1],
    "nothing_else": lambda s, e, d: _acts(e).pure or not _classify(s, e, d).matched,
    "asking_contact": lambda s, e, d: _asking_contact(s, d),
    "asking_contact_and_completes": lambda s, e, d: _asking_contact(s, d) and _contact_completes(s, d),
    "side_question": _side_question,
    "not_an_answer": _not_an_answer,
    "adds_details": _adds_details,
    "new_issue": _new_issue,
    "new_issue_known": _new_issue_known,
    "new_issue_complete": _new_issue_complete,
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
    "low_score": lambda s, e, d: _rating(e) <= d.low_score,
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


@lru_cache(maxsize=512)
def _entities(text: str, today: date) -> Entities:
    # Guards and the action of one turn read the same message several times.
    return extract(text, today)


def _date_value(mention: DateMention) -> str:
    return f"{mention.text} ({mention.day.isoformat()})"


def extract_slots(category: str, text: str, deps: Deps, lang: str = "zh", *, guesses: bool = True) -> dict[str, str]:
    """Details a message carries whatever was asked: a phone number, a date, the project, the outcome wanted.

    With `guesses` the project a message is about counts even unnamed ("周年庆的预算…"): enough to fill a gap,
    not to replace what the client gave.
    """
    if not text.strip():
        return {}
    found = _entities(text, deps.today)
    slots: dict[str, str] = {}
    for spec in deps.forms.slots(category):
        value: str | None = None
        if spec.extract == "phone" and found.phones:
            value = found.phones[0]
        elif spec.extract == "contact" and (found.phones or found.emails):
            value = (found.phones or found.emails)[0]
        elif spec.extract == "date" and found.dates:
            value = _date_value(found.dates[0])
        elif spec.extract == "demand" and found.demand:
            value = found.demand
        elif spec.extract == "project" and (found.project or (guesses and found.project_guess)):
            value = found.project or found.project_guess
        elif spec.extract == "topic":
            choice = deps.forms.topic_of(category, spec.name, normalize(text))
            if choice is not None:
                value = deps.texts.get(f"slots.{category}.{spec.name}.choices.{choice}", lang)
        if value:
            slots[spec.name] = value
    return slots


def _read_slot(spec: SlotSpec, answer: str, deps: Deps, *, answered: bool = False) -> Validated:
    """The value of one detail from the client's answer: the number in "王女士 13811113333", the words otherwise."""
    if spec.validator == "phone" and normalize(answer).strip() not in _skip_words(deps):
        phones = find_phones(answer)
        if phones:
            return Validated(phones[0])
    checked = validate(spec, answer, _skip_words(deps))
    if checked.error is None and checked.value and spec.extract == "date" and answered:
        dates = _entities(answer, deps.today).dates
        if dates and dates[0].text != checked.value:
            return Validated(f"{checked.value} ({dates[0].day.isoformat()})")
    return checked


def _prompt(draft: Draft, spec: SlotSpec, deps: Deps) -> tuple[str, str, tuple[Button, ...]]:
    assert draft.category is not None
    key = f"slots.{draft.category}.{spec.name}"
    hint = "" if spec.required else deps.texts.get("form.optional_hint", draft.lang)
    return deps.texts.get(f"{key}.prompt", draft.lang), hint, _choice_buttons(spec, draft.category, deps, draft.lang)


def _ask_next(draft: Draft, deps: Deps) -> None:
    """Ask for the next missing detail, or confirm when none is missing."""
    assert draft.category is not None
    spec = deps.forms.next_missing(draft.category, draft.slots)
    if spec is None:
        draft.context.pop("asking", None)
        draft.context.pop("editing", None)
        _confirm(draft, deps)
        return
    if draft.context.get("asking") != spec.name:
        draft.context["reasks"] = 0
    draft.context["asking"] = spec.name
    prompt, hint, buttons = _prompt(draft, spec, deps)
    draft.say("form.ask", buttons, prompt=prompt, hint=hint)


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
    side = draft.context.get("side_questions") or []
    if side:
        lines.append(deps.texts.get("form.side_count", draft.lang, count=len(side)))
    return "\n".join(lines)


def _confirm_buttons(draft: Draft, deps: Deps) -> tuple[Button, ...]:
    return (
        Button(CONFIRM, deps.texts.get("confirm.submit", draft.lang)),
        Button(EDIT, deps.texts.get("confirm.edit", draft.lang)),
        Button(CANCEL, deps.texts.get("confirm.cancel", draft.lang)),
    )


def _show_summary(draft: Draft, deps: Deps) -> None:
    assert draft.category is not None
    draft.context["summary_shown"] = True
    draft.effects.append(
        Say(
            "confirm.summary",
            {
                "category": deps.texts.get(f"category.{draft.category}", draft.lang),
                "summary": _summary_lines(draft, deps),
            },
        )
    )
    draft.say("confirm.ask", _confirm_buttons(draft, deps))


def _confirm(draft: Draft, deps: Deps) -> None:
    """The whole summary before the first submit; afterwards a short question (the summary is still above)."""
    if draft.context.get("summary_shown"):
        draft.say("confirm.brief", _confirm_buttons(draft, deps))
    else:
        _show_summary(draft, deps)


def _usable_first_text(spec: SlotSpec, first_text: str, deps: Deps, category: str) -> bool:
    text = first_text.strip()
    if spec.name in _FREE_TEXT:
        # "咨询一下投放的事" names the category and the topic but asks nothing yet.
        substance = deps.lexicon.without_claims(normalize(text))
        for other in deps.forms.slots(category):
            for words in other.cues.values():
                for word in words:
                    substance = substance.replace(word, "")
        if len(substance.strip(" ,.!?。，！？的事情下一吧呀啊了")) < 4:
            return False
    if len(text) >= deps.settings.prefill_min_chars:
        return True
    # A short question ("发票能开吗？") is the question itself; a lone word ("发票") is only its topic.
    return spec.name in _FREE_TEXT and len(text) >= max(spec.min_length, 4) and deps.lexicon.is_question(text)


def _prefilled(snapshot: Snapshot, category: str, first_text: str, deps: Deps) -> dict[str, Any]:
    """Details the client has already given: the first message and what it carries, a phone number on record."""
    slots: dict[str, Any] = {}
    for spec in deps.forms.slots(category):
        if spec.prefill == "first_message" and _usable_first_text(spec, first_text, deps, category):
            checked = validate(spec, first_text, set())
            if checked.error is None:
                slots[spec.name] = checked.value
    for name, value in extract_slots(category, first_text, deps, snapshot.language).items():
        slots.setdefault(name, value)
    for spec in deps.forms.slots(category):
        if spec.prefill == "client.phone" and snapshot.client_phone:
            slots.setdefault(spec.name, snapshot.client_phone)
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
    return str(snapshot.context.get("issue_text") or snapshot.context.get("first_text") or "")


def _prefills_all(category: str, first_text: str, snapshot: Snapshot, deps: Deps) -> bool:
    return deps.forms.next_missing(category, _prefilled(snapshot, category, first_text, deps)) is None


def _switched_slots(snapshot: Snapshot, event: Event, claim: str, deps: Deps) -> dict[str, Any]:
    """The new category's details: those of the old form that it shares, then what the client's words give."""
    names = {s.name for s in deps.forms.slots(claim)}
    kept = {k: v for k, v in snapshot.slots.items() if k in names}
    first_text = str(snapshot.context.get("first_text") or "")
    # "这是complaint！已经两周没收到周报了": what the objection adds to the issue belongs to its description.
    added = deps.lexicon.without_claims(normalize(event.text)).strip(" ,.!?。，！？~～")
    if len(added) >= 4:
        first_text = f"{first_text} {event.text}".strip()
    for name, value in _prefilled(snapshot, claim, first_text, deps).items():
        kept.setdefault(name, value)
    return kept


def _claim_switch_completes(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    claim = _acts(event).claim
    assert claim is not None
    return deps.forms.next_missing(claim, _switched_slots(snapshot, event, claim, deps)) is None


def _contact_completes(snapshot: Snapshot, deps: Deps) -> bool:
    spec = _asking(snapshot, deps)
    assert spec is not None and snapshot.category is not None
    return deps.forms.next_missing(snapshot.category, {**snapshot.slots, spec.name: "-"}) is None


def _schedule_idle(draft: Draft, deps: Deps) -> None:
    draft.effects.append(Schedule(TimerKind.IDLE_REMINDER, timedelta(minutes=deps.settings.idle_reminder_minutes)))
    draft.effects.append(Schedule(TimerKind.IDLE_ABANDON, timedelta(hours=deps.settings.idle_abandon_hours)))


def _keep(draft: Draft, *names: str) -> None:
    draft.context = {k: v for k, v in draft.context.items() if k in {"turn", *names}}


def _reprompt(draft: Draft, deps: Deps) -> None:
    """Back to where the client was: the detail being asked, or the confirmation."""
    spec = (
        deps.forms.slot(draft.category, str(draft.context["asking"]))
        if draft.category and draft.context.get("asking")
        else None
    )
    if spec is not None:
        prompt, hint, buttons = _prompt(draft, spec, deps)
        draft.say("form.ask", buttons, prompt=prompt, hint=hint)
    elif draft.state is State.CONFIRMING:
        draft.say("confirm.brief", _confirm_buttons(draft, deps))
    elif draft.state in ASKING_STATES:
        draft.say("classify.ask", _category_buttons(deps, draft.lang))


def act_greet(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.category, draft.slots = None, {}
    _keep(draft, "evidence")
    if not _acts(event).pure:
        # A greeting alone says nothing of the issue: the next message is classified afresh.
        draft.context["first_text"] = event.text
        draft.context["issue_text"] = event.text
        _record_classified(draft, snapshot, event, deps)
    draft.say("greeting.welcome", _category_buttons(deps, draft.lang))
    _schedule_idle(draft, deps)


def act_greet_again(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.say("greeting.again", _category_buttons(deps, draft.lang))
    _schedule_idle(draft, deps)


def act_say_bye(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """Thanks or a goodbye with no issue open: a short reply, no form, no reminder."""
    draft.category, draft.slots = None, {}
    _keep(draft)
    draft.say("chat.bye")


def act_explain_bot(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.effects.append(Say("chat.bot_identity"))
    if snapshot.state in {State.NEW, State.CLOSED}:
        _keep(draft, "evidence")
        draft.say("greeting.again", _category_buttons(deps, draft.lang))
        _schedule_idle(draft, deps)
        return
    _reprompt(draft, deps)


def act_tell_status(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """How the ticket is going: its status, who holds it and the next deadline, from the ticket itself."""
    ticket = snapshot.ticket
    assert ticket is not None
    if snapshot.has_ticket:
        draft.effects.append(TicketNote("client_message", {"text": event.text}))
    lang = draft.lang
    holder = (
        deps.texts.get("progress.holder", lang, name=ticket.holder)
        if ticket.holder
        else deps.texts.get("progress.no_holder", lang)
    )
    deadline = deps.texts.get("progress.deadline", lang, deadline=ticket.deadline) if ticket.deadline else ""
    draft.say(
        "progress.report",
        ticket_no=ticket.number,
        category=deps.texts.get(f"category.{ticket.category}", lang),
        status=deps.texts.get(f"progress.status.{ticket.status}", lang),
        holder=holder,
        deadline=deadline,
    )
    if snapshot.state in DRAFT_STATES:
        _reprompt(draft, deps)


def act_ask_category(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    if event.text:
        draft.context.setdefault("first_text", event.text)
        draft.context["issue_text"] = _told(snapshot, event)
    _record_classified(draft, snapshot, event, deps)
    key = "classify.ask" if snapshot.state is State.CLASSIFYING or event.text else "greeting.welcome"
    draft.say(key, _category_buttons(deps, draft.lang))
    _schedule_idle(draft, deps)


def act_start_classified(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    text = _issue_text(snapshot, event, deps)
    if snapshot.state in {State.NEW, State.CLOSED}:
        _keep(draft, "evidence")
        draft.effects.append(Say("greeting.hello"))
    _record_classified(draft, snapshot, event, deps)
    _second_issue(draft, snapshot, event, deps)
    draft.context["first_text"] = text
    draft.context.pop("issue_text", None)
    _start_form(draft, snapshot, _classify(snapshot, event, deps).category, text, deps)


def act_start_claimed(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """The client named the category ("我要投诉"): his word decides, and what he said so far is the description."""
    claim = _acts(event).claim
    assert claim is not None
    text = _issue_text(snapshot, event, deps)
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
        _keep(draft, "evidence")
    category = _picked_category(event)
    # The keywords' verdict on the first message (if any) stays on record beside the client's own choice.
    known = dict(draft.context.get("classified") or {"matched": [], "confident": False})
    known.setdefault("version", deps.classifier.version)
    draft.context["classified"] = {**known, "category": category, "picked": True}
    first_text = _first_text_after_pick(snapshot)
    if first_text:
        draft.context["first_text"] = first_text
    draft.context.pop("issue_text", None)
    _start_form(draft, snapshot, category, first_text, deps)


def act_switch_category(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """The client objects ("我是投诉！不是咨询！"): the claimed category's form, keeping the details it shares."""
    claim = _acts(event).claim
    assert claim is not None
    draft.category = claim
    draft.slots = _switched_slots(snapshot, event, claim, deps)
    classified = dict(draft.context.get("classified") or {"matched": [], "confident": False})
    draft.context["classified"] = {**classified, "category": claim, "picked": True}
    draft.context.pop("asking", None)
    draft.say("classify.switched", category=deps.texts.get(f"category.{claim}", draft.lang))
    _ask_next(draft, deps)
    _schedule_idle(draft, deps)


def act_reclassify(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """A ticket exists and the client names another category ("我要投诉你们的投放"): the ticket follows his word."""
    claim = _acts(event).claim
    draft.effects.append(TicketNote("client_message", {"text": event.text}))
    draft.effects.append(TicketNote("client_reclassified", {"category": claim, "text": event.text}))
    draft.say("ticket.reclassified", new_category=deps.texts.get(f"category.{claim}", draft.lang))


def _fill_from_message(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """Store every detail the message carries that is still missing (never overwriting an answer)."""
    assert draft.category is not None
    if event.kind is EventKind.MESSAGE:
        for name, value in extract_slots(draft.category, event.text, deps, draft.lang).items():
            draft.slots.setdefault(name, value)


def act_fill(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """Store the answer to the detail being asked and any other the message gives, or say why it was not taken."""
    assert draft.category is not None
    current = draft.context.get("asking")
    if current is None:
        _fill_from_message(draft, snapshot, event, deps)
        _ask_next(draft, deps)
        return
    spec = deps.forms.slot(draft.category, current)
    if event.attachments and not event.text.strip():
        # A screenshot or voice note is evidence for the ticket (the engine keeps it), not an answer.
        draft.say("form.evidence_received")
        _ask_next(draft, deps)
        return
    answer = _answer_text(event, spec, draft.category, deps, draft.lang)
    checked = _read_slot(spec, answer, deps, answered=True)
    if checked.error:
        _fill_from_message(draft, snapshot, event, deps)
        _reask(draft, deps, spec, checked.error)
        return
    draft.slots[current] = checked.value
    _fill_from_message(draft, snapshot, event, deps)
    if current not in _FREE_TEXT:
        draft.slots.update(_free_text_answers(draft.category, event.text, draft.slots, deps))
    draft.context.pop("asking", None)
    if draft.context.get("summary_shown") and checked.value:
        # A detail changed after the summary was shown: say what it is now, above the short question.
        label = deps.texts.get(f"slots.{draft.category}.{current}.label", draft.lang)
        draft.effects.append(Say("confirm.changed", {"changes": f"{label}: {checked.value}"}))
    _ask_next(draft, deps)
    _schedule_idle(draft, deps)


def _free_text_answers(category: str, text: str, filled: dict[str, Any], deps: Deps) -> dict[str, Any]:
    """An answer that says the whole matter ("抖音开屏春节期间多少钱" asked for the topic) is the question too."""
    found: dict[str, Any] = {}
    for spec in deps.forms.slots(category):
        if spec.name in _FREE_TEXT and spec.name not in filled and _usable_first_text(spec, text, deps, category):
            checked = validate(spec, text.strip(), set())
            if checked.error is None:
                found[spec.name] = checked.value
    return found


def _reask(draft: Draft, deps: Deps, spec: SlotSpec, problem: str, *, with_prompt: bool = False) -> None:
    """Say what was wrong (and the question again); after a few tries offer to skip or a person, not a loop."""
    assert draft.category is not None
    tries = int(draft.context.get("reasks", 0)) + 1
    draft.context["reasks"] = tries
    prompt, hint, buttons = _prompt(draft, spec, deps)
    if with_prompt:
        draft.effects.append(Say(problem))
    if tries >= deps.settings.max_reasks:
        draft.effects.append(Say(problem) if not with_prompt else Say("form.offer_person"))
        if not with_prompt:
            draft.say("form.offer_person", buttons)
            _schedule_idle(draft, deps)
            return
    if with_prompt:
        draft.say("form.ask", buttons, prompt=prompt, hint=hint)
    else:
        draft.say(problem, buttons)
    _schedule_idle(draft, deps)


def act_reask(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    spec = _asking(snapshot, deps)
    assert spec is not None
    _reask(draft, deps, spec, "form.not_an_answer", with_prompt=True)


def act_apply_edit(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """A correction ("电话写错了，应该是139…") changes that detail at once; then on where the client was."""
    assert draft.category is not None
    acts = _acts(event)
    changed: list[str] = []
    if acts.edit is not None:
        name, value = acts.edit
        spec = deps.forms.slot(draft.category, name)
        checked = _read_slot(spec, value, deps, answered=True)
        if checked.error is not None:
            draft.context["asking"] = name
            _reask(draft, deps, spec, checked.error)
            return
        draft.slots[name] = checked.value
        changed.append(name)
    for name, value in extract_slots(draft.category, event.text, deps, draft.lang, guesses=False).items():
        replaceable = snapshot.state is State.CONFIRMING or name not in draft.slots
        if name not in changed and replaceable and draft.slots.get(name) != value:
            draft.slots[name] = value
            changed.append(name)
    lines = [
        f"{deps.texts.get(f'slots.{draft.category}.{n}.label', draft.lang)}: {draft.slots[n]}"
        for n in changed
        if draft.slots.get(n)
    ]
    if lines:
        draft.effects.append(Say("confirm.changed", {"changes": "；".join(lines)}))
    if draft.context.get("asking") in changed:
        draft.context.pop("asking", None)
    _ask_next(draft, deps)
    _schedule_idle(draft, deps)


def act_contact_by_channel(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """The client declines to give a number ("微信上联系我就行"): his own channel is the contact."""
    spec = _asking(snapshot, deps)
    assert spec is not None
    key = f"console.channel.{snapshot.channel}"
    channel = deps.texts.get(key, draft.lang) if deps.texts.has(key) else snapshot.channel
    draft.slots[spec.name] = deps.texts.get("form.contact_by_channel", draft.lang, channel=channel)
    draft.context.pop("asking", None)
    _ask_next(draft, deps)
    _schedule_idle(draft, deps)


def act_side_question(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """A question aside is filed with the issue for the rep to answer; then back to where the client was."""
    side = list(draft.context.get("side_questions") or [])
    side.append(event.text)
    draft.context["side_questions"] = side
    draft.effects.append(Say("form.side_noted"))
    _reprompt(draft, deps)
    _schedule_idle(draft, deps)


def _edit_buttons(draft: Draft, deps: Deps) -> tuple[Button, ...]:
    """One button per detail of the form, to pick the one to change."""
    assert draft.category is not None
    return tuple(
        Button(EDIT_PREFIX + s.name, deps.texts.get(f"slots.{draft.category}.{s.name}.label", draft.lang))
        for s in deps.forms.slots(draft.category)
    )


def act_ask_what_to_change(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.say("confirm.what_to_change", _edit_buttons(draft, deps))
    _schedule_idle(draft, deps)


def act_confirm_edit(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.say("confirm.which", _edit_buttons(draft, deps))


def act_edit_slot(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    assert draft.category is not None
    name = (event.button or "")[len(EDIT_PREFIX) :]
    spec = deps.forms.slot(draft.category, name)
    draft.slots.pop(name, None)
    # Later slots keep their answers: only the corrected one is asked again.
    draft.context["asking"] = name
    prompt, hint, buttons = _prompt(draft, spec, deps)
    draft.say("form.ask", buttons, prompt=prompt, hint=hint)


def act_ask_edited_slot(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """The client says which detail is wrong but not what it should be: ask for that one again."""
    assert draft.category is not None
    edit = _acts(event).edit
    assert edit is not None
    spec = deps.forms.slot(draft.category, edit[0])
    draft.slots.pop(spec.name, None)
    draft.context["asking"] = spec.name
    prompt, hint, buttons = _prompt(draft, spec, deps)
    draft.say("form.ask", buttons, prompt=prompt, hint=hint)
    _schedule_idle(draft, deps)


def act_resummarize(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """Something the confirmation cannot use: ask again briefly, or show the summary when asked for it."""
    if event.kind is EventKind.BUTTON or not draft.context.get("summary_shown"):
        draft.effects.append(Say("confirm.use_buttons"))
        _show_summary(draft, deps)
    else:
        draft.say("confirm.brief", _confirm_buttons(draft, deps))
    _schedule_idle(draft, deps)


def act_cancel(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.category, draft.slots = None, {}
    _keep(draft)
    draft.say("confirm.cancelled")


def _details(draft: Draft) -> dict[str, Any]:
    details: dict[str, Any] = dict(draft.slots)
    if draft.context.get("first_text"):
        details["first_message"] = draft.context["first_text"]
    if draft.context.get("side_questions"):
        details["side_questions"] = list(draft.context["side_questions"])
    if draft.context.get("evidence"):
        details["evidence"] = list(draft.context["evidence"])
    return details


def act_open_ticket(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    assert draft.category is not None
    classification = _ticket_classification(draft, deps, draft.category)
    draft.effects.append(OpenTicket(draft.category, _details(draft), classification=classification))
    # A second issue of the first message is filed next (the engine feeds it in once this ticket is open).
    _keep(draft, "next_issue")
    draft.say("ticket.opened")


def act_enter_queue(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """Hand the conversation to people; a ticket records the issue even if the client said little."""
    if not snapshot.has_ticket:
        told = f"{draft.context.get('issue_text') or draft.context.get('first_text') or ''} {event.text}"
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
        if not draft.slots and told.strip():
            # What the client said before asking for a person is on the ticket, as a form would have it.
            draft.slots = _prefilled(snapshot, category, told.strip(), deps)
        classification = _ticket_classification(draft, deps, category)
        draft.effects.append(OpenTicket(category, _details(draft), handoff=True, classification=classification))
    draft.effects.append(TicketNote("handoff", {"text": event.text}))
    _keep(draft)
    draft.say("handoff.queued")


def act_append(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.effects.append(TicketNote("client_message", {"text": event.text}))
    draft.say("ticket.appended")


def act_start_new_issue(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """Another issue while a ticket is open: that ticket stays with the desk, this one gets its own form."""
    draft.say("ticket.new_issue")
    draft.effects.append(LeaveTicket())
    draft.category, draft.slots = None, {}
    _keep(draft)
    # Classified as a first message: no earlier fragment of the filed issue counts towards it.
    fresh = replace(snapshot, state=State.CLOSED, context={}, slots={})
    _record_classified(draft, fresh, event, deps)
    category = _new_issue_category(snapshot, event, deps)
    draft.context["first_text"] = event.text
    if category is None:
        draft.context["issue_text"] = event.text
        draft.say("classify.ask", _category_buttons(deps, draft.lang))
        _schedule_idle(draft, deps)
        return
    if _acts(event).claim is not None:
        known = dict(draft.context.get("classified") or {"matched": [], "confident": False})
        draft.context["classified"] = {**known, "category": category, "picked": True}
    _start_form(draft, fresh, category, event.text, deps)


def act_thanks_noted(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.effects.append(TicketNote("client_message", {"text": event.text}))
    draft.say("ticket.thanks")


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


def _comment_with_score(draft: Draft, event: Event) -> None:
    """The words beside a typed score ("1分，问题还在") are the client's comment."""
    acts = _acts(event)
    if acts.score is not None and not acts.pure and event.button is None and len(event.text.strip()) > 3:
        draft.effects.append(TicketNote("feedback_comment", {"text": event.text}))


def act_feedback(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """Record the score, then offer room for an optional comment before the conversation closes."""
    rating = _rating(event)
    draft.effects.append(TicketNote("feedback", {"rating": rating}))
    _comment_with_score(draft, event)
    _keep(draft)
    skip = Button("comment:skip", deps.texts.get("feedback.no_comment", draft.lang))
    draft.say("feedback.thanks", (skip,))
    minutes = deps.settings.feedback_comment_minutes
    draft.effects.append(Schedule(TimerKind.COMMENT_TIMEOUT, timedelta(minutes=minutes)))


def act_comment(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    acts = _acts(event)
    no_comment = acts.pure and bool(acts.found & {Act.THANKS, Act.CANCEL, Act.AFFIRM, Act.SKIP})
    if (
        event.text.strip()
        and event.button is None
        and not no_comment
        and normalize(event.text) not in _skip_words(deps)
    ):
        draft.effects.append(TicketNote("feedback_comment", {"text": event.text}))
        draft.say("feedback.comment_thanks")
    else:
        draft.say("feedback.goodbye")


def act_feedback_low(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """A low score reopens the ticket (the desk does it); the client hears that someone will follow up."""
    draft.effects.append(TicketNote("feedback", {"rating": _rating(event)}))
    _comment_with_score(draft, event)
    _keep(draft)
    draft.say("feedback.sorry")


def act_feedback_timeout(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    draft.effects.append(TicketNote("feedback_missing", {}))
    _keep(draft)


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
    _keep(draft)
    draft.say("idle.abandoned")


def act_nothing(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """A stale timer or a no-op: state stays, nothing is said."""


ACTIONS: dict[str, Action] = {
    name.removeprefix("act_"): fn for name, fn in dict(globals()).items() if name.startswith("act_") and callable(fn)
}
