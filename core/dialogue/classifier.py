"""Keyword classifier: an Aho-Corasick automaton over normalized text, a score per category.

One module because normalization, the automaton and scoring must agree on the same folded text; the
learned model's scorer is apart (`textmodel.py`).
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import ahocorasick

from core.dialogue.forms import CATEGORIES
from core.dialogue.hanzi import traditional_spellings
from core.errors import ConfigError
from core.yaml_files import load_file

FALLBACK_CATEGORY = "other"
# Each further positive cue of a category counts this much less than the one before (strongest first), so a
# handful of weak nouns cannot add up to a confident verdict: the sum stays below twice the strongest cue.
DECAY = 0.5
# A complaint cue right after a negation is no grievance ("没有问题", "not broken", "不失望"); the negated span still
# overrules the shorter cues inside it. Only complaint cues: a negated question or proposal rarely turns into
# another category, while "没有问题"-type denials are what sends satisfied clients down the complaint path.
COMPLAINT = "complaint"
_CJK_NEGATIONS = ("没有", "没", "不", "无", "未", "别", "并非", "毫无")
_EN_NEGATIONS = frozenset({"not", "no", "never", "without", "hardly"})

# How a rule's phrase must sit in the message:
#   auto       ASCII letters and digits at the phrase's ends need a word boundary there; CJK ends match anywhere
#   substring  anywhere, even inside a longer word ("refund" in "refunded")
#   word       both ends set apart from letters and digits of any script (a CJK phrase standing on its own)
#   whole      the whole message, ignoring surrounding spaces and punctuation ("ok", "收到")
MATCH_MODES = ("auto", "substring", "word", "whole")
# What "whole" ignores around the message.
_WHOLE_STRIP = " .,!?;:。，！？；：~～…'\"()[]"
# Verdicts each classifier keeps by text: one turn asks about the same words several times (the message, the issue
# told so far, the guards' second looks), and the next turn again about much of it. A few hundred short messages.
VERDICTS_KEPT = 256


# NFKC folds these to ASCII, and Chinese keyboards type them in nearly every message, which sends the
# message down NFKC's slow path. Each maps to a single character, so replacing them first gives the text
# the same NFKC form; most messages are then already normalized and skip the full pass.
_FULL_WIDTH_PUNCTUATION = (("，", ","), ("？", "?"), ("！", "!"), ("：", ":"), ("；", ";"), ("（", "("), ("）", ")"))


_CURLY_APOSTROPHE = "\u2019"

# What a chat app writes in place of what it cannot show as text: "[图片]", "[表情]", "[语音]", "[Sticker]", and
# WeChat's named emoji ("[微笑]", "[捂脸]").
_PLACEHOLDER = re.compile(r"[\[【][^\[\]【】]{1,10}[\]】]")


def normalize(text: str) -> str:
    """NFKC (full-width to half-width), straight apostrophes, lower case, runs of whitespace as one space."""
    # ASCII text is already in NFKC form, and str.isascii() costs nothing.
    if not text.isascii():
        if not unicodedata.is_normalized("NFKC", text):
            for wide, narrow in _FULL_WIDTH_PUNCTUATION:
                text = text.replace(wide, narrow)
            if not unicodedata.is_normalized("NFKC", text):
                text = unicodedata.normalize("NFKC", text)
        # Phone keyboards send "don’t" as often as "don't", and NFKC keeps the curly apostrophe.
        if _CURLY_APOSTROPHE in text:
            text = text.replace(_CURLY_APOSTROPHE, "'")
    text = text.lower()
    # Every whitespace character but " " is non-printable, so a printable text without a leading, trailing or
    # doubled space is what split-and-join would return.
    if not text.isprintable() or "  " in text or text.startswith(" ") or text.endswith(" "):
        text = " ".join(text.split())
    return text


@dataclass(frozen=True, slots=True)
class Rule:
    """A phrase voting for a category; a negative weight makes it a counter-cue."""

    phrase: str
    category: str
    weight: float = 1.0
    enabled: bool = True
    match_mode: str = "auto"
    # A forced rule decides the category outright when it matches, whatever else the message holds.
    forced: bool = False


@dataclass(frozen=True, slots=True)
class Match:
    """A rule phrase found in a message."""

    phrase: str
    category: str
    weight: float
    start: int
    end: int
    forced: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"phrase": self.phrase, "category": self.category, "weight": self.weight}
        if self.forced:
            out["forced"] = True
        return out


@dataclass(frozen=True, slots=True)
class Classification:
    """The verdict on one message and how sure the classifier is."""

    category: str
    confidence: float
    confident: bool
    # The rules' score of each category (counter-cues included); added to the model's log-odds when there is one.
    scores: dict[str, float] = field(default_factory=dict)
    matched: tuple[Match, ...] = ()
    # The learned model's own probability of each category, before the rules ({} without a model).
    model: dict[str, float] = field(default_factory=dict)
    # A forced rule matched and decided the category.
    forced: bool = False

    @property
    def ruled(self) -> bool:
        """Some rule gave evidence (a zero-weight mask is none); without any, a model decides alone."""
        return has_rule_evidence(self.scores)

    def to_json(self, text: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "text": text,
            "category": self.category,
            "confidence": self.confidence,
            "confident": self.confident,
            "matched": [m.to_json() for m in self.matched],
            "rules": {k: round(v, 3) for k, v in self.scores.items()},
        }
        if self.model:
            out["model"] = {k: round(v, 3) for k, v in self.model.items()}
        if self.forced:
            out["forced"] = True
        return out


def _is_word_char(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


# The same test as _is_word_char as a set, for the per-match boundary checks where a call costs more than the test.
_WORD_CHARS = frozenset(string.ascii_letters + string.digits)


class _AnyScriptWordChars:
    """Letters and digits of every script, for the "word" mode; rare, so a method call per check is fine."""

    def __contains__(self, ch: object) -> bool:
        return isinstance(ch, str) and ch.isalnum()


_ANY_WORD_CHARS = _AnyScriptWordChars()


# A frozen dataclass's __init__ costs about a microsecond, several times the rest of the work per match, so the
# hot path fills the slots directly: the same objects __init__ would build (neither class has __post_init__).
_new = object.__new__


def _slot_setters(cls: type, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(cls.__dict__[name].__set__ for name in names)


_MATCH_SLOTS = _slot_setters(Match, ("phrase", "category", "weight", "start", "end", "forced"))
_VERDICT_SLOTS = _slot_setters(
    Classification, ("category", "confidence", "confident", "scores", "matched", "model", "forced")
)
_NO_MODEL: dict[str, float] = {}


def _match(phrase: str, category: str, weight: float, start: int, end: int, forced: bool = False) -> Match:
    match: Match = _new(Match)
    set_phrase, set_category, set_weight, set_start, set_end, set_forced = _MATCH_SLOTS
    set_phrase(match, phrase)
    set_category(match, category)
    set_weight(match, weight)
    set_start(match, start)
    set_end(match, end)
    set_forced(match, forced)
    return match


def _verdict(
    category: str,
    confidence: float,
    confident: bool,
    scores: dict[str, float],
    matched: tuple[Match, ...],
    model: dict[str, float] = _NO_MODEL,
    forced: bool = False,
) -> Classification:
    verdict: Classification = _new(Classification)
    set_category, set_confidence, set_confident, set_scores, set_matched, set_model, set_forced = _VERDICT_SLOTS
    set_category(verdict, category)
    set_confidence(verdict, confidence)
    set_confident(verdict, confident)
    set_scores(verdict, scores)
    set_matched(verdict, matched)
    # A fresh dict per verdict, as the dataclass's default_factory would give.
    set_model(verdict, model if model is not _NO_MODEL else {})
    set_forced(verdict, forced)
    return verdict


def _round3(value: float) -> float:
    # round() costs as much as building a match; a sure verdict (exactly 1.0) is the common case and needs none.
    return value if value == 1.0 else round(value, 3)


_Votes = tuple[tuple[str, float], ...]
# (start, -last, phrase, votes): sorting these tuples orders matches by start, the longest first.
_Span = tuple[int, int, str, _Votes]
# Boundary checks of one match mode on one spelling: the characters that may not touch the left and right ends
# (None: no check), and whether the phrase must be the whole message.
_Check = tuple[Any, Any, bool]


def _check(mode: str, form: str) -> _Check:
    if mode == "substring":
        return (None, None, False)
    if mode == "word":
        return (_ANY_WORD_CHARS, _ANY_WORD_CHARS, False)
    if mode == "whole":
        return (None, None, True)
    # auto: ASCII phrases must match whole words ("ad" is not in "add"); CJK has no word breaks.
    return (
        _WORD_CHARS if _is_word_char(form[0]) else None,
        _WORD_CHARS if _is_word_char(form[-1]) else None,
        False,
    )


class LearnedModel(Protocol):
    """What the classifier asks of a learned model (textmodel.TextModel, which builds on this module's folding)."""

    @property
    def classes(self) -> tuple[str, ...]: ...

    @property
    def threshold(self) -> float: ...

    def confident_at(self, probability: float, ruled: bool) -> bool: ...

    def logits(self, text: str) -> list[float]: ...

    def predict_proba(self, text: str) -> dict[str, float]: ...

    def combine(self, logits: list[float], rules: Mapping[str, float]) -> list[float]: ...


class KeywordClassifier:
    """Classifies messages by its rules, and by a learned model behind them when given one; immutable, so safe to
    swap atomically.

    Without a model, the rules' scores decide (share of the top score times its strength). With one, each
    category's rule score is added to the model's log-odds for it and the softmax of the sums decides; the verdict
    is confident at the model's own threshold. A forced rule that matches decides outright in both.

    A verdict depends on nothing but the text and what the classifier was built with, so the latest ones are kept
    and handed out again (the same object: read, never changed); new rules make a new classifier, with none kept.
    """

    def __init__(
        self,
        rules: Iterable[Rule],
        threshold: float = 0.5,
        strength_ref: float = 2.0,
        *,
        version: int | None = None,
        model: LearnedModel | None = None,
    ) -> None:
        self.threshold = threshold
        self.strength_ref = strength_ref
        # The published rule version this classifier was built from (None: rules from a file or a draft).
        self.version = version
        self.model = model
        # phrase -> match mode -> votes: the same phrase may vote in several modes (e.g. "ok" whole, "ok?" auto).
        votes: dict[str, dict[str, list[tuple[str, float]]]] = {}
        # (normalized phrase, category) of the forced rules: few, so looked up per match only when there are any.
        self._forced: frozenset[tuple[str, str]] = frozenset()
        forced: set[tuple[str, str]] = set()
        for rule in rules:
            if not rule.enabled:
                continue
            if rule.category not in CATEGORIES:
                raise ConfigError(f"rule {rule.phrase!r} names unknown category {rule.category!r}")
            if rule.match_mode not in MATCH_MODES:
                raise ConfigError(f"rule {rule.phrase!r} has unknown match mode {rule.match_mode!r}")
            phrase = normalize(rule.phrase)
            if phrase:
                votes.setdefault(phrase, {}).setdefault(rule.match_mode, []).append((rule.category, rule.weight))
                if rule.forced:
                    forced.add((phrase, rule.category))
        self._forced = frozenset(forced)
        self.rule_count = sum(len(v) for modes in votes.values() for v in modes.values())
        self._whole = any("whole" in modes for modes in votes.values())
        self._automaton: Any = ahocorasick.Automaton()
        # Each phrase is also found in its traditional spellings (發票 for 发票), reported as the rule's own phrase.
        # Folding the rules rather than each message keeps the conversion out of classify(); a spelling that is
        # a phrase of its own, or came first from another phrase, keeps that phrase's votes.
        spellings = {phrase: phrase for phrase in votes}
        for phrase, forms in traditional_spellings(votes).items():
            for form in forms:
                spellings.setdefault(normalize(form), phrase)
        for form, phrase in spellings.items():
            # Which ends need a boundary check is decided here, once per spelling and mode, rather than per match.
            # The first mode's check is inlined in the payload; a phrase voting in several modes (rare) carries the
            # others after it, so the common case pays for no loop.
            (mode, first), *others = votes[phrase].items()
            extra = tuple((*_check(m, form), tuple(v)) for m, v in others) or None
            # Whether a negation before it can take a vote away: only a positive complaint cue has one to lose.
            negatable = any(c == COMPLAINT and w > 0 for v in votes[phrase].values() for c, w in v)
            self._automaton.add_word(form, (len(form) - 1, phrase, *_check(mode, form), tuple(first), extra, negatable))
        if votes:
            self._automaton.make_automaton()
        self._kept = lru_cache(maxsize=VERDICTS_KEPT)(self._classify)

    def _bounds(self, norm: str) -> tuple[int, int]:
        """First and last index of the message without surrounding spaces and punctuation, for "whole" rules."""
        if not self._whole:
            return (-1, -1)
        stripped = norm.lstrip(_WHOLE_STRIP)
        first = len(norm) - len(stripped)
        return (first, first + len(stripped.rstrip(_WHOLE_STRIP)) - 1)

    def _spans(self, norm: str) -> list[_Span]:
        """Matches in normalized text, dropping any that lie inside a longer match."""
        spans: list[_Span] = []
        append = spans.append
        last = len(norm) - 1
        # While each match starts and ends after the previous one, none can lie inside another and the list
        # is already in order: the usual case, which then skips the sort and the containment pass.
        nested = False
        previous_start = previous_end = -1
        first, final = self._bounds(norm)
        for end, (offset, phrase, left, right, whole, votes, extra, negatable) in self._automaton.iter(norm):
            start = end - offset
            if whole:
                if start != first or end != final:
                    votes = ()
            elif (left is not None and start > 0 and norm[start - 1] in left) or (
                right is not None and end < last and norm[end + 1] in right
            ):
                votes = ()
            if extra is not None:
                for more_left, more_right, more_whole, more_votes in extra:
                    if more_whole:
                        if start == first and end == final:
                            votes += more_votes
                    elif not (
                        (more_left is not None and start > 0 and norm[start - 1] in more_left)
                        or (more_right is not None and end < last and norm[end + 1] in more_right)
                    ):
                        votes += more_votes
            if not votes:
                continue
            if negatable and start > 0 and _negated(norm, start):
                # The negated span keeps its place, so the cues inside it stay silent, but its grievance goes.
                votes = tuple(v for v in votes if v[0] != COMPLAINT or v[1] <= 0)
            if start <= previous_start or end <= previous_end:
                nested = True
            previous_start, previous_end = start, end
            append((start, -end, phrase, votes))
        if nested:
            # "不是投诉" contains "投诉": the longer phrase speaks for the span, so counter-cues work.
            spans.sort()
            kept = []
            reach = -1
            for span in spans:
                if -span[1] > reach:
                    kept.append(span)
                    reach = -span[1]
            spans = kept
        return spans

    def find(self, text: str) -> list[Match]:
        """Matches in the normalized text, dropping any that lie inside a longer match."""
        if not self.rule_count:
            return []
        forced = self._forced
        return [
            _match(phrase, category, weight, start, 1 - neg_last, bool(forced) and (phrase, category) in forced)
            for start, neg_last, phrase, votes in self._spans(normalize(text))
            for category, weight in votes
        ]

    def classify(self, text: str) -> Classification:
        """The verdict of the rules (and the model, when there is one) on a message."""
        return self._kept(text)

    def _classify(self, text: str) -> Classification:
        spans = self._spans(normalize(text)) if self.rule_count else []
        if not spans:
            if self.model is not None:
                return self._with_model(text, {}, ())
            return _verdict(FALLBACK_CATEGORY, 0.0, False, {}, ())
        # The hot loop: _match inlined, since a call per match costs as much as the match itself.
        new = _new
        set_phrase, set_category, set_weight, set_start, set_end, set_forced = _MATCH_SLOTS
        forced_rules = self._forced
        forced: Match | None = None
        matched: list[Match] = []
        append = matched.append
        scores: dict[str, float] = {}
        get = scores.get
        # Categories with more than one positive cue: summed with DECAY once all are known (the usual message has
        # one cue per category, which then costs nothing more).
        positives: dict[str, list[float]] = {}
        several = False
        for start, neg_last, phrase, votes in spans:
            end = 1 - neg_last
            for category, weight in votes:
                match = new(Match)
                set_phrase(match, phrase)
                set_category(match, category)
                set_weight(match, weight)
                set_start(match, start)
                set_end(match, end)
                is_forced = bool(forced_rules) and (phrase, category) in forced_rules
                set_forced(match, is_forced)
                append(match)
                if is_forced and (forced is None or weight > forced.weight):
                    forced = match
                if weight > 0:
                    found = positives.get(category)
                    if found is None:
                        positives[category] = [weight]
                    else:
                        found.append(weight)
                        several = True
                scores[category] = get(category, 0.0) + weight
        if several:
            for category, weights in positives.items():
                if len(weights) > 1:
                    scores[category] += _decayed(weights) - sum(weights)
        if forced is not None:
            # The strongest forced rule found decides; the scores stay as they are, to show what else was found.
            model = self.model.predict_proba(text) if self.model is not None else _NO_MODEL
            return _verdict(forced.category, 1.0, True, scores, tuple(matched), model, True)
        if self.model is not None:
            return self._with_model(text, scores, tuple(matched))
        if len(scores) == 1:
            ((top_category, top),) = scores.items()
            if 0.0 < top < math.inf:
                # One finite positive score: its share is exactly 1 and there is no runner-up.
                confidence = _round3(min(1.0, top / self.strength_ref))
                return _verdict(top_category, confidence, confidence >= self.threshold, scores, tuple(matched))
        # One pass for the winner and the runner-up; on a tie the category scored first stays on top.
        top_category = FALLBACK_CATEGORY
        top = second = 0.0
        positive = []
        for category, score in scores.items():
            if score > 0:
                positive.append(score)
                if score > top:
                    top_category, top, second = category, score, top
                elif score > second:
                    second = score
        if not positive:
            return _verdict(FALLBACK_CATEGORY, 0.0, False, scores, tuple(matched))
        share = top / sum(positive)
        strength = min(1.0, top / self.strength_ref)
        confidence = _round3(share * strength)
        return _verdict(top_category, confidence, confidence >= self.threshold and top > second, scores, tuple(matched))

    def _with_model(self, text: str, scores: dict[str, float], matched: tuple[Match, ...]) -> Classification:
        """The rules' scores added to the model's log-odds (by the model's fitted weights); the softmax's top category
        and its probability."""
        assert self.model is not None
        model = self.model
        logits = model.logits(text)
        alone = dict(zip(model.classes, softmax(logits), strict=True))
        combined = model.combine(logits, scores)
        best = max(range(len(combined)), key=combined.__getitem__)
        confidence = _round3(combined[best])
        # A tie between the top two is never confident, as without a model.
        tie = sum(1 for p in combined if p == combined[best]) > 1
        ruled = has_rule_evidence(scores)
        # A message without a word ("[图片]", "👍", "。。。") says nothing of the issue, though the model, having
        # seen such messages labelled "other", is sure of it: the client is asked what the matter is instead.
        confident = not tie and model.confident_at(confidence, ruled) and (ruled or has_words(text))
        return _verdict(model.classes[best], confidence, confident, scores, matched, alone)


def has_rule_evidence(scores: Mapping[str, float]) -> bool:
    """Whether the rules' scores say anything: a rule of non-zero weight matched."""
    return any(scores.values())


def has_words(text: str) -> bool:
    """Whether a message holds a letter or a digit outside placeholders like "[图片]" (emoji and punctuation do not
    count)."""
    return any(ch.isalnum() for ch in _PLACEHOLDER.sub(" ", text))


def softmax(scores: Sequence[float]) -> list[float]:
    """Probabilities from log-odds, shifted by the largest so exp() never overflows."""
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


def _decayed(weights: list[float]) -> float:
    """The cues of one category summed strongest first, each DECAY times the one before."""
    weights.sort(reverse=True)
    total = 0.0
    factor = 1.0
    for weight in weights:
        total += weight * factor
        factor *= DECAY
    return total


def _negated(norm: str, start: int) -> bool:
    """Whether a negation word stands right before `start` (Chinese: adjacent; English: the word before)."""
    before = norm[max(0, start - 2) : start]
    if not before[-1].isascii():
        return before.endswith(_CJK_NEGATIONS)
    words = norm[max(0, start - 16) : start].split()
    if not words:
        return False
    word = words[-1]
    return word in _EN_NEGATIONS or word.endswith("n't")


def load_rules(path: Path) -> list[Rule]:
    """Rules from a keywords YAML file: a mapping of category to phrases (with optional weights)."""
    raw = load_file(path) or {}
    return rules_from_mapping(raw)


def rules_from_mapping(raw: Mapping[str, Any]) -> list[Rule]:
    """Accepts {"rules": [{phrase, category, weight, enabled, match_mode}]} or {category: [phrase | {phrase: w}]}."""
    rules: list[Rule] = []
    if "rules" in raw:
        for item in raw["rules"]:
            rules.append(
                Rule(
                    phrase=str(item["phrase"]),
                    category=str(item["category"]),
                    weight=float(item.get("weight", 1.0)),
                    enabled=bool(item.get("enabled", True)),
                    match_mode=str(item.get("match_mode", "auto")),
                    forced=bool(item.get("forced", False)),
                )
            )
        return rules
    for category, entries in raw.items():
        for entry in entries or []:
            if isinstance(entry, Mapping):
                for phrase, weight in entry.items():
                    rules.append(Rule(str(phrase), str(category), float(weight)))
            else:
                rules.append(Rule(str(entry), str(category), 1.0))
    return rules
