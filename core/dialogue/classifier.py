"""Keyword classifier: an Aho-Corasick automaton over normalized text, a score per category."""

from __future__ import annotations

import math
import string
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ahocorasick
import yaml

from core.dialogue.forms import CATEGORIES
from core.dialogue.hanzi import traditional_forms
from core.errors import ConfigError

FALLBACK_CATEGORY = "other"

# How a rule's phrase must sit in the message:
#   auto       ASCII letters and digits at the phrase's ends need a word boundary there; CJK ends match anywhere
#   substring  anywhere, even inside a longer word ("refund" in "refunded")
#   word       both ends set apart from letters and digits of any script (a CJK phrase standing on its own)
#   whole      the whole message, ignoring surrounding spaces and punctuation ("ok", "收到")
MATCH_MODES = ("auto", "substring", "word", "whole")
# What "whole" ignores around the message, as is_handoff does.
_WHOLE_STRIP = " .,!?;:。，！？；：~～…'\"()[]"


# NFKC folds these to ASCII, and Chinese keyboards type them in nearly every message, which sends the
# message down NFKC's slow path. Each maps to a single character, so replacing them first gives the text
# the same NFKC form; most messages are then already normalized and skip the full pass.
_FULL_WIDTH_PUNCTUATION = (("，", ","), ("？", "?"), ("！", "!"), ("：", ":"), ("；", ";"), ("（", "("), ("）", ")"))


_CURLY_APOSTROPHE = "\u2019"


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


@dataclass(frozen=True, slots=True)
class Match:
    """A rule phrase found in a message."""

    phrase: str
    category: str
    weight: float
    start: int
    end: int

    def to_json(self) -> dict[str, Any]:
        return {"phrase": self.phrase, "category": self.category, "weight": self.weight}


@dataclass(frozen=True, slots=True)
class Classification:
    """The verdict on one message and how sure the classifier is."""

    category: str
    confidence: float
    confident: bool
    scores: dict[str, float] = field(default_factory=dict)
    matched: tuple[Match, ...] = ()

    def to_json(self, text: str) -> dict[str, Any]:
        return {
            "text": text,
            "category": self.category,
            "confidence": self.confidence,
            "confident": self.confident,
            "matched": [m.to_json() for m in self.matched],
        }


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


_MATCH_SLOTS = _slot_setters(Match, ("phrase", "category", "weight", "start", "end"))
_VERDICT_SLOTS = _slot_setters(Classification, ("category", "confidence", "confident", "scores", "matched"))


def _match(phrase: str, category: str, weight: float, start: int, end: int) -> Match:
    match: Match = _new(Match)
    set_phrase, set_category, set_weight, set_start, set_end = _MATCH_SLOTS
    set_phrase(match, phrase)
    set_category(match, category)
    set_weight(match, weight)
    set_start(match, start)
    set_end(match, end)
    return match


def _verdict(
    category: str, confidence: float, confident: bool, scores: dict[str, float], matched: tuple[Match, ...]
) -> Classification:
    verdict: Classification = _new(Classification)
    set_category, set_confidence, set_confident, set_scores, set_matched = _VERDICT_SLOTS
    set_category(verdict, category)
    set_confidence(verdict, confidence)
    set_confident(verdict, confident)
    set_scores(verdict, scores)
    set_matched(verdict, matched)
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


class KeywordClassifier:
    """Classifies messages by the rules it was built with; immutable, so safe to swap atomically."""

    def __init__(
        self,
        rules: Iterable[Rule],
        threshold: float = 0.5,
        strength_ref: float = 2.0,
        *,
        version: int | None = None,
    ) -> None:
        self.threshold = threshold
        self.strength_ref = strength_ref
        # The published rule version this classifier was built from (None: rules from a file or a draft).
        self.version = version
        # phrase -> match mode -> votes: the same phrase may vote in several modes (e.g. "ok" whole, "ok?" auto).
        votes: dict[str, dict[str, list[tuple[str, float]]]] = {}
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
        self.rule_count = sum(len(v) for modes in votes.values() for v in modes.values())
        self._whole = any("whole" in modes for modes in votes.values())
        self._automaton: Any = ahocorasick.Automaton()
        # Each phrase is also found in its traditional spellings (發票 for 发票), reported as the rule's own phrase.
        # Folding the rules rather than each message keeps the conversion out of classify(); a spelling that is
        # a phrase of its own, or came first from another phrase, keeps that phrase's votes.
        spellings = {phrase: phrase for phrase in votes}
        for phrase in votes:
            for form in traditional_forms(phrase):
                spellings.setdefault(normalize(form), phrase)
        for form, phrase in spellings.items():
            # Which ends need a boundary check is decided here, once per spelling and mode, rather than per match.
            # The first mode's check is inlined in the payload; a phrase voting in several modes (rare) carries the
            # others after it, so the common case pays for no loop.
            (mode, first), *others = votes[phrase].items()
            extra = tuple((*_check(m, form), tuple(v)) for m, v in others) or None
            self._automaton.add_word(form, (len(form) - 1, phrase, *_check(mode, form), tuple(first), extra))
        if votes:
            self._automaton.make_automaton()

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
        for end, (offset, phrase, left, right, whole, votes, extra) in self._automaton.iter(norm):
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
        return [
            _match(phrase, category, weight, start, 1 - neg_last)
            for start, neg_last, phrase, votes in self._spans(normalize(text))
            for category, weight in votes
        ]

    def classify(self, text: str) -> Classification:
        """The category with the highest positive score; "other" with no confidence when nothing scores."""
        spans = self._spans(normalize(text)) if self.rule_count else []
        if not spans:
            return _verdict(FALLBACK_CATEGORY, 0.0, False, {}, ())
        # The hot loop: _match inlined, since a call per match costs as much as the match itself.
        new = _new
        set_phrase, set_category, set_weight, set_start, set_end = _MATCH_SLOTS
        matched: list[Match] = []
        append = matched.append
        scores: dict[str, float] = {}
        get = scores.get
        for start, neg_last, phrase, votes in spans:
            end = 1 - neg_last
            for category, weight in votes:
                match = new(Match)
                set_phrase(match, phrase)
                set_category(match, category)
                set_weight(match, weight)
                set_start(match, start)
                set_end(match, end)
                append(match)
                scores[category] = get(category, 0.0) + weight
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


def load_rules(path: Path) -> list[Rule]:
    """Rules from a keywords YAML file: a mapping of category to phrases (with optional weights)."""
    with path.open(encoding="utf-8") as fh:
        raw = yaml.safe_load(fh) or {}
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
