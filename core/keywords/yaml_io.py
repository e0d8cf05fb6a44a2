"""Rule sets as YAML, in the format of config/keywords.yaml with match_mode and note where they are set."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from core.keywords.spec import RuleErrors, RuleSpec, default_language, parse_rules
from core.yaml_files import safe_load

HEADER = "# kefu keyword rules: phrase, category, weight (negative: a counter-cue), match_mode, forced, note.\n"


def _items(raw: Any) -> list[Any]:
    """The rule mappings of either accepted layout: {"rules": [...]} or {category: [phrase | {phrase: weight}]}."""
    if not isinstance(raw, Mapping):
        raise RuleErrors(["the file must hold a mapping with a 'rules' list"])
    if "rules" in raw:
        rules = raw["rules"]
        if not isinstance(rules, list):
            raise RuleErrors(["'rules' must be a list"])
        return rules
    items: list[Any] = []
    for category, entries in raw.items():
        if not isinstance(entries, list):
            raise RuleErrors([f"{category}: must be a list of phrases"])
        for entry in entries:
            if isinstance(entry, Mapping):
                items.extend({"phrase": phrase, "category": category, "weight": w} for phrase, w in entry.items())
            else:
                items.append({"phrase": entry, "category": category})
    return items


def parse_yaml(text: str) -> list[RuleSpec]:
    """Every rule of the file, or RuleErrors with one line per bad rule."""
    try:
        raw = safe_load(text)
    except yaml.YAMLError as exc:
        raise RuleErrors([f"not valid YAML: {exc}"]) from None
    specs = parse_rules(_items(raw or {"rules": []}))
    return specs


def load_specs(path: Path) -> list[RuleSpec]:
    return list(_parsed(path.read_text(encoding="utf-8")))


# Keyed on the text, so an edited file is parsed anew: every start reads config/keywords.yaml (about a thousand
# rules, a tenth of a second), and the tests start kefu hundreds of times in one process.
@functools.lru_cache(maxsize=2)
def _parsed(text: str) -> tuple[RuleSpec, ...]:
    return tuple(parse_yaml(text))


def _entry(spec: RuleSpec) -> dict[str, Any]:
    # Only what differs from the defaults, so an exported file reads like the shipped one.
    entry: dict[str, Any] = {"phrase": spec.phrase, "category": spec.category, "weight": spec.weight}
    if not spec.enabled:
        entry["enabled"] = False
    if spec.match_mode != "auto":
        entry["match_mode"] = spec.match_mode
    if spec.language != default_language(spec.phrase):
        entry["language"] = spec.language
    if spec.forced:
        entry["forced"] = True
    if spec.note:
        entry["note"] = spec.note
    return entry


def dump_yaml(specs: Sequence[RuleSpec], *, comment: str = "") -> str:
    """The rule set as a YAML text that parse_yaml reads back to the same rules, one flow mapping a line."""
    lines = [HEADER]
    if comment:
        lines.append(f"# {comment}\n")
    lines.append("rules:\n")
    for spec in specs:
        flow = yaml.safe_dump(_entry(spec), allow_unicode=True, default_flow_style=True, sort_keys=False, width=10_000)
        lines.append(f"  - {flow.strip()}\n")
    return "".join(lines)
