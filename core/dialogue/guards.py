"""The dialogue table's guards: named questions about the state and the message that pick a row."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from core.dialogue.acts import SMALL_TALK, Act, has_word
from core.dialogue.classifier import FALLBACK_CATEGORY, Match, has_words, normalize
from core.dialogue.entities import find_ticket_numbers
from core.dialogue.model import (
    CANCEL,
    CATEGORY_ASKS,
    CATEGORY_PREFIX,
    CHOICE_PREFIX,
    CONFIRM,
    EDIT,
    EDIT_PREFIX,
    NEW_ISSUE_TURN,
    Deps,
    Event,
    Snapshot,
    State,
    TimerKind,
)
from core.dialogue.reading import (
    FREE_TEXT,
    WHAT_TO_CHANGE,
    acts_of,
    answers_ticket_lookup,
    asking,
    asks_contact,
    classify,
    continued_issue,
    described_category,
    described_slots,
    extract_slots,
    filled_after,
    first_text_after_pick,
    free_text_answers,
    issue_text,
    issue_text_slot,
    just_chose_to_change,
    marked_last_turn,
    normalized_words,
    only_venting,
    picked_category,
    prefills_all,
    rating_of,
    switched_slots,
    vented_before,
)

Guard = Callable[[Snapshot, Event, Deps], bool]


def _completes_form(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    if snapshot.category is None:
        return False
    return deps.forms.next_missing(snapshot.category, filled_after(snapshot, event, deps)) is None


def _claim_differs(snapshot: Snapshot, event: Event) -> bool:
    claim = acts_of(event).claim
    current = snapshot.ticket.category if snapshot.ticket is not None else snapshot.category
    return claim is not None and claim != current


def _claim_completes(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    claim = acts_of(event).claim
    if claim is None:
        return False
    return prefills_all(claim, issue_text(snapshot, event, deps), snapshot, deps)


def _asking_contact(snapshot: Snapshot, deps: Deps) -> bool:
    return asks_contact(asking(snapshot, deps))


def _side_question(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    """A question aside ("对了，发票能先开吗？") while a detail it does not answer is asked."""
    spec = asking(snapshot, deps)
    if spec is None or spec.name in FREE_TEXT:
        return False
    if acts_of(event).found & {Act.SIDE_MARKER, Act.NEW_ISSUE}:
        return True
    assert snapshot.category is not None
    if free_text_answers(snapshot.category, event.text, dict(snapshot.slots), deps):
        # The inquiry's own question, not yet told, given for its topic ("小红书达人投放怎么收费？"): it is told now.
        return False
    return spec.extract is not None and spec.name not in extract_slots(snapshot.category, event.text, deps)


def _not_an_answer(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    """A message like "嗯", "好的", "谢谢" while a detail is asked: an act, not the detail (skip words answer)."""
    acts = acts_of(event)
    return acts.pure and Act.SKIP not in acts and not event.attachments and asking(snapshot, deps) is not None


def _adds_details(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    """At the confirmation, a message that carries a detail the form has (a phone number, a date)."""
    if snapshot.category is None:
        return False
    found = extract_slots(snapshot.category, event.text, deps, guesses=False)
    return any(snapshot.slots.get(name) != value for name, value in found.items())


def _answers_what_to_change(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    """The message right after the bot asked what to change, with words for the issue's own text to keep."""
    return (
        snapshot.category is not None
        and marked_last_turn(snapshot, WHAT_TO_CHANGE)
        and bool(event.text.strip())
        and issue_text_slot(snapshot.category, deps) is not None
    )


# Acts that keep a message about the ticket already open, whatever else it says.
_ABOUT_THE_TICKET = frozenset({Act.ADDITION, Act.STATUS, Act.HANDOFF, Act.CANCEL})


# Words by which a message points back at what was filed ("我那个工单", "刚才的事", "this ticket").
_REFERS_TO_TICKET = re.compile(
    r"工单|单子|我的问题|我那个|刚才|之前的|上次的|这件事|那件事|这个事|那个事|这事|那事|"
    r"kf-?\d|ticket|my issue|this issue"
)


# Words that name a ticket filed before ("上一个工单", "KF-…", "my ticket"), not just the matter at hand.
_NAMES_A_TICKET = re.compile(r"工单|单子|上一个|上个问题|kf-?\d|ticket")


def _status_of_a_filed_ticket(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    """While another issue is taken in, a status question that names a ticket filed before; never the answer for
    the issue's own words ("之前的素材一直没人理" told as the description)."""
    spec = asking(snapshot, deps)
    return (
        snapshot.ticket is not None
        and (spec is None or spec.name not in FREE_TEXT)
        and (bool(_NAMES_A_TICKET.search(normalize(event.text))) or deps.lexicon.refers_to_filed(event.text))
    )


def asks_of_unknown_ticket(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    """No ticket was found for the client, and he asks how one he filed before is going ("之前提交的工单有进展了吗",
    "any update on my ticket?", or with nothing but asking: "还没人联系我啊 你们到底有没有在处理"), names its number, or
    gives the number or phone the bot asked for to look it up. How long the agency takes, asked alone
    ("要多久能处理好"), is no such question."""
    acts = acts_of(event)
    if snapshot.ticket is not None or Act.STATUS not in acts:
        return False
    return (
        deps.lexicon.refers_to_filed(event.text)
        or (Act.TIMING not in acts and deps.lexicon.only_asks(event.text))
        or bool(find_ticket_numbers(event.text))
        or answers_ticket_lookup(event.text, snapshot, deps)
    )


def _asks_timing(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    """While an issue is taken in, a message that only asks how long the agency takes ("要多久能处理好？"): no answer to
    the detail asked, and no outcome wanted; the issue's targets answer it."""
    return (
        snapshot.promise is not None
        and Act.TIMING in acts_of(event)
        and acts_of(event).edit is None
        and deps.lexicon.only_asks_timing(event.text)
    )


# An unmarked message needs this much text to count as another issue: "太慢了" is about the ticket open.
_NEW_ISSUE_MIN_CHARS = 8


# Once the ticket is resolved its handling is done: a question about another matter is no question about it.
_SETTLED_STATES = frozenset({State.RESOLVED, State.AWAITING_FEEDBACK, State.FEEDBACK_COMMENT})
# The rules' nouns of the business (发票, 报价, 排期) are weak inquiry cues (config/keywords.yaml): they name what a
# question is about, where a complaint's words ("这么慢", "态度") speak of how it was handled.
_MATTER_CATEGORY = "inquiry"


def _question_of_its_own(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    """A question that points at nothing filed: a status question after a marker ("还有 下个月的排期表什么时候能给？"),
    or, once the ticket is resolved, a question without a score that names a matter the ticket's words do not
    ("发票什么时候能开？", "你们下周能出报告吗"); "处理好了吗" and "为什么回复这么慢？" ask of the ticket's handling."""
    acts = acts_of(event)
    if acts.found & (_ABOUT_THE_TICKET - {Act.STATUS}) or _REFERS_TO_TICKET.search(normalize(event.text)):
        return False
    if deps.lexicon.refers_to_filed(event.text):
        return False
    if Act.STATUS in acts and acts.found & {Act.SIDE_MARKER, Act.NEW_ISSUE}:
        return True
    return (
        snapshot.state in _SETTLED_STATES
        and bool(acts.found & {Act.STATUS, Act.QUESTION})
        and acts.score is None
        and _names_another_matter(snapshot, event, deps)
    )


def _told_beside_asking(event: Event, deps: Deps) -> list[Match]:
    """The rules' evidence in the message beside what only asks or speaks of the agency's handling: "发票" of
    "发票什么时候能开？", nothing of "怎么这么久才处理？"."""
    asking = deps.lexicon.asking_spans(event.text)
    return [
        match
        for match in deps.classifier.classify(event.text).matched
        if not any(start < match.end and match.start < end for start, end in asking)
    ]


def _names_another_matter(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    """Whether the message names a matter of its own (an invoice, a quote, a report) that the ticket's details do
    not hold."""
    told = normalize(" ".join(str(value) for value in snapshot.slots.values()))
    return any(
        match.category == _MATTER_CATEGORY and normalize(match.phrase) not in told
        for match in _told_beside_asking(event, deps)
    )


def _new_issue(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    """With a ticket open, a message that raises another issue rather than adding to that ticket.

    Said as such ("还有个事…"), in a thread of its own (a new mail, not a reply), after "另外"/"对了" with words
    of an issue, a question of its own (see `_question_of_its_own`), or unmarked but confidently of another
    category than the ticket's with words beside the asking; never "补充一下…", a status question or thanks.
    """
    acts = acts_of(event)
    about = acts.found & _ABOUT_THE_TICKET
    own = _question_of_its_own(snapshot, event, deps)
    if own:
        about = frozenset()
    if acts.pure or about:
        return False
    if Act.NEW_ISSUE in acts or event.data.get("new_thread") or _announced(snapshot, event):
        return True
    verdict = deps.classifier.classify(event.text)
    if Act.SIDE_MARKER in acts or own:
        return bool(verdict.matched) or acts.claim is not None
    if verdict.matched and snapshot.category is not None and snapshot.slots.get("project"):
        # An issue with another project than the ticket's ("双十一的素材也被拒了" after one about 暑期档).
        named = extract_slots(snapshot.category, event.text, deps, guesses=False).get("project")
        if named and normalize(named) != normalize(str(snapshot.slots["project"])):
            return True
    # A question only of how the ticket is handled ("怎么这么久才处理？") is about it, however sure the verdict.
    return (
        Act.THANKS not in acts
        and acts.claim is None
        and verdict.confident
        and verdict.category != snapshot.category
        and len(normalize(event.text)) >= _NEW_ISSUE_MIN_CHARS
        and bool(_told_beside_asking(event, deps))
    )


def _announced(snapshot: Snapshot, event: Event) -> bool:
    """The message right after "还有个事" said alone, with words: the other issue itself."""
    return marked_last_turn(snapshot, NEW_ISSUE_TURN) and has_words(event.text)


def new_issue_category(snapshot: Snapshot, event: Event, deps: Deps) -> str | None:
    """The other issue's category when the client named it or the keywords are sure of it."""
    claim = acts_of(event).claim
    if claim is not None:
        return claim
    verdict = deps.classifier.classify(event.text)
    return verdict.category if verdict.confident else None


def _new_issue_known(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    return _new_issue(snapshot, event, deps) and new_issue_category(snapshot, event, deps) is not None


def _new_issue_complete(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    return _new_issue(snapshot, event, deps) and _issue_prefilled(snapshot, event, deps)


def _issue_prefilled(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    category = new_issue_category(snapshot, event, deps)
    fresh = replace(snapshot, state=State.CLOSED, context={}, slots={})
    return category is not None and prefills_all(category, event.text, fresh, deps)


# What may stand beside an hours question in a message that asks only that ("您好，请问几点下班？", "好的，周六有人吗").
_BESIDE_HOURS = SMALL_TALK | {Act.HOURS, Act.QUESTION, Act.SIDE_MARKER}


def only_hours(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    """A question about when the agency works, with nothing of consequence besides ("你们几点下班？我下午想过来").

    Besides the hours a message may greet, thank or say yes; words of no issue count as nothing where the bot asks
    for the issue or holds it already (no rule of an issue matches them), but may answer a detail being asked.
    """
    if Act.HOURS not in acts_of(event) or event.attachments:
        return False
    rest = deps.lexicon.without(event.text, Act.HOURS)
    if not has_words(rest):
        return True
    acts = deps.lexicon.recognize(rest)
    if acts.found - _BESIDE_HOURS:
        return False
    if acts.pure:
        return True
    if asking(snapshot, deps) is not None:
        return False
    return all(m.category == FALLBACK_CATEGORY for m in deps.classifier.classify(rest).matched)


# Clauses of a message: a word that says the problem is back and one that says what fails go together in one.
_CLAUSE = re.compile(r"[,.!?;，。！？；、\n]+")


def not_solved(event: Event, deps: Deps) -> bool:
    """After the resolution, the client says the problem is not solved or is back ("数据还是不对", "又出现了")."""
    text = normalize(event.text)
    settings = deps.settings
    if any(has_word(text, w) for w in normalized_words(settings.reopen_words)):
        return True
    still, failing = normalized_words(settings.reopen_still), normalized_words(settings.reopen_failing)
    return any(
        any(has_word(clause, w) for w in still) and any(has_word(clause, w) for w in failing)
        for clause in _CLAUSE.split(text)
    )


def declines_rating(event: Event, deps: Deps) -> bool:
    """At the satisfaction prompt, the client would rather not score ("不用评了", "算了", "没空", "no thanks")."""
    acts = acts_of(event)
    if acts.score is not None:
        return False
    if Act.CANCEL in acts or Act.SKIP in acts:
        return True
    text = normalize(event.text)
    return any(has_word(text, w) for w in normalized_words(deps.settings.no_rating_words))


def _said_new_issue(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    """Another issue said as such ("还有个事…", or right after "还有个事" alone), in a thread of its own, or asked
    about as a matter of its own ("发票什么时候能开？"): where any other words are a comment."""
    said = Act.NEW_ISSUE in acts_of(event) or bool(event.data.get("new_thread")) or _announced(snapshot, event)
    return (said or _question_of_its_own(snapshot, event, deps)) and _new_issue(snapshot, event, deps)


def _asked_enough(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    """The category was asked for often enough while the client kept describing, and the words lean somewhere."""
    limit = deps.settings.category_asks_before_guess
    asked = int(snapshot.context.get(CATEGORY_ASKS, 0))
    if not limit or asked < limit or not has_words(event.text):
        return False
    lean = classify(snapshot, event, deps)
    # A guess needs something to go on: a rule's evidence, or the model's majority.
    return lean.category is not None and (lean.ruled or lean.confidence >= 0.5)


def _vented_enough(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    """Venting once more than the bot should answer alone: a person takes over (settings.vent_handoff_after)."""
    limit = deps.settings.vent_handoff_after
    return bool(limit) and only_venting(event, deps) and vented_before(snapshot) + 1 >= limit


def _continues_and_completes(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    more = continued_issue(snapshot, event, deps)
    return more is not None and deps.forms.next_missing(more.category, more.slots) is None


GUARDS: dict[str, Guard] = {
    "always": lambda s, e, d: True,
    "pure": lambda s, e, d: acts_of(e).pure,
    "pure_after_choosing_to_change": lambda s, e, d: acts_of(e).pure and just_chose_to_change(s),
    "knows_ticket": lambda s, e, d: s.ticket is not None,
    "status_of_ticket": lambda s, e, d: s.ticket is not None and not _question_of_its_own(s, e, d),
    "pure_and_knows_ticket": lambda s, e, d: acts_of(e).pure and s.ticket is not None,
    "confident": lambda s, e, d: classify(s, e, d).confident,
    "some_cue": lambda s, e, d: bool(classify(s, e, d).matched),
    "asked_enough": _asked_enough,
    # The guessed form complete: the summary shown waits for a yes at the confirmation, not in the form.
    "asked_enough_and_complete": lambda s, e, d: (
        _asked_enough(s, e, d) and prefills_all(classify(s, e, d).category, issue_text(s, e, d), s, d)
    ),
    "category_button": lambda s, e, d: (e.button or "").startswith(CATEGORY_PREFIX),
    "completes_form": _completes_form,
    "confident_and_complete": lambda s, e, d: (
        classify(s, e, d).confident and prefills_all(classify(s, e, d).category, issue_text(s, e, d), s, d)
    ),
    "category_button_and_complete": lambda s, e, d: (
        (e.button or "").startswith(CATEGORY_PREFIX)
        and prefills_all(picked_category(e), first_text_after_pick(s), s, d)
    ),
    "describes_another_category": lambda s, e, d: described_category(s, e, d) is not None,
    "describes_another_category_and_completes": lambda s, e, d: _described_completes(s, e, d),
    "claim_completes": _claim_completes,
    "claim_differs": lambda s, e, d: _claim_differs(s, e),
    "claim_differs_and_completes": lambda s, e, d: _claim_differs(s, e) and _claim_switch_completes(s, e, d),
    "edit_completes": _completes_form,
    "edit_without_value": lambda s, e, d: acts_of(e).edit is not None and not (acts_of(e).edit or ("", ""))[1],
    "nothing_else": lambda s, e, d: acts_of(e).pure or not classify(s, e, d).matched,
    "asking_contact": lambda s, e, d: _asking_contact(s, d),
    "asking_contact_and_completes": lambda s, e, d: _asking_contact(s, d) and _contact_completes(s, d),
    "side_question": _side_question,
    "only_hours": only_hours,
    "continues_issue": lambda s, e, d: continued_issue(s, e, d) is not None,
    "continues_issue_and_completes": _continues_and_completes,
    "not_an_answer": _not_an_answer,
    "only_venting": lambda s, e, d: only_venting(e, d),
    "vented_enough": _vented_enough,
    "adds_details": _adds_details,
    "answers_what_to_change": _answers_what_to_change,
    "new_issue": _new_issue,
    "status_of_a_filed_ticket": _status_of_a_filed_ticket,
    "asks_of_unknown_ticket": asks_of_unknown_ticket,
    "asks_timing": _asks_timing,
    "announces_new_issue": lambda s, e, d: Act.NEW_ISSUE in acts_of(e) and acts_of(e).pure,
    "no_words": lambda s, e, d: not has_words(e.text) and not e.attachments,
    "new_issue_known": _new_issue_known,
    "new_issue_complete": _new_issue_complete,
    "said_new_issue": _said_new_issue,
    "said_new_issue_known": lambda s, e, d: _said_new_issue(s, e, d) and new_issue_category(s, e, d) is not None,
    "said_new_issue_complete": lambda s, e, d: _said_new_issue(s, e, d) and _issue_prefilled(s, e, d),
    "confirm": lambda s, e, d: e.button == CONFIRM,
    "edit": lambda s, e, d: e.button == EDIT,
    "edit_slot": lambda s, e, d: (e.button or "").startswith(EDIT_PREFIX),
    "cancel": lambda s, e, d: e.button == CANCEL,
    "to_rep": lambda s, e, d: e.data.get("user_id") is not None,
    "choice": lambda s, e, d: (e.button or "").startswith(CHOICE_PREFIX),
    "reopen": lambda s, e, d: not_solved(e, d),
    "declines_rating": lambda s, e, d: declines_rating(e, d),
    "idle_reminder": lambda s, e, d: e.data.get("timer") == TimerKind.IDLE_REMINDER,
    "idle_abandon": lambda s, e, d: e.data.get("timer") == TimerKind.IDLE_ABANDON,
    "feedback_prompt": lambda s, e, d: e.data.get("timer") == TimerKind.FEEDBACK_PROMPT,
    "feedback_reminder": lambda s, e, d: e.data.get("timer") == TimerKind.FEEDBACK_REMINDER,
    "feedback_timeout": lambda s, e, d: e.data.get("timer") == TimerKind.FEEDBACK_TIMEOUT,
    "low_score": lambda s, e, d: rating_of(e) <= d.low_score,
    "comment_timeout": lambda s, e, d: e.data.get("timer") == TimerKind.COMMENT_TIMEOUT,
}


def _claim_switch_completes(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    claim = acts_of(event).claim
    assert claim is not None
    return deps.forms.next_missing(claim, switched_slots(snapshot, event, claim, deps)) is None


def _described_completes(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    category = described_category(snapshot, event, deps)
    if category is None:
        return False
    return deps.forms.next_missing(category, described_slots(snapshot, event, category, deps)) is None


def _contact_completes(snapshot: Snapshot, deps: Deps) -> bool:
    spec = asking(snapshot, deps)
    assert spec is not None and snapshot.category is not None
    return deps.forms.next_missing(snapshot.category, {**snapshot.slots, spec.name: "-"}) is None
