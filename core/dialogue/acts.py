"""Dialogue acts: what a client message does (affirm, deny, cancel, ask for a person…), read before any detail."""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import ahocorasick

from core.dialogue.classifier import normalize
from core.dialogue.folding import bare_message
from core.dialogue.hanzi import traditional_spellings
from core.dialogue.introductions import Introduction, Introductions
from core.errors import ConfigError
from core.settings import DEFAULT_CONFIG_DIR, DialogueSettings
from core.yaml_files import safe_load


class Act(enum.StrEnum):
    """The acts a client message can perform; several may hold at once ("不对，电话写错了…" denies and edits)."""

    AFFIRM = "affirm"
    DENY = "deny"
    CANCEL = "cancel"
    HANDOFF = "handoff"
    # "call me", "打电话给我": a person is asked for unless the message gives the number (see reading.recognize).
    CALL_BACK = "call_back"
    STATUS = "status"
    # "要多久能处理好", "how long will this take": how long the agency takes to answer or to resolve. Also a status
    # question: where a ticket exists, its own deadlines answer it (see ActLexicon.recognize).
    TIMING = "timing"
    GREETING = "greeting"
    THANKS = "thanks"
    BOT_QUESTION = "bot_question"
    DECLINE_CONTACT = "decline_contact"
    # "等一下我查一下": the answer is on its way, the client went to look it up.
    HOLD = "hold"
    SIDE_MARKER = "side_marker"
    # "还有个事…": another issue than the one being handled or filed.
    NEW_ISSUE = "new_issue"
    # "补充一下…": more about the issue already filed.
    ADDITION = "addition"
    # "你们几点下班", "周六有人吗", "what time do you close": when the agency works, answered from its calendar.
    HOURS = "hours"
    QUESTION = "question"
    SCORE = "score"
    CLAIM = "claim"
    SKIP = "skip"
    # A correction of one detail ("电话写错了，应该是…"); recognised against the form, see actions.recognize.
    EDIT = "edit"
    # Insults, swearing, anger ("垃圾公司", "滚", "what the hell"): see Acts.only_venting for a message of nothing else.
    VENT = "vent"


# Acts whose phrases live in config/acts.yaml under `acts:`.
_PHRASE_ACTS = (
    Act.AFFIRM,
    Act.DENY,
    Act.CANCEL,
    Act.HANDOFF,
    Act.CALL_BACK,
    Act.STATUS,
    Act.TIMING,
    Act.GREETING,
    Act.THANKS,
    Act.BOT_QUESTION,
    Act.DECLINE_CONTACT,
    Act.HOLD,
    Act.SIDE_MARKER,
    Act.NEW_ISSUE,
    Act.ADDITION,
    Act.HOURS,
    Act.VENT,
)
# Acts that say nothing of an issue: words beside another act's phrase may be these ("您好，请问几点下班").
SMALL_TALK = frozenset({Act.GREETING, Act.THANKS, Act.AFFIRM})
ALONE = "alone"
# A greeting's hit that is the client's introduction of himself ("我是XX品牌的小王"), found by its pattern.
INTRODUCTION = "introduction"
# The kind of words that are no act, though an act's phrase is inside them: they only keep it from matching.
PLAIN = "plain"
# A phrase that counts only when it opens the message, set apart ("还有，…", "then …"): inside a sentence it is
# an ordinary word ("还有点问题").
LEADING = "leading"
# A phrase that counts only in a clause that asks for it and nothing else ("工作时间？", "你们的工作时间是几点到
# 几点"): inside a sentence that tells something it is an ordinary word ("上班时间打电话没人接").
TOPIC = "topic"
_PHRASE_LISTS = ("phrases", "alone_phrases", "leading_phrases", "topic_phrases")
_PHRASE_KINDS = frozenset(a.value for a in _PHRASE_ACTS)
# "5分" is a score, "5分钟" is a duration; "25分" and "3.5分" are not 5. Clients also score out of ten ("打10分",
# "8分", "9/10") or give a hundred as full marks ("100分"); "十分满意" is "very satisfied", no ten.
_SCORE_DIGITS = re.compile(
    r"(?:打\s*)?(?<![\d.])(100|10|[1-9]|[一二三四五六七八九])\s*(?:(分)(?!钟)|(星|颗星|stars?\b|/\s*5\b)|(/\s*10\b))"
)
_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


@dataclass(frozen=True, slots=True)
class Acts:
    """The acts found in one message, with what they carry (a score, a claimed category)."""

    found: frozenset[Act]
    # The message says nothing but acts and fillers ("好的提交吧", "嗯 没事了 谢谢").
    pure: bool = False
    score: int | None = None
    claim: str | None = None
    # A correction of one detail of the form: (detail name, new value), e.g. ("phone", "13922223334").
    edit: tuple[str, str] | None = None
    # The message vents and says nothing else ("垃圾公司", "你们是不是有病啊"): no detail, no yes, no change.
    only_venting: bool = False

    def __contains__(self, act: object) -> bool:
        return act in self.found

    def to_json(self) -> dict[str, Any]:
        return {
            "found": sorted(self.found),
            "pure": self.pure,
            "score": self.score,
            "claim": self.claim,
            "edit": list(self.edit) if self.edit else None,
            "only_venting": self.only_venting,
        }


NO_ACTS = Acts(frozenset())
# Acts each lexicon keeps by message text: a few hundred short messages.
ACTS_KEPT = 256


@dataclass(frozen=True, slots=True)
class _Hit:
    start: int
    end: int  # exclusive
    kind: str  # an Act value, "claim", "negclaim" or "score"
    value: str


def _phrase(value: object) -> str:
    # YAML reads a bare yes / no / on as a boolean: a phrase must be written in quotes then.
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ConfigError(f"act phrase {value!r} is not text: quote it in config/acts.yaml")
    return str(value)


def _is_word(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _with_traditional(phrases: Iterable[str]) -> tuple[str, ...]:
    forms: list[str] = []
    for form, spellings in traditional_spellings(normalize(phrase) for phrase in phrases).items():
        forms.extend(f for f in (form, *(normalize(t) for t in spellings)) if f not in forms)
    return tuple(forms)


def _strings(raw: Mapping[str, Any], key: str) -> list[str]:
    """A list of phrases; YAML reads a bare no, yes, on or off as true or false, which no client ever wrote."""
    values = list(raw.get(key) or ())
    if not all(isinstance(v, str) for v in values):
        raise ConfigError(f"{key}: expected phrases as text (quote yes, no, on and off)")
    return values


class ActLexicon:
    """The phrases of every act (config/acts.yaml), compiled into one automaton; immutable, so the acts of the
    latest messages are kept and handed out again ("好的", "对" come in every conversation)."""

    def __init__(self, raw: Mapping[str, Any], settings: DialogueSettings | None = None) -> None:
        """Compile `raw` (the shape of config/acts.yaml) with the settings' handoff and skip words."""
        dialogue = settings or DialogueSettings()
        handoff_exact, handoff_contains = dialogue.handoff_exact, dialogue.handoff_contains
        skip_words = dialogue.skip_words
        if not isinstance(raw.get("acts") or {}, Mapping):
            raise ConfigError("acts: expected a mapping of act names to phrases")
        acts = raw.get("acts") or {}
        self.max_other = int(raw.get("alone_max_other", 2))
        self.fillers = frozenset(str(raw.get("fillers", "")))
        # Side markers that, as the whole message, mark nothing and say yes ("对了" alone is "right").
        whole = [normalize(p) for p in _strings(raw, "affirm_when_whole")]
        spelled = traditional_spellings(whole)
        self.affirm_when_whole = frozenset(s for w in whole for s in (w, *(normalize(t) for t in spelled[w])))
        # A "no" that, as the whole answer to a detail that may be left out, leaves it out.
        self.skip_when_optional = frozenset(_with_traditional(_strings(raw, "skip_when_optional")))
        # Words by which a status question points at something filed before ("之前提交的工单", "my ticket").
        self._filed_words = _words_pattern(_with_traditional(_strings(raw, "filed_words")))
        self._staff_change = _words_pattern(_with_traditional(_strings(raw, "staff_change")))
        self._named_contact = _named_contact_pattern(raw.get("named_contact") or {})
        for name, spec in acts.items():
            if name not in _PHRASE_KINDS:
                raise ConfigError(f"acts: unknown act {name!r}; known: {', '.join(sorted(_PHRASE_KINDS))}")
            if not isinstance(spec or {}, Mapping) or not all(
                isinstance((spec or {}).get(key, []), list) for key in _PHRASE_LISTS
            ):
                raise ConfigError(f"acts.{name}: expected {', '.join(_PHRASE_LISTS)} as lists")
        self.alone = frozenset(Act(name) for name, spec in acts.items() if (spec or {}).get("alone"))
        if not isinstance(raw.get("introduction") or {}, Mapping):
            raise ConfigError("introduction: expected a mapping of word lists")
        self._introductions = Introductions(raw.get("introduction") or {})
        channel = raw.get("own_channel") or {}
        if not isinstance(channel, Mapping):
            raise ConfigError("own_channel: expected words and alongside as lists")
        self._channel_words = _words_pattern(_with_traditional(_strings(channel, "words")))
        self._channel_alongside = _words_pattern(_with_traditional(_strings(channel, "alongside")))
        question = raw.get("question") or {}
        self.question_marks = tuple(normalize(str(m)) for m in question.get("marks", ()))
        self.question_endings = _with_traditional(str(m) for m in question.get("endings", ()))
        self.question_openings = _with_traditional(str(m) for m in question.get("openings", ()))
        # After a side marker, words that ask wherever they stand ("对了发票开了没", "另外想知道报价单什么时候发").
        self._aside_asking = _words_pattern(normalize(w) for w in _with_traditional(_strings(question, "aside")))
        # (phrase, kind, value); value "alone" marks a phrase that counts only in a message of acts alone
        # ("人工" is a request for a person, "人工智能广告" is not).
        entries: list[tuple[str, str, str]] = []
        # Venting is matched on its own: its words ("垃圾", "差劲") are scores at the satisfaction prompt, and around
        # a yes they are more than the yes ("好的，废物" is no "好的").
        venting: list[tuple[str, str, str]] = []
        for name, spec in acts.items():
            act = Act(name)
            into = venting if act is Act.VENT else entries
            into.extend((_phrase(p), act.value, "") for p in (spec or {}).get("phrases", ()))
            into.extend((_phrase(p), act.value, ALONE) for p in (spec or {}).get("alone_phrases", ()))
            into.extend((_phrase(p), act.value, LEADING) for p in (spec or {}).get("leading_phrases", ()))
            into.extend((_phrase(p), act.value, TOPIC) for p in (spec or {}).get("topic_phrases", ()))
        entries.extend((str(p), Act.HANDOFF.value, "") for p in handoff_contains)
        entries.extend((str(p), Act.HANDOFF.value, ALONE) for p in handoff_exact)
        # Skip words count only on their own ("跳过", "无"), so they are an act of the whole message.
        self.skip_words = frozenset(normalize(w) for w in skip_words)
        # Such a "no" with words beside it that add nothing ("不知道啊你们查", "nope, thanks").
        # ("不" alone declines only as the whole answer: beside other words it is a negation, "不是", "不对".)
        self._declining = _words_pattern(p for p in self.skip_when_optional | self.skip_words if len(p) > 1)
        self._declining_alongside = _words_pattern(_with_traditional(_strings(raw, "skip_alongside")))
        for category, phrases in (raw.get("claims") or {}).items():
            entries.extend((str(p), "claim", str(category)) for p in phrases)
        # Each category's own words ("咨询", "complaint"): a message names the category by them outside a claim too.
        self.category_words = {
            str(category): _with_traditional(str(w) for w in words)
            for category, words in (raw.get("category_words") or {}).items()
        }
        # Openers and the categories' own words, longest first, so "问个问题" goes before "问题" and leaves nothing.
        self._openers = _words_pattern(
            [*_with_traditional(_strings(raw, "openers")), *(w for ws in self.category_words.values() for w in ws)]
        )
        negations = [str(n) for n in raw.get("negations", ())]
        for category, words in (raw.get("category_words") or {}).items():
            for word in words:
                for negation in negations:
                    joint = f"{negation} {word}" if negation.isascii() and str(word).isascii() else negation + str(word)
                    entries.append((joint, "negclaim", str(category)))
        # English words around a claim that say nothing of the issue ("I'd like to file a complaint").
        fillers = sorted((normalize(str(w)) for w in raw.get("claim_fillers") or ()), key=len, reverse=True)
        alternation = "|".join(re.escape(w) for w in fillers if w)
        self._claim_fillers = re.compile(rf"(?<![a-z0-9'])(?:{alternation})(?![a-z0-9'])") if alternation else None
        # Words about the agency's handling that may stand beside a timing question that asks nothing else.
        about = _with_traditional(_strings(raw, "timing_about"))
        # Words that hold an act's phrase without doing it ("帮我查一下" asks the agency to look: no pause).
        plain = [(str(p), PLAIN, "") for p in raw.get("plain") or ()]
        entries.extend(plain)
        # Words said around venting that tell nothing of the issue ("你们", "是不是", "company"), and how many other
        # characters a message of venting may hold and still say nothing else.
        venting.extend(plain)
        venting.extend((str(p), _VENT_FILLER, "") for p in raw.get("vent_fillers") or ())
        self.vent_max_other = int(raw.get("vent_max_other", 1))
        for score, phrases in (raw.get("score_words") or {}).items():
            entries.extend((str(p), "score", str(int(score))) for p in phrases)
        # Scores only as the whole message ("👍" is 4 at the satisfaction prompt, an "ok" in a sentence).
        self.score_when_whole = {
            normalize(str(p)): int(score)
            for score, phrases in (raw.get("score_when_whole") or {}).items()
            for p in phrases
        }
        # Words that only ask, around a topic phrase ("请问你们的…是几点到几点", "what are your…"), longest first.
        self.asking_words = tuple(
            sorted(set(_with_traditional(_strings(raw, "asking_words"))) - {""}, key=len, reverse=True)
        )
        # Words that only ask ("请问", "什么时候", "吗") or speak of the agency's handling ("处理好", "回复"): what a
        # question says besides them and its acts' phrases names the matter it asks about.
        self._asking_or_handling = _words_pattern([*about, *self.asking_words, *self.question_openings])
        self._automaton = _automaton(entries)
        self._venting = _automaton(venting)
        self._kept = lru_cache(maxsize=ACTS_KEPT)(self._recognize)

    @classmethod
    def load(cls, path: Path, settings: DialogueSettings | None = None) -> ActLexicon:
        """The phrases of config/acts.yaml, with the handoff and skip words of the dialogue settings."""
        dialogue = settings or DialogueSettings()
        words = (tuple(dialogue.handoff_exact), tuple(dialogue.handoff_contains), tuple(dialogue.skip_words))
        return _compiled(path.read_text(encoding="utf-8"), *words)

    def _hits(self, norm: str, automaton: Any = None) -> list[_Hit]:
        """Leftmost-longest matches (of the acts' phrases unless another automaton is given) that sit on word
        boundaries where the phrase ends in ASCII letters."""
        automaton = self._automaton if automaton is None else automaton
        if automaton is _NO_PHRASES:
            return []
        found: list[_Hit] = []
        last = len(norm) - 1
        for end, (length, kind, value) in automaton.iter(norm):
            start = end - length + 1
            if _is_word(norm[start]) and start > 0 and _is_word(norm[start - 1]):
                continue
            if _is_word(norm[end]) and end < last and _is_word(norm[end + 1]):
                continue
            found.append(_Hit(start, end + 1, kind, value))
        found.sort(key=lambda h: (h.start, -(h.end - h.start)))
        kept: list[_Hit] = []
        reach = 0
        for hit in found:
            if hit.start >= reach:
                kept.append(hit)
                reach = hit.end
        return kept

    def _other(self, norm: str, hits: list[_Hit]) -> int:
        """Characters that are neither part of a phrase nor a filler, space or symbol."""
        covered = [False] * len(norm)
        for hit in hits:
            for i in range(hit.start, hit.end):
                covered[i] = True
        count = 0
        for i, ch in enumerate(norm):
            if covered[i] or ch.isspace() or ch in self.fillers or unicodedata.category(ch) in ("So", "Sk", "Cf"):
                continue
            count += 1
        return count

    def is_question(self, norm: str) -> bool:
        """A question by its shape: a question mark, a closing 吗/呢, or an opening such as 请问 / how."""
        text = norm.strip()
        if any(mark in text for mark in self.question_marks):
            return True
        bare = text.rstrip(" .!。！~～")
        if bare.endswith(self.question_endings):
            return True
        for opening in self.question_openings:
            if text.startswith(opening) and (
                not opening.isascii() or text[len(opening) : len(opening) + 1] in (" ", "")
            ):
                return True
        return False

    def issue_breaks(self, norm: str) -> list[int]:
        """Where another issue may begin in a (normalized) message: the starts of "另外", "还有个事", "also"…"""
        kinds = (Act.SIDE_MARKER.value, Act.NEW_ISSUE.value)
        # A phrase that counts only leading ("and", "还有") begins another issue only where a clause begins: "the
        # campaigns and the fees" is one question.
        return [
            hit.start
            for hit in self._hits(norm)
            if hit.kind in kinds and (hit.value != LEADING or _clause_starts(norm, hit.start))
        ]

    def without_claims(self, norm: str) -> str:
        """The (normalized) text without the words by which the client names a category ("咨询一下", "I'd like to
        file a complaint")."""
        named = False
        for hit in reversed(self._hits(norm)):
            if hit.kind in ("claim", "negclaim"):
                norm = norm[: hit.start] + norm[hit.end :]
                named = True
        if named and self._claim_fillers is not None:
            norm = " ".join(self._claim_fillers.sub(" ", norm).split())
        return norm

    def without_openers(self, norm: str) -> str:
        """The (normalized) text without the words that announce an issue without telling it ("我想咨询下",
        "想问个问题", "quick question") and without the categories' own words."""
        return norm if self._openers is None else self._openers.sub(" ", norm)

    def named_categories(self, text: str) -> frozenset[str]:
        """The categories a message names, by a claim ("我是投诉") or a category's word ("我要咨询"), never after a
        negation ("不是投诉")."""
        norm = normalize(text)
        named = {hit.value for hit in self._hits(norm) if hit.kind == "claim"}
        rest = self.without_claims(norm)
        for category, words in self.category_words.items():
            if any(has_word(rest, word) for word in words):
                named.add(category)
        return frozenset(named)

    def introduction(self, text: str) -> Introduction | None:
        """The client's introduction of himself in the message ("我是星辰传媒的李经理"), if it makes one."""
        norm = normalize(text)
        return next(iter(self._introductions.find(norm, text)), None)

    def _introduced(self, norm: str, text: str, hits: list[_Hit]) -> list[_Hit]:
        """The hits with the client's introductions among them, as greetings: "是" of "我是…" and "经理" of "李经理"
        are no acts of their own. An introduction that holds a claim ("我是投诉") is none."""
        for found in self._introductions.find(norm, text):
            inside = [h for h in hits if h.start < found.end and found.start < h.end]
            if any(h.kind in ("claim", "negclaim") for h in inside):
                continue
            hits = [h for h in hits if h not in inside]
            hits.append(_Hit(found.start, found.end, Act.GREETING.value, INTRODUCTION))
        return sorted(hits, key=lambda h: h.start)

    def recognize(self, text: str) -> Acts:
        """The acts of one message."""
        return self._kept(text)

    def _recognize(self, text: str) -> Acts:
        norm = normalize(text)
        if not norm.strip():
            return NO_ACTS
        hits = self._introduced(norm, text, self._hits(norm))
        counted, alone_ok = self._counted(norm, hits)
        found = {Act(hit.kind) for hit in counted}
        pure = alone_ok and all(h.kind in _PHRASE_KINDS for h in hits)
        stripped = bare_message(norm)
        if pure and found == {Act.SIDE_MARKER} and stripped in self.affirm_when_whole:
            found = {Act.AFFIRM}
        if stripped in self.skip_words:
            found.add(Act.SKIP)
            pure = True
        if self._named_contact is not None and self._named_contact.search(norm):
            found.add(Act.HANDOFF)
        if Act.TIMING in found:
            # "要多久能处理好" about an issue filed is a status question, which the ticket's deadlines answer.
            found.add(Act.STATUS)
        if self.is_question(norm) or (
            Act.SIDE_MARKER in found and self._aside_asking is not None and self._aside_asking.search(norm)
        ):
            found.add(Act.QUESTION)
        vented, only_venting = self._venting_in(norm, found)
        if vented:
            found.add(Act.VENT)
        claim = self._claim(hits)
        if claim is None and (claim := self._bare_category(norm)) is not None:
            # The category's word alone answers no detail ("投诉" asked for the outcome wanted).
            pure = True
        if claim is not None:
            found.add(Act.CLAIM)
        score = self._score(norm, hits)
        if score is not None:
            found.add(Act.SCORE)
        only_venting = only_venting and claim is None
        return Acts(frozenset(found), pure=pure, score=score, claim=claim, only_venting=only_venting)

    def _venting_in(self, norm: str, acts: set[Act]) -> tuple[bool, bool]:
        """Whether the message vents, and whether it says nothing else: no act but a question's shape, and at most
        `vent_max_other` characters besides venting, the words said around it, fillers and symbols."""
        hits = [h for h in self._hits(norm, self._venting) if h.kind != PLAIN]
        other = self._other(norm, hits)
        # A word that vents only as the whole message ("滚", "靠"): "靠谱", "滚动字幕" hold it as a plain word.
        vents = [h for h in hits if h.kind == Act.VENT.value and (h.value != ALONE or other <= self.vent_max_other)]
        if not vents:
            return False, False
        return True, other <= self.vent_max_other and not acts - {Act.QUESTION}

    def only_asks_timing(self, text: str) -> bool:
        """Whether the message asks how long the agency takes and nothing else: each clause a timing question with
        words of the issue's handling around it ("请问大概要多久能处理好？"), or acts alone ("你好", "btw").

        "广告什么时候能恢复" asks about the ads, "退款，要多久？" also gives the outcome wanted: neither only asks.
        """
        asked = [self._asks_timing_in(normalize(clause)) for clause in _CLAUSES.split(text)]
        return all(a is not False for a in asked) and True in asked

    def without_timing(self, text: str) -> str | None:
        """The message without its clauses that only ask how long the agency takes, when it has such clauses and
        others that tell something: "退款" of "退款，要多久？"; None when no clause only asks that."""
        kept: list[str] = []
        asked = told = False
        pieces = _CLAUSES.split(text)
        marks = [*_CLAUSES.findall(text), ""]
        for piece, mark in zip(pieces, marks, strict=True):
            verdict = self._asks_timing_in(normalize(piece))
            asked = asked or verdict is True
            if verdict is not True:
                told = told or verdict is False
                kept.append(piece + mark)
        if not (asked and told):
            return None
        return "".join(kept).strip(_CLAUSE_TRIM)

    def _asks_timing_in(self, clause: str) -> bool | None:
        """Of one (normalized) clause: True when it asks how long and says nothing but what only asks (see
        `asking_spans`), None when it says nothing but acts, False when it tells something."""
        hits = [h for h in self._hits(clause) if h.kind in _PHRASE_KINDS]
        if not any(h.kind == Act.TIMING.value for h in hits):
            return False if self._other(clause, hits) else None
        return self._says_only_asking(clause)

    def asking_spans(self, text: str) -> list[tuple[int, int]]:
        """Where the (normalized) message only asks: its acts' phrases, the words that only ask and those of the
        agency's handling. Of "发票什么时候能开？" all but "发票" and "开"; of "处理好了吗" all. A clause asks only
        how long the agency takes when these cover it (see `only_asks_timing`)."""
        return self._asking_spans(normalize(text))

    def _asking_spans(self, norm: str) -> list[tuple[int, int]]:
        spans = [(h.start, h.end) for h in self._hits(norm) if h.kind in _PHRASE_KINDS]
        if self._asking_or_handling is not None:
            spans.extend(m.span() for m in self._asking_or_handling.finditer(norm))
        return spans

    def only_asks(self, text: str) -> bool:
        """Whether the message says nothing but its acts, words that only ask and words of the agency's handling
        ("还没人联系我啊 你们到底有没有在处理"): it names no matter of its own, as "排期表什么时候能给？" does."""
        return self._says_only_asking(normalize(text))

    def _says_only_asking(self, norm: str) -> bool:
        """Whether the (normalized) text holds nothing beside what `asking_spans` finds, fillers and symbols."""
        asking = [_Hit(start, end, PLAIN, "") for start, end in self._asking_spans(norm)]
        return not self._other(norm, asking)

    def _counted(self, norm: str, hits: list[_Hit]) -> tuple[list[_Hit], bool]:
        """The act phrases that count in the message, and whether it says little besides its acts."""
        other = self._other(norm, [h for h in hits if h.kind != PLAIN])
        act_hits = [h for h in hits if h.kind in _PHRASE_KINDS]
        alone_ok = bool(act_hits) and other <= min(self.max_other, sum(h.end - h.start for h in act_hits) // 3)
        counted: list[_Hit] = []
        for hit in act_hits:
            # "不对，电话写错了…", "好的，另外…": an act that opens the message and is set apart by punctuation.
            leading = hit.start == _first_meaningful(norm, self.fillers) and _set_apart(norm, hit.end)
            # A phrase that counts only alone ("客服", "人工") never counts by leading: "客服，你好…" asks no person.
            if hit.value == ALONE:
                counts = alone_ok
            elif hit.value == LEADING:
                counts = leading
            elif hit.value == TOPIC:
                counts = self._asked_alone(norm, hits, hit)
            else:
                counts = Act(hit.kind) not in self.alone or alone_ok or leading
            if counts:
                counted.append(hit)
        return counted, alone_ok

    def without(self, text: str, act: Act) -> str:
        """The message without the words that perform `act`, with the asking words and small talk around them:
        "请问你们几点下班？我下午想过来一趟" without the hours is "我下午想过来一趟"."""
        norm = normalize(text)
        hits = self._hits(norm)
        spans = [self._asked_span(norm, hits, h) for h in self._counted(norm, hits)[0] if h.kind == act.value]
        if not spans:
            return text
        # Normalizing keeps positions when it keeps the length (full-width to half-width, lower case).
        source = text if len(norm) == len(text) else norm
        rest = ""
        last = 0
        for start, end in [*sorted(spans), (len(source), len(source))]:
            piece = source[last : max(last, start)]
            # English words on both sides of what was taken out stay apart ("Hi, what time do you close? Our…").
            if rest and piece and rest[-1].isascii() and piece[0].isascii() and not rest[-1].isspace():
                rest += " "
            rest += piece
            last = max(last, end)
        return rest.strip(_CLAUSE_TRIM)

    def _asked_span(self, norm: str, hits: list[_Hit], hit: _Hit) -> tuple[int, int]:
        """The phrase of `hit` with what only asks around it in its clause: asking words ("请问", "你们", "几点"),
        small talk ("您好"), side markers ("对了"), fillers, and the punctuation that closes it."""
        passable = [h for h in hits if h.kind == hit.kind or h.kind in _AROUND_KINDS]
        ending = {h.end: h.start for h in passable}
        starting = {h.start: h.end for h in passable}
        start, end = hit.start, hit.end
        while start > 0:
            if start in ending:
                start = ending[start]
            elif size := self._asking_at(norm, start, before=True):
                start -= size
            elif self._filler(norm[start - 1]):
                start -= 1
            else:
                break
        while end < len(norm):
            if end in starting:
                end = starting[end]
            elif size := self._asking_at(norm, end, before=False):
                end += size
            elif self._filler(norm[end]):
                end += 1
            else:
                break
        # The punctuation that closes the clause goes with it; the next clause is none of its business.
        while end < len(norm) and (_is_break(norm[end]) or norm[end].isspace()):
            end += 1
        return start, end

    def _asked_alone(self, norm: str, hits: list[_Hit], hit: _Hit) -> bool:
        """Whether the clause of `hit` says nothing but its phrase and what only asks around it."""
        start, end = self._asked_span(norm, hits, hit)
        clause_start = next((i + 1 for i in range(hit.start - 1, -1, -1) if _is_break(norm[i])), 0)
        clause_end = next((i for i in range(hit.end, len(norm)) if _is_break(norm[i])), len(norm))
        return (
            not norm[clause_start : max(start, clause_start)].strip()
            and not norm[min(end, clause_end) : clause_end].strip()
        )

    def _asking_at(self, norm: str, at: int, *, before: bool) -> int:
        """The length of an asking word that ends (`before`) or starts at `at`, set apart where it is ASCII."""
        for word in self.asking_words:
            start = at - len(word) if before else at
            if start < 0 or not norm.startswith(word, start):
                continue
            end = start + len(word)
            if _is_word(word[0]) and start > 0 and _is_word(norm[start - 1]):
                continue
            if _is_word(word[-1]) and end < len(norm) and _is_word(norm[end]):
                continue
            return len(word)
        return 0

    def _filler(self, ch: str) -> bool:
        """A space or a filler that is no punctuation: it stays inside the clause."""
        return ch.isspace() or (ch in self.fillers and not _is_break(ch))

    def mentions_channel(self, text: str) -> bool:
        """Whether the message speaks of a way to reach the client ("微信", "邮箱", "这个号")."""
        return self._channel_words is not None and self._channel_words.search(normalize(text)) is not None

    def names_own_channel(self, text: str) -> bool:
        """Whether the message, asked for a contact, names the client's channel (or one he gave) instead: "就这个微信",
        "同上", "就用这个号", "微信 zhangsan"."""
        norm = normalize(text)
        if self._channel_words is None or not self._channel_words.search(norm):
            return False
        rest = self._channel_words.sub(" ", norm)
        if self._channel_alongside is not None:
            rest = self._channel_alongside.sub(" ", rest)
        left = "".join(ch if ch.isalnum() or ch in "_-" else " " for ch in rest).split()
        return not left or (len(left) == 1 and _ACCOUNT_ID.fullmatch(left[0]) is not None)

    def declines(self, text: str) -> bool:
        """Whether the message is only a "no" that leaves out a detail that may be left out ("不用了", "no"), maybe
        with words beside it that add nothing ("不知道啊你们查")."""
        whole = bare_message(normalize(text))
        if whole in self.skip_when_optional or whole in self.skip_words:
            return True
        if self._declining is None or not self._declining.search(whole):
            return False
        rest = self._declining.sub(" ", whole)
        if self._declining_alongside is not None:
            rest = self._declining_alongside.sub(" ", rest)
        return not any(ch.isalnum() and ch not in self.fillers for ch in rest)

    def changes_staff(self, text: str) -> bool:
        """Whether the message asks for other staff on the client's work ("换人", "换个对接人"), which, as the
        outcome wanted, asks for no person in this chat."""
        return self._staff_change is not None and self._staff_change.search(normalize(text)) is not None

    def refers_to_filed(self, text: str) -> bool:
        """Whether the message points at something the client filed before ("之前提交的工单", "my ticket")."""
        return self._filed_words is not None and self._filed_words.search(normalize(text)) is not None

    def _bare_category(self, norm: str) -> str | None:
        """The category whose word is the whole message ("投诉", "咨询！"): named as plainly as a claim, wherever
        the bot's buttons do not offer it (at the summary, while a detail is asked)."""
        bare = norm.strip(" " + "".join(self.fillers))
        return next((category for category, words in self.category_words.items() if bare in words), None)

    @staticmethod
    def _claim(hits: list[_Hit]) -> str | None:
        claimed = {h.value for h in hits if h.kind == "claim"}
        claimed -= {h.value for h in hits if h.kind == "negclaim"}
        return next(iter(claimed)) if len(claimed) == 1 else None

    def _score(self, norm: str, hits: list[_Hit]) -> int | None:
        for digits in _SCORE_DIGITS.finditer(norm):
            score = _scaled(digits)
            if score is not None:
                return score
        words = [int(h.value) for h in hits if h.kind == "score"]
        if words:
            return words[0]
        # "👍" said alone scores; beside other words it is only an "ok".
        bare = "".join(ch for ch in norm if not ch.isspace() and unicodedata.category(ch) not in ("Sk", "Cf", "Mn"))
        for phrase, score in self.score_when_whole.items():
            if bare and not bare.replace(phrase, ""):
                return score
        return None

    def remark(self, text: str) -> str:
        """What a message says besides its acts, its score and fillers: "小王" of "非常满意，谢谢小王", "" of "五星"."""
        norm = _SCORE_DIGITS.sub(" ", normalize(text))
        for hit in reversed(self._hits(norm)):
            norm = norm[: hit.start] + " " + norm[hit.end :]
        kept = (
            ch
            for ch in norm
            if not ch.isspace() and ch not in self.fillers and not unicodedata.category(ch).startswith(("S", "P", "C"))
        )
        return "".join(kept)


# Clauses of a message: a timing question and what stands beside it are read apart.
_CLAUSES = re.compile(r"[,.!?;，。！？；、\n]+")


# The kind of the words said around venting that tell nothing ("你们", "是不是"): they count as neither venting nor
# anything else.
_VENT_FILLER = "vent_filler"
# The automaton of a list without phrases: it matches nothing.
_NO_PHRASES: Any = None


def _automaton(entries: list[tuple[str, str, str]]) -> Any:
    """One Aho-Corasick automaton of (phrase, kind, value) entries with the traditional spellings of each phrase."""
    seen: dict[str, tuple[str, str]] = {}
    forms = [(normalize(phrase), kind, value) for phrase, kind, value in entries]
    traditional = traditional_spellings(form for form, _, _ in forms if form)
    for form, kind, value in forms:
        if not form:
            continue
        for spelling in (form, *(normalize(t) for t in traditional[form])):
            # The first entry of a spelling keeps it: acts come before claims and scores in the file's order.
            seen.setdefault(spelling, (kind, value))
    if not seen:
        return _NO_PHRASES
    automaton: Any = ahocorasick.Automaton()
    for spelling, (kind, value) in seen.items():
        automaton.add_word(spelling, (len(spelling), kind, value))
    automaton.make_automaton()
    return automaton


def _scaled(digits: re.Match[str]) -> int | None:
    """A score matched by _SCORE_DIGITS on the 1–5 scale: out of five as said, out of ten halved (rounded up)."""
    value = digits.group(1)
    number = int(value) if value.isdigit() else _CN_DIGITS[value]
    out_of_ten = digits.group(4) is not None or (digits.group(2) is not None and number > 5)
    if number == 100 and digits.group(2) is not None:
        return 5
    if out_of_ten and number <= 10:
        return (number + 1) // 2
    return number if number <= 5 else None


# An account's ID said beside the channel's word ("微信 zhangsan"): a WeChat ID's shape.
_ACCOUNT_ID = re.compile(r"[a-z][a-z0-9_-]{5,19}")


def _words_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    """Any of the (normalized) words, longest first; one that begins or ends in a letter or digit only as a word."""
    parts = []
    for word in sorted(set(words), key=len, reverse=True):
        before = r"(?<![a-z0-9])" if _is_word(word[0]) else ""
        after = r"(?![a-z0-9])" if _is_word(word[-1]) else ""
        parts.append(before + re.escape(word) + after)
    return re.compile("|".join(parts)) if parts else None


def _named_contact_pattern(raw: Mapping[str, Any]) -> re.Pattern[str] | None:
    """A person of the agency, named ("小李", "王经理", "张总") and asked to get in touch ("让…联系我")."""
    if not isinstance(raw, Mapping):
        raise ConfigError("named_contact: expected asks, name_prefixes, titles, before_verb and verbs as lists")

    def either(key: str) -> str:
        words = sorted(_with_traditional(_strings(raw, key)), key=len, reverse=True)
        return "|".join(re.escape(w) for w in words if w)

    asks, prefixes, titles, verbs = (either(k) for k in ("asks", "name_prefixes", "titles", "verbs"))
    if not (asks and verbs and (prefixes or titles)):
        return None
    # A name is a prefix and one character ("小李") or one or two characters and a title ("王经理", "张总").
    names = "|".join(
        [
            *([f"(?:{prefixes})[\u4e00-\u9fff]"] if prefixes else []),
            *([f"[\u4e00-\u9fff]{{1,2}}(?:{titles})"] if titles else []),
        ]
    )
    # Words between the name and the verb that change nothing ("让小王直接联系我").
    before = f"(?:{either('before_verb')})?" if either("before_verb") else ""
    return re.compile(f"(?:{asks})(?:{names}){before}(?:{verbs})")


def has_word(norm: str, word: str) -> bool:
    """Whether `word` occurs in `norm`, set apart from ASCII letters and digits where it ends in one."""
    start = norm.find(word)
    while start >= 0:
        end = start + len(word)
        if not (_is_word(word[0]) and start > 0 and _is_word(norm[start - 1])) and not (
            _is_word(word[-1]) and end < len(norm) and _is_word(norm[end])
        ):
            return True
        start = norm.find(word, start + 1)
    return False


def _first_meaningful(norm: str, fillers: frozenset[str]) -> int:
    for i, ch in enumerate(norm):
        if not ch.isspace() and ch not in fillers:
            return i
    return len(norm)


# Around an act's words taken out of a message, what no longer separates anything.
_CLAUSE_TRIM = " ,，.。;；、!！?？:：~～"
# What may stand around an act's words in a clause that does nothing else: small talk and "对了", "btw".
_AROUND_KINDS = frozenset(a.value for a in (*SMALL_TALK, Act.SIDE_MARKER))


def _is_break(ch: str) -> bool:
    """Punctuation, which ends a clause ("工作时间？我们的发票…")."""
    return unicodedata.category(ch).startswith("P") or ch in "~～"


def _clause_starts(norm: str, start: int) -> bool:
    """A clause begins at `start`: the message's start, or punctuation before it (spaces between)."""
    before = norm[:start].rstrip()
    return not before or _is_break(before[-1])


def _set_apart(norm: str, end: int) -> bool:
    """The phrase ending at `end` is followed by the message's end, a space or punctuation."""
    return end >= len(norm) or norm[end].isspace() or unicodedata.category(norm[end]).startswith("P")


@cache
def default_lexicon() -> ActLexicon:
    """The shipped phrases, for callers (and tests) that were given no lexicon."""
    return ActLexicon.load(DEFAULT_CONFIG_DIR / "acts.yaml")


# Compiled lexicons by the file's text and the words the settings add: every engine (each start, each test)
# compiles the same phrases with their traditional spellings, a sixtieth of a second each time. A lexicon is
# immutable, so one is shared.
@lru_cache(maxsize=8)
def _compiled(
    text: str, handoff_exact: tuple[str, ...], handoff_contains: tuple[str, ...], skip_words: tuple[str, ...]
) -> ActLexicon:
    words = DialogueSettings(
        handoff_exact=list(handoff_exact), handoff_contains=list(handoff_contains), skip_words=list(skip_words)
    )
    return ActLexicon(safe_load(text) or {}, words)
