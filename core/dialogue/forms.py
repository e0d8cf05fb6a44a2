"""Per-category detail collection: slot specs from config/forms.yaml, validation and prompts."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.dialogue.folding import bare_message
from core.dialogue.hanzi import to_simplified
from core.errors import ConfigError
from core.yaml_files import load_file

CATEGORIES = ("inquiry", "complaint", "suggestion", "other")
_PHONE_SEPARATORS = re.compile(r"[\s\-()（）]")
_PHONE = re.compile(r"^(?:\+?86)?(1[3-9]\d{9}|0\d{9,11}|\d{7,8})$|^\+\d{7,15}$")


@dataclass(frozen=True, slots=True)
class SlotSpec:
    """One detail to collect: its validation, whether it may be skipped, where it may be prefilled from."""

    name: str
    required: bool = True
    validator: str = "text"
    min_length: int = 1
    max_length: int = 1000
    prefill: str | None = None
    choices: tuple[str, ...] = ()
    # Which entity of any message fills this detail: phone, contact, date, demand, project or topic.
    extract: str | None = None
    # For extract "topic": the words that point to each choice ("发票" → billing).
    cues: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # False: never asked for; filled only from what the client says (or its prefill), shown once it holds a value.
    ask: bool = True


@dataclass(frozen=True, slots=True)
class Validated:
    """The result of checking one answer: the value to store, or the text key of the problem."""

    value: str | None
    error: str | None = None


class Forms:
    """The slot specs of every category."""

    def __init__(self, specs: Mapping[str, list[SlotSpec]]) -> None:
        for category in CATEGORIES:
            if category not in specs:
                raise ConfigError(f"config/forms.yaml has no form for category {category!r}")
        self._specs = {k: list(v) for k, v in specs.items()}

    @classmethod
    def load(cls, path: Path) -> Forms:
        raw: dict[str, Any] = load_file(path) or {}
        specs: dict[str, list[SlotSpec]] = {}
        for category, slots in raw.items():
            specs[category] = [
                SlotSpec(
                    name=str(slot["name"]),
                    required=bool(slot.get("required", True)),
                    validator=str(slot.get("validator", "text")),
                    min_length=int(slot.get("min_length", 1)),
                    max_length=int(slot.get("max_length", 1000)),
                    prefill=slot.get("prefill"),
                    choices=tuple(str(c) for c in slot.get("choices", ())),
                    extract=_extractor(slot.get("extract"), category, slot["name"]),
                    cues={str(k): tuple(_fold(str(w)) for w in v) for k, v in (slot.get("cues") or {}).items()},
                    ask=_unasked_is_optional(slot.get("ask", True), category, slot),
                )
                for slot in slots
            ]
        return cls(specs)

    def slots(self, category: str) -> list[SlotSpec]:
        return self._specs.get(category, self._specs["other"])

    def slot(self, category: str, name: str) -> SlotSpec:
        for spec in self.slots(category):
            if spec.name == name:
                return spec
        raise ConfigError(f"category {category!r} has no slot {name!r}")

    def topic_of(self, category: str, name: str, norm_text: str) -> str | None:
        """The choice most cue words in the (normalized) text point to, when no other choice has as many; traditional
        characters are read as simplified ones ("戶外廣告" is "户外广告").

        "a quote for a KOL campaign, budget 200k" is about pricing (quote, budget) more than media (campaign).
        """
        spec = self.slot(category, name)
        norm_text = to_simplified(norm_text)
        counts = sorted(
            ((sum(1 for w in words if w and _holds(w, norm_text)), choice) for choice, words in spec.cues.items()),
            reverse=True,
        )
        if not counts or counts[0][0] == 0 or (len(counts) > 1 and counts[1][0] == counts[0][0]):
            return None
        return counts[0][1]

    def cued(self, category: str, name: str, norm_text: str) -> bool:
        """Whether any choice's cue word is in the (normalized) text."""
        spec = self.slot(category, name)
        norm_text = to_simplified(norm_text)
        return any(w and _holds(w, norm_text) for words in spec.cues.values() for w in words)

    def without_cues(self, category: str, name: str, norm_text: str) -> str:
        """The (normalized) text with every choice's cue words taken out: what it says beside pointing to one."""
        spec = self.slot(category, name)
        pattern = _cues_pattern(frozenset(w for words in spec.cues.values() for w in words if w))
        norm_text = to_simplified(norm_text)
        return norm_text if pattern is None else pattern.sub(" ", norm_text)

    def next_missing(self, category: str, filled: Mapping[str, Any]) -> SlotSpec | None:
        """The first slot to ask that is not yet answered (skipped optional slots count as answered)."""
        for spec in self.slots(category):
            if spec.ask and spec.name not in filled:
                return spec
        return None

    def shown(self, category: str, filled: Mapping[str, Any]) -> list[SlotSpec]:
        """The details a summary lists: every one asked for, and one never asked for once it holds a value."""
        return [spec for spec in self.slots(category) if spec.ask or filled.get(spec.name)]


# A cue of Latin letters is a word of its own (with its plural): "fee" is no part of "feedback", "eta" of "details".
_LATIN_CUE = re.compile(r"[a-z0-9 \-]+")


@lru_cache(maxsize=4096)
def _cue_pattern(word: str) -> re.Pattern[str] | None:
    if not _LATIN_CUE.fullmatch(word):
        return None
    return re.compile(rf"(?<![a-z0-9]){re.escape(word)}(?:s|es)?(?![a-z0-9])")


@lru_cache(maxsize=64)
def _cues_pattern(words: frozenset[str]) -> re.Pattern[str] | None:
    """Every cue word at once, longest first, a Latin one only as a whole word (with its plural), as `_holds` reads
    them: compiled once per slot's cues, not at every answer."""
    parts = [
        pattern.pattern if (pattern := _cue_pattern(word)) is not None else re.escape(word)
        for word in sorted(words, key=len, reverse=True)
    ]
    return re.compile("|".join(parts)) if parts else None


def _holds(word: str, norm_text: str) -> bool:
    """Whether the text holds the cue word: a Latin one as a whole word, any other as it stands."""
    pattern = _cue_pattern(word)
    return word in norm_text if pattern is None else pattern.search(norm_text) is not None


def _fold(word: str) -> str:
    # The classifier's normalize() on a single word (imported from there, it would make a cycle).
    return unicodedata.normalize("NFKC", word).lower().strip()


EXTRACTORS = ("phone", "contact", "date", "demand", "project", "topic")


def _extractor(value: Any, category: str, name: str) -> str | None:
    if value is None:
        return None
    if value not in EXTRACTORS:
        raise ConfigError(f"config/forms.yaml: {category}.{name} has unknown extract {value!r}")
    return str(value)


def _unasked_is_optional(value: Any, category: str, slot: Mapping[str, Any]) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"config/forms.yaml: {category}.{slot['name']} has ask {value!r}: write true or false")
    if not value and slot.get("required", True):
        # A detail never asked for cannot be one the ticket needs.
        raise ConfigError(f"config/forms.yaml: {category}.{slot['name']} has ask: false, so it needs required: false")
    return value


def normalize_phone(text: str) -> str | None:
    """A mobile or landline number without separators, or None when it is not one."""
    digits = _PHONE_SEPARATORS.sub("", text.strip())
    return digits if _PHONE.match(digits) else None


def validate(spec: SlotSpec, answer: str, skip_words: AbstractSet[str]) -> Validated:
    """Check one answer against its slot; skip words leave optional slots empty."""
    text = answer.strip()
    if bare_message(text.lower()) in skip_words:
        return Validated(None) if not spec.required else Validated(None, "form.required")
    if not text:
        return Validated(None, "form.required")
    if spec.validator == "phone":
        digits = normalize_phone(text)
        if digits is None:
            # "就这个微信", "王经理": no number at all is not a wrong one; the client hears why a number is asked.
            return Validated(None, "form.bad_phone" if any(c.isdigit() for c in text) else "form.phone_needed")
        return Validated(digits)
    if len(text) < spec.min_length:
        return Validated(None, "form.too_short")
    return Validated(text[: spec.max_length])
