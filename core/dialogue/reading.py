"""What a client message and the form hold: acts, the issue's words, its category, details and their answers."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from functools import lru_cache
from typing import Any

from core.dialogue.acts import NO_ACTS, Act, Acts
from core.dialogue.classifier import FALLBACK_CATEGORY, Classification, has_words, normalize
from core.dialogue.entities import (
    DateMention,
    Entities,
    extract,
    find_phones,
    find_ticket_numbers,
    labelled_project,
    sole_demand,
    sole_entity,
    sole_project,
    sole_ticket_number,
)
from core.dialogue.fields import (
    edit_request,
    field_mentions,
    label_end,
    named_alone,
    replaced,
    revised,
    says_when,
    sole_edit,
)
from core.dialogue.forms import CATEGORIES, SlotSpec, Validated, validate
from core.dialogue.model import (
    ASKING_STATES,
    CALL_BACK,
    CATEGORY_PREFIX,
    CHOICE_PREFIX,
    GAP,
    TICKET_LOOKUP_TURN,
    TOLD_TURN,
    Deps,
    Draft,
    Event,
    EventKind,
    Snapshot,
    State,
)
from core.dialogue.reread import kept_and_copied, kept_for_the_message


def recognize(text: str, snapshot: Snapshot, deps: Deps) -> Acts:
    """The acts of a client message, with a correction ("电话改成…") resolved to one of the form's details."""
    acts = deps.lexicon.recognize(text)
    if Act.CALL_BACK in acts and not find_phones(text):
        # "打电话给我" without a number asks for a person; with one, it gives the number to call.
        acts = replace(acts, found=acts.found | {Act.HANDOFF})
    if answers_ticket_lookup(text, snapshot, deps) or sole_ticket_number(text):
        # A ticket number said alone asks about that ticket; so does a number or phone sent when the bot asked for one.
        acts = replace(acts, found=acts.found | {Act.STATUS})
    category = snapshot.category
    if category is None:
        return acts
    spec = asking(snapshot, deps)
    if (
        Act.HANDOFF in acts
        and spec is not None
        and spec.extract == "demand"
        and (sole_demand(text) or deps.lexicon.changes_staff(text))
    ):
        # "要么换人要么退钱" asked for the outcome wanted: other staff on the work, no person in this chat; the
        # words are the answer, not an act.
        acts = replace(acts, found=acts.found - {Act.HANDOFF}, pure=False)
    if snapshot.state is State.COLLECTING and spec is not None and not spec.required and deps.lexicon.declines(text):
        # "不用了" asked for a detail that may be left out leaves it out; it drops the issue only where one is needed.
        return replace(acts, found=(acts.found - {Act.CANCEL, Act.DENY}) | {Act.SKIP}, pure=True)
    found = edit_request(text)
    if found is None or not found[1]:
        # "名字打错了应该是华美不是华美达": the wrong words name the detail that holds them.
        held = {s.name: str(snapshot.slots.get(s.name) or "") for s in deps.forms.slots(category)}
        swapped = replaced(text, held)
        if swapped is not None:
            return replace(acts, found=acts.found | {Act.EDIT}, edit=swapped)
    if found is None and snapshot.state is State.CONFIRMING and (named := named_alone(text)) is not None:
        # "电话" alone at the summary (or asked what to change): that detail is the one to change; it is asked for.
        found = (named, "")
    if found is None:
        return acts
    slot = _slot_for_field(category, found[0], deps)
    if slot is None:
        return acts
    # "the project name is wrong", "项目名写错了": which detail is wrong, without its new value.
    value = "" if normalize(found[1]).strip(" .!。！") in _NOT_A_VALUE else found[1]
    # "尾号是3321" changes the end of the number held, "再加一条：…" adds to the outcome wanted.
    value = revised(text, found[0], value, str(snapshot.slots.get(slot) or ""))
    if not value and deps.forms.slot(category, slot).extract == "demand" and sole_demand(text):
        # "希望重新印", "要求重新投放": the outcome wanted itself, its 重新 no call to correct it.
        return acts
    if (
        snapshot.state is State.COLLECTING
        and not snapshot.slots.get(slot)
        and not (slot in snapshot.slots and value)
        and not (value and spec is not None and spec.name != slot and sole_edit(text))
    ):
        # While the form is filled, a detail that holds nothing is not corrected (one skipped and given a value is):
        # "重新配音，电话138…" answers the question asked and gives the phone besides, its 重新 the outcome wanted;
        # "海报上的电话印错了" tells of the issue. A message that is nothing but another detail's new value
        # ("电话写错了，应该是139…" asked for the outcome) gives that detail, and answers nothing of the one asked.
        return acts
    return replace(acts, found=acts.found | {Act.EDIT}, edit=(slot, value))


_NOT_A_VALUE = frozenset({"wrong", "incorrect", "not right", "错了", "错的", "不对", "有误", "写错了", "不正确"})


def answers_ticket_lookup(text: str, snapshot: Snapshot, deps: Deps) -> bool:
    """Right after the bot found no ticket and asked for its number or phone, a message that gives one: a number,
    or a phone alone or said to be the one it was filed with ("是用138…这个号提交的"); a phone beside an issue
    ("数据不对，电话138…") is that issue's contact."""
    if not marked_last_turn(snapshot, TICKET_LOOKUP_TURN):
        return False
    if find_ticket_numbers(text):
        return True
    return bool(find_phones(text)) and (sole_entity(text, deps.today) == "phone" or deps.lexicon.refers_to_filed(text))


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


def acts_of(event: Event) -> Acts:
    return event.acts or NO_ACTS


def only_venting(event: Event, deps: Deps) -> bool:
    """A client message that vents and tells nothing ("垃圾公司", "你们是不是有病啊"): no act besides, and no date,
    number, address, project or outcome wanted, which any detail could take ("都三天了，垃圾" gives a date)."""
    if event.kind is not EventKind.MESSAGE or not acts_of(event).only_venting:
        return False
    return _tells_nothing(event.text, deps)


def _tells_nothing(text: str, deps: Deps) -> bool:
    """No date, number, address, project or outcome wanted in the text: nothing any detail could take."""
    found = _entities(text, deps.today)
    told = (found.phones, found.emails, found.dates, found.amounts, found.ticket_numbers)
    return not any(told) and not (found.project or found.project_guess or found.demand)


def without_venting(text: str, deps: Deps) -> str | None:
    """The message without its clauses of nothing but venting, when it has such clauses and more besides:
    "项目就是双十一那个，你们搞什么鬼" is "项目就是双十一那个", "好的，废物" is "好的", "This is ridiculous. The landing
    page is down" is "The landing page is down". None when no clause is only venting, or every clause is."""
    kept: list[str] = []
    last = 0
    dropped = False
    for gap in [*_VENT_CLAUSE_BREAK.finditer(text), None]:
        start, end = (gap.start(), gap.end()) if gap is not None else (len(text), len(text))
        clause = text[last:start]
        if clause.strip() and deps.lexicon.recognize(clause).only_venting and _tells_nothing(clause, deps):
            # The clause goes with the break after it: "垃圾公司！！周年庆…" is "周年庆…".
            dropped = True
        else:
            kept.append(text[last:end])
        last = end
        if gap is None:
            break
    rest = "".join(kept).strip(_VENT_TRIM)
    return rest if dropped and rest else None


# Where a clause of venting may end: punctuation, or a space that is not between two Latin words or numbers
# ("气死了 项目是双十一" is two clauses, "what a joke" one).
_VENT_CLAUSE_BREAK = re.compile(r"[,.!?;，。！？；、~～\n]+\s*|(?<![a-z0-9])\s+|\s+(?![a-z0-9])", re.I)
# Around what is left once the venting is taken out, what no longer separates anything.
_VENT_TRIM = " ,，.。;；、!！?？~～\n"


# Context key: how many messages of nothing but venting the client sent in the issue under way.
VENTED = "vented"


def vented_before(snapshot: Snapshot) -> int:
    return int(snapshot.context.get(VENTED, 0))


def told_so_far(snapshot: Snapshot, event: Event) -> str:
    """What the client has said so far: fragments sent one after another while asked count together, those
    without words ("[图片]", "👍") left out."""
    earlier = str(snapshot.context.get("issue_text") or "") if snapshot.state in ASKING_STATES else ""
    told = [text for text in (earlier, event.text) if has_words(text)]
    return " ".join(told).strip() if told else event.text


# Words before a break that make an issue of their own ("数据不对" yes, "你好" no).
_ISSUE_MIN_CHARS = 4


# Issues counted out ("1.账单多扣了 2.合同怎么签", "一是…二是…", "第一…第二…"): each number after the first
# begins another issue.
_COUNT_FIRST = re.compile(r"(?:^|(?<=[\s，。；;,:：!！?？]))(?:1\s*[.、)）](?!\d)|①|一是|一、|第一|首先)")


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


def issue_text(snapshot: Snapshot, event: Event, deps: Deps) -> str:
    """The words of the issue being started: all told so far, up to where a second issue begins."""
    return split_issues(told_so_far(snapshot, event), deps)[0]


def classify(snapshot: Snapshot, event: Event, deps: Deps) -> Classification:
    """The category of the issue told so far, read from the client's words as written, venting included (anger
    is a complaint's evidence)."""
    written = event if event.said is None else replace(event, text=event.said)
    return deps.classifier.classify(issue_text(snapshot, written, deps))


def phrases(verdict: Classification) -> list[str]:
    """The matched rule phrases, each once, in the order they occur."""
    return list(dict.fromkeys(m.phrase for m in verdict.matched))


def ticket_classification(draft: Draft, deps: Deps, category: str) -> dict[str, Any]:
    """What the ticket's "classified" event says of how its category was decided."""
    known = draft.context.get("classified") or {}
    return {
        "matched": list(known.get("matched") or []),
        "confident": bool(known.get("confident", False)) and known.get("category") == category,
        "picked": bool(known.get("picked", False)),
        "rules_version": known.get("version", deps.classifier.version),
    }


def asking(snapshot: Snapshot, deps: Deps) -> SlotSpec | None:
    name = snapshot.context.get("asking")
    if snapshot.category is None or not name:
        return None
    return deps.forms.slot(snapshot.category, str(name))


# The details (by their `extract`) that an answer holding only a phone number, an e-mail address, a date, an outcome
# wanted or a project name is for.
_DETAILS_OF_KIND = {
    "phone": ("phone", "contact"),
    "email": ("contact",),
    "date": ("date",),
    "demand": ("demand",),
    "project": ("project",),
}
# Misplaced kinds of an answer to a date detail that says nothing of when: more of the issue's telling (added to
# its description), or anything else (asked once more for a time). Neither is another detail's value.
MORE_OF_ISSUE = "issue"
NO_TIME = "time"
# Context key: the detail asked once more because the answer was of another kind; the next such answer is taken.
OTHER_KIND_ASKED = "other_kind_asked"


def asks_contact(spec: SlotSpec | None) -> bool:
    """Whether the detail is a way to reach the client: a phone number, or a contact of any kind."""
    return spec is not None and (spec.validator == "phone" or spec.extract == "contact")


# What a message asked for a contact is when it gives none (see stray_at_contact): more of the issue's telling, or
# words that are neither ("王经理").
TELLING = "telling"
NO_CONTACT = "no_contact"
# Hanzi and Latin words of a message that is more of the issue than a contact, whatever its words: "上次的视频广告片尾
# 的二维码扫不出来" is, "找前台王姐就行" is not.
_TELLING_MIN_WORDS = 8
_WORD_UNITS = re.compile(r"[\u4e00-\u9fff]|[a-z0-9]+")


def stray_at_contact(snapshot: Snapshot, event: Event, deps: Deps) -> str | None:
    """Asked for a contact, a message with no phone number, e-mail address or account named as such, that names no
    channel ("就这个微信", "同上") and declines nothing: TELLING when it tells of the issue (words of one, or a
    sentence: "上次的视频广告片尾的二维码扫不出来"), NO_CONTACT when it is short words ("王经理") asked for a contact
    that may be anything (a phone number asked for says itself why words are none)."""
    spec = asking(snapshot, deps)
    if not asks_contact(spec) or snapshot.category is None or event.kind is not EventKind.MESSAGE:
        return None
    assert spec is not None
    acts = acts_of(event)
    # Questions, side remarks, refusals and corrections have rows of their own.
    if acts.pure or acts.edit is not None or acts.found & _NOT_STRAY or not has_words(event.text):
        return None
    if _contacts(_entities(event.text, deps.today)) or deps.lexicon.names_own_channel(event.text):
        return None
    if deps.lexicon.declines(event.text) or normalize(event.text).strip() in skip_words(deps):
        return None
    issue = issue_text_slot(snapshot.category, deps)
    told = issue is not None and bool(snapshot.slots.get(issue.name))
    if told and not _of_contact(event.text, deps) and tells_issue(event.text, deps):
        return TELLING
    return NO_CONTACT if spec.extract == "contact" else None


_NOT_STRAY = frozenset({Act.SKIP, Act.QUESTION, Act.DECLINE_CONTACT, Act.SIDE_MARKER, Act.NEW_ISSUE, Act.CLAIM})


def _of_contact(text: str, deps: Deps) -> bool:
    """Words about a way to reach the client ("电话就是我微信绑定的那个号码"): no more of the issue, however long."""
    return deps.lexicon.mentions_channel(text) or bool({"phone", "contact"} & set(field_mentions(text)))


def tells_issue(text: str, deps: Deps) -> bool:
    """Words of an issue by the rules ("数据不对"), or a sentence."""
    return _issue_words(text, deps) or len(_WORD_UNITS.findall(normalize(text))) >= _TELLING_MIN_WORDS


def _issue_words(text: str, deps: Deps) -> bool:
    # The rules' small talk ("哈哈", "在吗") is of the fallback category: no words of an issue.
    return any(m.category != FALLBACK_CATEGORY for m in deps.classifier.classify(text).matched)


@dataclass(frozen=True, slots=True)
class Misplaced:
    """An answer that is plainly another detail's value: its kind, and the empty detail it fills (if any)."""

    kind: str
    slot: str | None = None
    value: str = ""
    # The detail asked is left out, as if skipped: its answer was of another kind once more.
    leaves_out: bool = False


@kept_for_the_message
def misplaced_answer(snapshot: Snapshot, event: Event, deps: Deps) -> Misplaced | None:
    """The answer when it is only a phone number, an e-mail address or a date and the detail asked is words, only
    an outcome wanted and the detail asked is the project or a date, or only the project, named as the project.

    "上周三" asked for the project fills the start date when that is still empty; else the project is asked once
    more, and a second answer of the kind is taken as it stands. A campaign named for a festival ("双十一") or a
    deadline given as the outcome wanted ("下周一") is an answer. An answer to the start date that says nothing of
    when is never taken as the start date (`_not_when`).
    """
    spec = asking(snapshot, deps)
    if spec is None or snapshot.category is None or event.kind is not EventKind.MESSAGE:
        return None
    if spec.validator == "phone" and sole_demand(event.text):
        # "please send a corrected invoice" asked for the phone is the outcome wanted, not a wrong number.
        return _elsewhere(snapshot, event, deps, spec, "demand")
    if spec.validator != "text":
        return None
    if spec.extract != "project" and (named := labelled_project(event.text)) is not None:
        # "项目是双十一那个" asked for the outcome names the project, whatever the form held for it before.
        project = next((o.name for o in deps.forms.slots(snapshot.category) if o.extract == "project"), None)
        if project is not None:
            return Misplaced("project", project, named)
    kind = sole_entity(event.text, deps.today)
    if kind is None and stray_at_contact(snapshot, event, deps) == NO_CONTACT:
        # "王经理" asked for a contact: asked once more, with what a contact is; a second such answer stands.
        return None if snapshot.context.get(OTHER_KIND_ASKED) == spec.name else Misplaced(NO_CONTACT)
    if kind is None and spec.extract in ("project", "date") and sole_demand(event.text):
        # "重新印刷并承担费用" asked for the project or the start date is the outcome wanted.
        return _elsewhere(snapshot, event, deps, spec, "demand")
    if kind is None and spec.extract == "date":
        return _not_when(snapshot, event, deps, spec)
    if kind is None or spec.extract in _DETAILS_OF_KIND[kind] or _own_answer(spec, kind, event.text, deps):
        return None
    return _elsewhere(snapshot, event, deps, spec, kind)


def _not_when(snapshot: Snapshot, event: Event, deps: Deps, spec: SlotSpec) -> Misplaced | None:
    """An answer to a date detail that says nothing of when (no date, no "一直这样", no "不记得了").

    A project named alone ("春季新品传单") goes to the project when that is empty or only guessed; more of the issue
    ("传单上的电话也印错了") is added to its description; anything else is asked about once more. Asked once more,
    words that still say nothing of when are kept with the issue's description and the date is left out: a start
    date holds a time or nothing.
    """
    assert snapshot.category is not None
    checked = read_slot(spec, event.text, deps)
    if checked.error is not None or not checked.value or not has_words(event.text) or says_when(event.text):
        # Left out ("跳过"), or an answer.
        return None
    if _sole_project(event.text, deps.today) is not None and (
        placed := _elsewhere(snapshot, event, deps, spec, "project")
    ):
        return placed
    again = snapshot.context.get(OTHER_KIND_ASKED) == spec.name
    issue = issue_text_slot(snapshot.category, deps)
    if issue is None:
        return None if again else Misplaced(NO_TIME)
    if again or _tells_issue(snapshot.category, event.text, deps):
        told = f"{snapshot.slots.get(issue.name) or ''} {event.text.strip()}".strip()
        return Misplaced(MORE_OF_ISSUE, issue.name, told[: issue.max_length], leaves_out=again)
    return Misplaced(NO_TIME)


def _tells_issue(category: str, text: str, deps: Deps) -> bool:
    """Whether the words tell of an issue of the category ("电话也印错了" of a complaint), by its rules."""
    return any(m.category == category and m.weight > 0 for m in deps.classifier.classify(text).matched)


def _elsewhere(snapshot: Snapshot, event: Event, deps: Deps, spec: SlotSpec, kind: str) -> Misplaced | None:
    """The open detail an answer of `kind` fills; else the detail asked (`spec`) is asked once more, then the
    answer is taken as said."""
    assert snapshot.category is not None
    for other in deps.forms.slots(snapshot.category):
        if other.extract in _DETAILS_OF_KIND[kind] and _open(snapshot, other, deps):
            value = extract_slots(snapshot.category, event.text, deps, snapshot.language).get(other.name)
            if kind == "demand":
                # An order with no "要" before it is no demand in passing, but is one said as an answer.
                value = value or event.text.strip()
                before = str(snapshot.slots.get(other.name) or "")
                # What the detail held stays, the outcome now said after it; said again, it adds nothing.
                value = "" if value in before else "；".join(filter(None, (before, value)))
            if value:
                return Misplaced(kind, other.name, value)
    return None if snapshot.context.get(OTHER_KIND_ASKED) == spec.name else Misplaced(kind)


def _open(snapshot: Snapshot, spec: SlotSpec, deps: Deps) -> bool:
    """Whether a detail may take a value given elsewhere: it holds nothing, or only what stands for none. A start
    date with no day in it ("不记得了", or words taken as said) gives way to a day; a project the bot guessed from
    the issue's telling ("开业海报" of "开业海报印错了") to one the client names."""
    value = snapshot.slots.get(spec.name)
    if not value:
        return True
    if spec.extract == "date":
        return not _entities(str(value), deps.today).dates
    if spec.extract == "demand":
        # An outcome said later adds to the answer given ("差了大概三成吧" then "希望你们核实一下给个解释").
        return True
    if spec.extract == "project" and snapshot.category is not None:
        issue = issue_text_slot(snapshot.category, deps)
        told = _entities(str(snapshot.slots.get(issue.name) or ""), deps.today) if issue is not None else None
        return told is not None and told.project is None and told.project_guess == value
    return False


def _own_answer(spec: SlotSpec, kind: str, text: str, deps: Deps) -> bool:
    found = _entities(text, deps.today)
    if spec.extract == "project":
        return found.project is not None
    # Today or later is no start date: "今天", "下周一" asked for the outcome say by when.
    return spec.extract == "demand" and kind == "date" and all(d.day >= deps.today for d in found.dates)


def filled_after(snapshot: Snapshot, event: Event, deps: Deps) -> dict[str, Any]:
    """The details once this message is read: the answer to the detail asked, and any other it carries."""
    assert snapshot.category is not None
    filled = dict(snapshot.slots)
    spec = asking(snapshot, deps)
    misplaced = misplaced_answer(snapshot, event, deps)
    edit = acts_of(event).edit
    if misplaced is not None:
        if misplaced.slot is not None:
            filled[misplaced.slot] = misplaced.value
        if misplaced.leaves_out and spec is not None:
            filled[spec.name] = None
    # A correction of another detail ("电话写错了，应该是139…") is no answer to the one asked: it is asked again.
    elif spec is not None and edit is None and (event.text.strip() or event.kind is EventKind.BUTTON):
        answer = answer_text(event, spec, snapshot.category, deps, snapshot.language)
        checked = read_slot(spec, answer, deps, answered=True)
        if checked.error is None:
            filled[spec.name] = checked.value
            if spec.name not in FREE_TEXT:
                filled.update(told_with_answer(snapshot.category, spec, event.text, filled, deps, snapshot.language))
    if event.kind is EventKind.MESSAGE:
        for name, value in extract_slots(snapshot.category, event.text, deps).items():
            filled.setdefault(name, value)
    if edit is not None and edit[1]:
        filled[edit[0]] = edit[1]
    return filled


# The choice that takes what no other choice's words point to.
OTHER_CHOICE = "other"

# The details whose answer is free text: any question the client asks there is his answer.
FREE_TEXT = frozenset({"description", "question", "proposal"})


def rating_of(event: Event) -> int:
    if "rating" in event.data:
        return int(event.data["rating"])
    score = acts_of(event).score
    return score if score is not None else 5


def skip_words(deps: Deps) -> frozenset[str]:
    return normalized_words(deps.settings.skip_words)


def normalized_words(words: Sequence[str]) -> frozenset[str]:
    """A setting's word list, normalized as messages are."""
    return _normalized(tuple(words))


@lru_cache(maxsize=16)
def _normalized(words: tuple[str, ...]) -> frozenset[str]:
    # The same few words every turn: normalized once, not at every answer read.
    return frozenset(normalize(w) for w in words)


def answer_text(event: Event, spec: SlotSpec, category: str, deps: Deps, lang: str) -> str:
    """A choice button answers with its label, and so do words that point to one choice only ("投放吧", "想了解你们
    代运营的套餐" asked for the topic: 报价与合同, the words being the question); anything else answers with the
    message text."""
    choice: str | None = None
    if event.button and event.button.startswith(CHOICE_PREFIX):
        choice = event.button[len(CHOICE_PREFIX) :]
    elif spec.extract == "topic" and event.text.strip():
        choice = deps.forms.topic_of(category, spec.name, normalize(event.text))
    if choice is not None and choice in spec.choices:
        return deps.texts.get(f"slots.{category}.{spec.name}.choices.{choice}", lang)
    return event.text


@lru_cache(maxsize=512)
def _entities(text: str, today: date) -> Entities:
    # Guards and the action of one turn read the same message several times.
    return extract(text, today)


@lru_cache(maxsize=512)
def _sole_project(text: str, today: date) -> str | None:
    # Read by the guards and the action of one turn alike, as `_entities`.
    return sole_project(text, today)


def _contacts(found: Entities) -> tuple[str, ...]:
    """The ways to reach the client a message gives, the first the likeliest: phones, e-mail, accounts."""
    return found.phones + found.emails + found.handles


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
        elif spec.extract == "contact" and (contacts := _contacts(found)):
            value = contacts[0]
        elif spec.extract == "date" and (started := [d for d in found.dates if d.day <= deps.today and not d.deadline]):
            # A day ahead, or one said as a deadline, says by when, not since when ("下周一前给答复", "周五之前改好").
            value = _date_value(started[0])
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


# "是春季招聘", "应该是上周五", "it's Spring Launch": the copula before an answer is no part of the detail.
_ANSWER_LEAD = re.compile(r"(?:应该是|就是|是|叫做|叫)(?![不否的吗吧啊呀])\s*[:：]?\s*|(?:it's|it is|it was)\s+", re.I)


# "项目：年货节": a colon after the field's own word.
_LABEL_COLON = re.compile(r"\s*[:：]\s*")


def _without_lead(spec: SlotSpec, value: str) -> str:
    # "项目叫年货节", "项目：年货节": the field's own word goes with the copula, not without it ("活动页面").
    label = label_end(value, spec.name)
    after = value[label:]
    lead = _ANSWER_LEAD.match(after) or (_LABEL_COLON.match(after) if label else None)
    if lead is None:
        return value
    rest = after[lead.end() :]
    return rest if len(rest) >= max(2, spec.min_length) else value


# An answer corrected as it is given: "上周五，不对，是上周四", "双11的那个，哦不对，是国庆的", "139… sorry 138…".
_SELF_CORRECTED = re.compile(
    r"^(?P<first>.+?)(?:[，,。;；!！\s]+(?:哦|啊|呃|噢|哎)?|哦|啊|呃|噢|哎)\s*"
    r"(?:不对|说错了|写错了|打错了|错了|sorry|no wait|i mean)[，,。;；:：!！\s]*(?:应该是|是)?\s*(?P<then>\S.*)$",
    re.I,
)


def read_slot(spec: SlotSpec, answer: str, deps: Deps, *, answered: bool = False) -> Validated:
    """The value of one detail from the client's answer: the number in "王女士 13811113333", the address in "邮箱是
    a@b.com", the words otherwise (without "项目是" before them), what follows a correction made in the answer."""
    if spec.name not in FREE_TEXT and (corrected := _SELF_CORRECTED.match(answer.strip())) is not None:
        answer = corrected["then"]
    if normalize(answer).strip() not in skip_words(deps):
        if spec.validator == "phone" and (phones := find_phones(answer)):
            return Validated(phones[0])
        # "邮箱是 zhang@acme.com 谢谢": the address, as a number is the phone.
        contacts = _contacts(_entities(answer, deps.today)) if spec.extract == "contact" else ()
        if contacts:
            return Validated(contacts[0])
    if not spec.required and deps.lexicon.declines(answer):
        # "不知道啊你们查", "这个不重要": the detail is left out.
        return Validated(None)
    checked = validate(spec, answer, skip_words(deps))
    if checked.error is None and checked.value and answered and spec.name not in FREE_TEXT:
        checked = Validated(_without_lead(spec, checked.value))
    if checked.error is None and checked.value and spec.extract == "date" and answered:
        dates = _entities(answer, deps.today).dates
        if dates and dates[0].text != checked.value:
            return Validated(f"{checked.value} ({dates[0].day.isoformat()})")
    return checked


# Punctuation and particles left around what a first message names without asking ("咨询一下投放的事").
_SAYS_NOTHING = " ,.!?。，！？的事情下一吧呀啊了"


def _usable_first_text(spec: SlotSpec, first_text: str, deps: Deps, category: str) -> bool:
    text = first_text.strip()
    if spec.name in FREE_TEXT:
        # "咨询一下投放的事" names the category and the topic but asks nothing yet.
        substance = deps.lexicon.without_claims(normalize(text))
        # "我想咨询下", "想问个问题": words that announce a question without asking it.
        if not deps.lexicon.without_openers(substance).strip(_SAYS_NOTHING + "请个"):
            return False
        for other in deps.forms.slots(category):
            for words in other.cues.values():
                for word in words:
                    substance = substance.replace(word, "")
        if len(substance.strip(_SAYS_NOTHING)) < 4:
            return False
    if len(text) >= deps.settings.prefill_min_chars:
        return True
    # A short question ("发票能开吗？") is the question itself; a lone word ("发票") is only its topic.
    return spec.name in FREE_TEXT and len(text) >= max(spec.min_length, 4) and deps.lexicon.is_question(text)


def prefilled(snapshot: Snapshot, category: str, first_text: str, deps: Deps) -> dict[str, Any]:
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


def given_over(snapshot: Snapshot, category: str, name: str, slots: dict[str, Any], deps: Deps) -> bool:
    """Whether the detail may take a value the client's words give: it holds none, or only the phone on record it
    was prefilled with (the number or address he gives now is the one he wants to be reached at)."""
    if not slots.get(name):
        return name not in slots
    spec = deps.forms.slot(category, name)
    return spec.prefill == "client.phone" and snapshot.client_phone is not None and slots[name] == snapshot.client_phone


# Context key: the turn at which the bot asked the client what to change at the confirmation.
WHAT_TO_CHANGE = "what_to_change_turn"
# Context key: the turn at which the client chose to change something and was shown the details to pick from.
CHOOSING_CHANGE = "choosing_change_turn"


def marked_last_turn(snapshot: Snapshot, key: str) -> bool:
    """Whether the context key `key` holds the client's previous turn: what it marks happened just before this."""
    marked = snapshot.context.get(key)
    return marked is not None and int(marked) == int(snapshot.context.get("turn", 0)) - 1


def just_chose_to_change(snapshot: Snapshot) -> bool:
    """Whether the client's last message chose "修改" at the summary (the bot then listed the details).

    After "不对" the bot asks what is wrong, and a "对" then reads as "it is right after all"; after the client chose
    to change something, a "对" more likely says yes to changing.
    """
    return marked_last_turn(snapshot, CHOOSING_CHANGE)


def issue_text_slot(category: str, deps: Deps) -> SlotSpec | None:
    """The detail that holds the issue in the client's own words (the one the first message fills)."""
    return next((spec for spec in deps.forms.slots(category) if spec.prefill == "first_message"), None)


def picked_category(event: Event) -> str:
    category = (event.button or "")[len(CATEGORY_PREFIX) :]
    return category if category in CATEGORIES else "other"


def first_text_after_pick(snapshot: Snapshot) -> str:
    if snapshot.state in {State.NEW, State.CLOSED}:
        return ""
    return str(snapshot.context.get("issue_text") or snapshot.context.get("first_text") or "")


def prefills_all(category: str, first_text: str, snapshot: Snapshot, deps: Deps) -> bool:
    return deps.forms.next_missing(category, prefilled(snapshot, category, first_text, deps)) is None


def shared_slots(snapshot: Snapshot, category: str, deps: Deps) -> dict[str, Any]:
    """The details given so far that the other category's form has too."""
    names = {s.name for s in deps.forms.slots(category)}
    return {k: v for k, v in snapshot.slots.items() if k in names}


@kept_and_copied(dict)
def switched_slots(snapshot: Snapshot, event: Event, claim: str, deps: Deps) -> dict[str, Any]:
    """The new category's details: those of the old form that it shares, then what the client's words give."""
    kept = shared_slots(snapshot, claim, deps)
    first_text = str(snapshot.context.get("first_text") or "")
    # "这是complaint！已经两周没收到周报了": what the objection adds to the issue belongs to its description.
    added = deps.lexicon.without_claims(normalize(event.text)).strip(" ,.!?。，！？~～")
    if len(added) >= 4:
        first_text = f"{first_text} {event.text}".strip()
    for name, value in prefilled(snapshot, claim, first_text, deps).items():
        kept.setdefault(name, value)
    return kept


# In the "classified" record of the context: the issue moved once to the category its first description is of;
# the client named the category in words, or a forced rule decided it, though the bot classified the message.
DESCRIBED = "described"
SETTLED = "settled"


def described_category(snapshot: Snapshot, event: Event, deps: Deps) -> str | None:
    """The category the client's first description of the issue is confidently of, when the bot chose another.

    The first description is the message that gives the form's detail for the issue in the client's own words
    (asked for it, or for another detail such as the topic), before any summary; the issue moves once at most. A
    category the client chose himself (a button, a number, its name) or a forced rule decided stays as it is.
    """
    category = snapshot.category
    if snapshot.state is not State.COLLECTING or category is None or event.kind is not EventKind.MESSAGE:
        return None
    classified = snapshot.context.get("classified") or {}
    if classified.get("picked") is not False or classified.get(SETTLED) or classified.get(DESCRIBED):
        return None
    issue = issue_text_slot(category, deps)
    if issue is None or snapshot.slots.get(issue.name) or snapshot.context.get("summary_shown"):
        return None
    verdict = classify(snapshot, event, deps)
    if not verdict.confident or verdict.category == category:
        return None
    return verdict.category if filled_after(snapshot, event, deps).get(issue.name) else None


def described_slots(snapshot: Snapshot, event: Event, category: str, deps: Deps) -> dict[str, Any]:
    """The details of the category a first description moves the issue to (`moved_slots` of the description)."""
    return moved_slots(snapshot, category, event.text, deps)


def moved_slots(snapshot: Snapshot, category: str, told: str, deps: Deps) -> dict[str, Any]:
    """The details of the category the issue moves to: those of the old form it shares, `told` as that form's words
    for the issue, and what else `told` gives."""
    slots = shared_slots(snapshot, category, deps)
    spec = issue_text_slot(category, deps)
    if spec is not None:
        checked = read_slot(spec, told, deps, answered=True)
        if checked.error is None and checked.value:
            slots[spec.name] = checked.value
    for name, value in prefilled(snapshot, category, told, deps).items():
        slots.setdefault(name, value)
    return slots


@dataclass(frozen=True, slots=True)
class Continued:
    """The issue once more of its telling is added: the category it is in then, and its details."""

    category: str
    slots: dict[str, Any]
    moved: bool
    # Told in answer to the question asked (a contact), not sent on before it could be read.
    prompted: bool = False


def _handed(more: Continued | None) -> Continued | None:
    return None if more is None else replace(more, slots=dict(more.slots))


def _goes_on_telling(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    """Words of an issue ("数据不对", "logo印错了") sent right after the message that told it, quicker than the
    question asked meanwhile can be read and answered; at the summary, whenever they come."""
    acts = acts_of(event)
    if event.kind is not EventKind.MESSAGE or acts.pure or acts.edit is not None or not has_words(event.text):
        return False
    # Asked for a contact, the client tells more of the issue ("上次的视频广告片尾的二维码扫不出来"): no contact.
    if stray_at_contact(snapshot, event, deps) == TELLING:
        return True
    if not _issue_words(event.text, deps):
        return False
    return in_burst(snapshot, event, deps) or snapshot.state is State.CONFIRMING


def in_burst(snapshot: Snapshot, event: Event, deps: Deps) -> bool:
    """Sent within `fragment_seconds` of the client's previous message, which told the issue. Not through answers
    sent as quickly after it: a client who answers every question at once would have each answer that holds words
    of an issue ("改回原排期") read as more of the telling."""
    gap = event.data.get(GAP)
    return marked_last_turn(snapshot, TOLD_TURN) and gap is not None and float(gap) <= deps.settings.fragment_seconds


@kept_and_copied(_handed)
def continued_issue(snapshot: Snapshot, event: Event, deps: Deps) -> Continued | None:
    """More of the issue's telling, sent as messages of its own ("我们上周投放的那个朋友圈广告", "数据不对"): added to
    the issue's text, with what it carries; an issue the bot filed on its own goes where the whole telling reads
    when they came at once.

    Not when it answers the detail asked by its kind (a phone number asked for the phone, a topic's word).
    """
    category = snapshot.category
    if category is None or snapshot.state not in {State.COLLECTING, State.CONFIRMING}:
        return None
    spec = issue_text_slot(category, deps)
    if spec is None or not snapshot.slots.get(spec.name) or not _goes_on_telling(snapshot, event, deps):
        return None
    asked = asking(snapshot, deps)
    found = extract_slots(category, event.text, deps, snapshot.language, guesses=False)
    # Even a guess of the detail asked ("周年庆的那个" for the project) makes the message its answer.
    read = extract_slots(category, event.text, deps, snapshot.language)
    if asked is not None and (asked.name == spec.name or asked.name in read):
        return None
    misplaced = misplaced_answer(snapshot, event, deps)
    if misplaced is not None and misplaced.kind not in (MORE_OF_ISSUE, NO_TIME):
        # Another detail's value; words that are no answer to the date asked may still go on telling the issue.
        return None
    if snapshot.state is State.CONFIRMING and any(snapshot.slots.get(k) != v for k, v in found.items()):
        # A detail given at the summary changes that detail (adds_details).
        return None
    told = f"{snapshot.slots[spec.name]} {event.text.strip()}"
    classified = snapshot.context.get("classified") or {}
    verdict = deps.classifier.classify(told)
    chosen = classified.get("picked") is False and not classified.get(SETTLED) and not classified.get(DESCRIBED)
    burst = in_burst(snapshot, event, deps)
    prompted = not burst and stray_at_contact(snapshot, event, deps) == TELLING
    if prompted and category == FALLBACK_CATEGORY and not (verdict.confident and verdict.category != category):
        # Filed under "other" for want of words ("在吗，我是小王，有点事"): the issue is in the new words alone.
        verdict = deps.classifier.classify(event.text)
    # Only words sent with the first ones move the issue: a remark at the summary a while later ("价格太贵了" under
    # an inquiry) is added to it, the category the client saw stays. So do the first words of an issue the bot put
    # under "other", told when asked for a contact.
    moves = burst or (prompted and category == FALLBACK_CATEGORY)
    if chosen and verdict.confident and verdict.category != category and moves:
        return Continued(verdict.category, moved_slots(snapshot, verdict.category, told, deps), moved=True)
    slots = {**snapshot.slots, spec.name: told}
    for name, value in extract_slots(category, told, deps, snapshot.language).items():
        slots.setdefault(name, value)
    return Continued(category, slots, moved=False, prompted=prompted)


def free_text_answers(category: str, text: str, filled: dict[str, Any], deps: Deps) -> dict[str, Any]:
    """An answer that says the whole matter ("抖音开屏春节期间多少钱" asked for the topic) is the question too."""
    found: dict[str, Any] = {}
    for spec in deps.forms.slots(category):
        if spec.name in FREE_TEXT and spec.name not in filled and _usable_first_text(spec, text, deps, category):
            checked = validate(spec, text.strip(), set())
            if checked.error is None:
                found[spec.name] = checked.value
    return found


# What an answer to a choice holds beside the choice's words and still says nothing more ("关于报价方面的问题").
_CHOICE_FILLERS = re.compile(
    r"关于|方面|相关|问题|这块|那块|这个|那个|一下|咨询|想问|就是|主要|其他|别的|about|regarding|question|the|[的了吧啊呢哈呀嘛类是吗]"
    r"|[\W\d_]"
)
# Characters beside the choice's words that make an answer say more than its choice.
_MORE_THAN_CHOICE = 4


def _tells_beyond_choice(category: str, spec: SlotSpec, text: str, deps: Deps, lang: str) -> bool:
    """Whether an answer to a choice says more than which choice it is: words that are no cue, label or filler."""
    rest = deps.forms.without_cues(category, spec.name, normalize(text))
    for choice in spec.choices:
        rest = rest.replace(normalize(deps.texts.get(f"slots.{category}.{spec.name}.choices.{choice}", lang)), " ")
    return len(_CHOICE_FILLERS.sub("", rest)) >= _MORE_THAN_CHOICE


def told_with_answer(
    category: str, spec: SlotSpec, text: str, filled: Mapping[str, Any], deps: Deps, lang: str
) -> dict[str, Any]:
    """The free-text details an answer to another detail tells as well, and that detail again where the answer was
    the question itself with no word of any of its choices in it ("你们公司在哪" asked for the topic: "other", not
    the question's words again; words of two topics stay the client's own)."""
    told = free_text_answers(category, text, dict(filled), deps)
    issue = issue_text_slot(category, deps)
    if (
        spec.extract == "topic"
        and issue is not None
        and issue.name not in told
        and filled.get(issue.name)
        and _tells_beyond_choice(category, spec, text, deps, lang)
    ):
        # "美妆类的，预算五万左右" asked which topic: the topic (pricing), and more of the question it was asked about.
        told[issue.name] = f"{filled[issue.name]} {text.strip()}"
    if (
        told
        and str(filled.get(spec.name, "")).strip() == text.strip()
        and spec.extract == "topic"
        and OTHER_CHOICE in spec.choices
        and not deps.forms.cued(category, spec.name, normalize(text))
    ):
        told[spec.name] = deps.texts.get(f"slots.{category}.{spec.name}.choices.{OTHER_CHOICE}", lang)
    return told


def ticket_details(draft: Draft, deps: Deps, category: str) -> dict[str, Any]:
    """The ticket's details: the issue in the client's words first (the desk titles the ticket after the first one,
    never a phone number), the form's other details in its order, then what else the client told."""
    issue = issue_text_slot(category, deps)
    names = [*([issue.name] if issue else []), *(s.name for s in deps.forms.slots(category))]
    order = {name: i for i, name in enumerate(dict.fromkeys(names))}
    details: dict[str, Any] = dict(sorted(draft.slots.items(), key=lambda item: order.get(item[0], len(order))))
    if draft.context.get("first_text"):
        details["first_message"] = draft.context["first_text"]
    if draft.context.get("side_questions"):
        details["side_questions"] = list(draft.context["side_questions"])
    if draft.context.get("evidence"):
        details["evidence"] = list(draft.context["evidence"])
    if draft.context.get(CALL_BACK):
        details[CALL_BACK] = True
    return details
