"""One keyword rule as admins edit it, and the checks every rule passes before it is stored."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from core.dialogue.classifier import MATCH_MODES, Rule, normalize
from core.dialogue.forms import CATEGORIES
from core.errors import InvalidInput

MAX_PHRASE = 200
MAX_NOTE = 500
MAX_WEIGHT = 20.0
LANGUAGES = ("zh", "en", "mixed")


class RuleErrors(InvalidInput):
    """Rules that cannot be accepted, one reason per rule; nothing was changed."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A rule's editable fields, as stored in the draft, in a version's snapshot and in YAML files."""

    phrase: str
    category: str
    weight: float = 1.0
    enabled: bool = True
    match_mode: str = "auto"
    language: str = "zh"
    note: str = ""
    # When it matches, it decides the category outright (see core.dialogue.classifier.Rule.forced).
    forced: bool = False

    @property
    def key(self) -> tuple[str, str]:
        """What makes two rules the same rule: the normalized phrase and the category."""
        return (normalize(self.phrase), self.category)

    def to_rule(self) -> Rule:
        return Rule(self.phrase, self.category, self.weight, self.enabled, self.match_mode, self.forced)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def default_language(phrase: str) -> str:
    return "en" if phrase.isascii() else "zh"


def parse_rule(data: Mapping[str, Any]) -> RuleSpec:
    """A rule from JSON or YAML fields; raises InvalidInput naming the first bad field."""
    phrase = data.get("phrase")
    if not isinstance(phrase, str) or not normalize(phrase):
        raise InvalidInput("phrase must be a non-empty text")
    phrase = phrase.strip()
    if len(phrase) > MAX_PHRASE:
        raise InvalidInput(f"phrase is longer than {MAX_PHRASE} characters")
    category = data.get("category")
    if category not in CATEGORIES:
        raise InvalidInput(f"category must be one of {', '.join(CATEGORIES)}, not {category!r}")
    weight = data.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight):
        raise InvalidInput(f"weight must be a number, not {weight!r}")
    if abs(weight) > MAX_WEIGHT:
        raise InvalidInput(f"weight must lie between -{MAX_WEIGHT:g} and {MAX_WEIGHT:g}")
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise InvalidInput("enabled must be true or false")
    mode = data.get("match_mode", "auto")
    if mode not in MATCH_MODES:
        raise InvalidInput(f"match_mode must be one of {', '.join(MATCH_MODES)}, not {mode!r}")
    language = data.get("language") or default_language(phrase)
    if language not in LANGUAGES:
        raise InvalidInput(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    note = data.get("note") or ""
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise InvalidInput(f"note must be a text of at most {MAX_NOTE} characters")
    forced = data.get("forced", False)
    if not isinstance(forced, bool):
        raise InvalidInput("forced must be true or false")
    if forced and float(weight) <= 0:
        # A forced counter-cue would decide for the category it speaks against.
        raise InvalidInput("a forced rule needs a positive weight")
    return RuleSpec(phrase, str(category), float(weight), enabled, str(mode), str(language), note, forced)


def parse_rules(items: Iterable[Mapping[str, Any]]) -> list[RuleSpec]:
    """A whole rule set, or RuleErrors listing every bad rule (by position and phrase) and every duplicate."""
    specs: list[RuleSpec] = []
    errors: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for number, item in enumerate(items, start=1):
        label = f"rule {number}"
        if isinstance(item, Mapping) and isinstance(item.get("phrase"), str):
            label += f" ({item['phrase']!r})"
        if not isinstance(item, Mapping):
            errors.append(f"{label}: not a mapping of phrase, category, weight")
            continue
        try:
            spec = parse_rule(item)
        except InvalidInput as exc:
            errors.append(f"{label}: {exc}")
            continue
        if spec.key in seen:
            errors.append(f"{label}: the same phrase and category as rule {seen[spec.key]}")
            continue
        seen[spec.key] = number
        specs.append(spec)
    if errors:
        raise RuleErrors(errors)
    return specs


def spec_from_json(data: Mapping[str, Any]) -> RuleSpec:
    """A rule from a stored snapshot (already checked when it was stored)."""
    return RuleSpec(
        phrase=str(data["phrase"]),
        category=str(data["category"]),
        weight=float(data.get("weight", 1.0)),
        enabled=bool(data.get("enabled", True)),
        match_mode=str(data.get("match_mode", "auto")),
        language=str(data.get("language") or default_language(str(data["phrase"]))),
        note=str(data.get("note") or ""),
        forced=bool(data.get("forced", False)),
    )
