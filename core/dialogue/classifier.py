"""Keyword classifier: an Aho-Corasick automaton over normalized text, a score per category."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ahocorasick
import yaml

from core.dialogue.forms import CATEGORIES
from core.errors import ConfigError

FALLBACK_CATEGORY = "other"


def normalize(text: str) -> str:
    """NFKC (full-width to half-width), lower case, runs of whitespace as one space."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


@dataclass(frozen=True, slots=True)
class Rule:
    """A phrase voting for a category; a negative weight makes it a counter-cue."""

    phrase: str
    category: str
    weight: float = 1.0
    enabled: bool = True


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


class KeywordClassifier:
    """Classifies messages by the rules it was built with; immutable, so safe to swap atomically."""

    def __init__(self, rules: Iterable[Rule], threshold: float = 0.5, strength_ref: float = 2.0) -> None:
        self.threshold = threshold
        self.strength_ref = strength_ref
        votes: dict[str, list[tuple[str, float]]] = {}
        for rule in rules:
            if not rule.enabled:
                continue
            if rule.category not in CATEGORIES:
                raise ConfigError(f"rule {rule.phrase!r} names unknown category {rule.category!r}")
            phrase = normalize(rule.phrase)
            if phrase:
                votes.setdefault(phrase, []).append((rule.category, rule.weight))
        self.rule_count = sum(len(v) for v in votes.values())
        self._automaton: Any = ahocorasick.Automaton()
        for phrase, phrase_votes in votes.items():
            # ASCII phrases must match whole words ("ad" is not in "add"); CJK has no word breaks.
            bounded = _is_word_char(phrase[0]) or _is_word_char(phrase[-1])
            self._automaton.add_word(phrase, (phrase, len(phrase), tuple(phrase_votes), bounded))
        if votes:
            self._automaton.make_automaton()

    def find(self, text: str) -> list[Match]:
        """Matches in the normalized text, dropping any that lie inside a longer match."""
        if not self.rule_count:
            return []
        norm = normalize(text)
        spans: list[tuple[int, int, str, tuple[tuple[str, float], ...]]] = []
        last = len(norm) - 1
        for end, (phrase, length, votes, bounded) in self._automaton.iter(norm):
            start = end - length + 1
            if bounded and (
                (start > 0 and _is_word_char(norm[start - 1]) and _is_word_char(phrase[0]))
                or (end < last and _is_word_char(norm[end + 1]) and _is_word_char(phrase[-1]))
            ):
                continue
            spans.append((start, end, phrase, votes))
        if len(spans) > 1:
            # "不是投诉" contains "投诉": the longer phrase speaks for the span, so counter-cues work.
            spans.sort(key=lambda s: (s[0], -s[1]))
            kept = []
            reach = -1
            for span in spans:
                if span[1] <= reach:
                    continue
                kept.append(span)
                reach = span[1]
            spans = kept
        return [
            Match(phrase, category, weight, start, end + 1)
            for start, end, phrase, votes in spans
            for category, weight in votes
        ]

    def classify(self, text: str) -> Classification:
        matched = self.find(text)
        if not matched:
            return Classification(FALLBACK_CATEGORY, 0.0, False, {}, ())
        scores: dict[str, float] = {}
        for m in matched:
            scores[m.category] = scores.get(m.category, 0.0) + m.weight
        positive = {c: s for c, s in scores.items() if s > 0}
        if not positive:
            return Classification(FALLBACK_CATEGORY, 0.0, False, scores, tuple(matched))
        ranked = sorted(positive.items(), key=lambda item: item[1], reverse=True)
        top_category, top = ranked[0]
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        share = top / sum(positive.values())
        strength = min(1.0, top / self.strength_ref)
        confidence = round(share * strength, 3)
        confident = confidence >= self.threshold and top > second
        return Classification(top_category, confidence, confident, scores, tuple(matched))


def load_rules(path: Path) -> list[Rule]:
    """Rules from a keywords YAML file: a mapping of category to phrases (with optional weights)."""
    with path.open(encoding="utf-8") as fh:
        raw = yaml.safe_load(fh) or {}
    return rules_from_mapping(raw)


def rules_from_mapping(raw: Mapping[str, Any]) -> list[Rule]:
    """Accepts {"rules": [{phrase, category, weight}]} or {category: [phrase | {phrase: weight}]}."""
    rules: list[Rule] = []
    if "rules" in raw:
        for item in raw["rules"]:
            rules.append(
                Rule(
                    phrase=str(item["phrase"]),
                    category=str(item["category"]),
                    weight=float(item.get("weight", 1.0)),
                    enabled=bool(item.get("enabled", True)),
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
