"""The dialogue corpus: scenarios of clients typing to kefu, loaded and checked (tests/data/dialogues/README.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import yaml_files
from core.dialogue.forms import CATEGORIES
from core.settings import PROJECT_ROOT

CORPUS_DIR = PROJECT_ROOT / "tests" / "data" / "dialogues"
SPLITS = ("dev", "heldout")
# Slot names of config/forms.yaml, across categories.
SLOTS = frozenset({"description", "project", "since", "expected", "phone", "topic", "question", "proposal", "contact"})
# What the bot can be asking for: a slot, the summary's confirmation, the category, a score, a feedback comment.
ASKS = SLOTS | {"confirm", "category", "score", "comment"}
# `at:` conditions: an ask above, a ticket exists with nothing asked, or anything at all is asked.
AT = ASKS | {"ticket", "asked"}
GOALS = frozenset({"ticket", "person", "cancelled", "answered", "nothing"})
REPLY_CHECKS = frozenset({"status", "short", "hours", "sla", "no_menu", "calm"})
REP_ACTIONS = frozenset({"resolve"})


class ScenarioError(ValueError):
    """A scenario that cannot be played, with its id."""


@dataclass(frozen=True, slots=True)
class Step:
    """One scripted thing: the client says something (now, or once the bot asks `at`), a rep acts, or time passes."""

    say: str | None = None
    at: str | None = None
    gap: float | None = None
    rep: str | None = None
    wait: float | None = None


@dataclass(frozen=True, slots=True)
class TicketSpec:
    """A ticket that must exist: its category and details (each detail matched by any of its alternatives)."""

    category: str | None = None
    details: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Expect:
    """How the conversation must end."""

    goals: tuple[str, ...]
    ticket: TicketSpec
    more: tuple[TicketSpec, ...] = ()
    absent: Mapping[str, str] = field(default_factory=dict)
    tickets: int | None = None
    reply: tuple[str, ...] = ()
    satisfaction: int | None = None
    reopened: bool = False
    acked: bool = False
    max_turns: int | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    """One client, what they know, how they answer, what they do, and the outcome they should get."""

    id: str
    split: str
    skills: tuple[str, ...]
    style: tuple[str, ...]
    note: str
    category: str
    facts: Mapping[str, tuple[str, ...]]
    answers: Mapping[str, tuple[str, ...]]
    script: tuple[Step, ...]
    expect: Expect

    @property
    def affirmation(self) -> str | None:
        """The reply that should submit the summary: the last `confirm` answer, unless no ticket is wanted."""
        replies = self.answers.get("confirm")
        if not replies or not {"ticket", "answered"} & set(self.expect.goals):
            return None
        return replies[-1]


def _texts(value: Any, where: str) -> tuple[str, ...]:
    """A string or a list of strings, as a tuple."""
    items = value if isinstance(value, list) else [value]
    # YAML reads a bare yes / no as a boolean (an int subclass): such an answer must be quoted.
    if not items or not all(isinstance(i, str | int) and not isinstance(i, bool) and str(i).strip() for i in items):
        raise ScenarioError(f"{where}: expected text or a list of texts, got {value!r}")
    return tuple(str(i) for i in items)


def _mapping(raw: Any, where: str, keys: frozenset[str]) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: expected a mapping")
    unknown = set(raw) - keys
    if unknown:
        raise ScenarioError(f"{where}: unknown names {sorted(unknown)}")
    return {k: _texts(v, f"{where}.{k}") for k, v in raw.items()}


def _step(raw: Any, where: str) -> Step:
    if isinstance(raw, str):
        return Step(say=raw)
    if not isinstance(raw, dict) or not set(raw) <= {"say", "at", "gap", "rep", "wait"}:
        raise ScenarioError(f"{where}: a step is text or a mapping of say/at/gap/rep/wait, got {raw!r}")
    step = Step(
        say=str(raw["say"]) if "say" in raw else None,
        at=raw.get("at"),
        gap=float(raw["gap"]) if "gap" in raw else None,
        rep=raw.get("rep"),
        wait=float(raw["wait"]) if "wait" in raw else None,
    )
    if sum(x is not None for x in (step.say, step.rep, step.wait)) != 1:
        raise ScenarioError(f"{where}: a step does exactly one of say, rep, wait")
    if step.at is not None and step.at not in AT:
        raise ScenarioError(f"{where}: at {step.at!r} is not one of {sorted(AT)}")
    if step.rep is not None and step.rep not in REP_ACTIONS:
        raise ScenarioError(f"{where}: rep {step.rep!r} is not one of {sorted(REP_ACTIONS)}")
    return step


def _ticket_spec(raw: Any, where: str) -> TicketSpec:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: expected a mapping")
    category = raw.get("category")
    if category is not None and category not in CATEGORIES:
        raise ScenarioError(f"{where}: category {category!r} is not one of {CATEGORIES}")
    return TicketSpec(category, _mapping(raw.get("details"), f"{where}.details", SLOTS))


def _expect(raw: Any, where: str) -> Expect:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: expected a mapping")
    known = {"goal", "category", "details", "more", "absent", "tickets", "reply", "satisfaction", "reopened"}
    unknown = set(raw) - known - {"acked", "max_turns"}
    if unknown:
        raise ScenarioError(f"{where}: unknown names {sorted(unknown)}")
    goals = _texts(raw.get("goal"), f"{where}.goal")
    if not set(goals) <= GOALS:
        raise ScenarioError(f"{where}.goal: {goals} not all in {sorted(GOALS)}")
    reply = tuple(raw.get("reply") or ())
    if not set(reply) <= REPLY_CHECKS:
        raise ScenarioError(f"{where}.reply: {reply} not all in {sorted(REPLY_CHECKS)}")
    absent = raw.get("absent") or {}
    if not isinstance(absent, dict) or not set(absent) <= SLOTS:
        raise ScenarioError(f"{where}.absent: expected a mapping of slot names to text")
    return Expect(
        goals=goals,
        ticket=_ticket_spec({"category": raw.get("category"), "details": raw.get("details")}, where),
        more=tuple(_ticket_spec(m, f"{where}.more[{i}]") for i, m in enumerate(raw.get("more") or [])),
        absent={k: str(v) for k, v in absent.items()},
        tickets=raw.get("tickets"),
        reply=reply,
        satisfaction=raw.get("satisfaction"),
        reopened=bool(raw.get("reopened", False)),
        acked=bool(raw.get("acked", False)),
        max_turns=raw.get("max_turns"),
    )


def parse_scenario(raw: Any, split: str) -> Scenario:
    """One scenario from its YAML mapping; raises ScenarioError naming what is wrong."""
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        raise ScenarioError(f"{split}: a scenario needs an id, got {raw!r}")
    sid = raw["id"]
    unknown = set(raw) - {"id", "skills", "style", "note", "client", "answers", "script", "expect"}
    if unknown:
        raise ScenarioError(f"{sid}: unknown names {sorted(unknown)}")
    client = raw.get("client") or {}
    category = client.get("category")
    if category not in CATEGORIES:
        raise ScenarioError(f"{sid}: client.category {category!r} is not one of {CATEGORIES}")
    script = raw.get("script")
    if not isinstance(script, list) or not script:
        raise ScenarioError(f"{sid}: script must be a non-empty list")
    skills = raw.get("skills")
    if not isinstance(skills, list) or not skills:
        raise ScenarioError(f"{sid}: skills must be a non-empty list")
    return Scenario(
        id=sid,
        split=split,
        skills=tuple(str(s) for s in skills),
        style=tuple(str(s) for s in raw.get("style") or ()),
        note=str(raw.get("note", "")),
        category=category,
        facts=_mapping(client.get("facts"), f"{sid}.client.facts", SLOTS),
        answers=_mapping(raw.get("answers"), f"{sid}.answers", ASKS),
        script=tuple(_step(s, f"{sid}.script[{i}]") for i, s in enumerate(script)),
        expect=_expect(raw.get("expect"), f"{sid}.expect"),
    )


def load_scenarios(split: str, directory: Path = CORPUS_DIR) -> list[Scenario]:
    """Every scenario of one split's file, ids unique."""
    path = directory / f"{split}.yaml"
    raw = yaml_files.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, list):
        raise ScenarioError(f"{path.name}: expected a list of scenarios")
    scenarios = [parse_scenario(item, split) for item in raw]
    ids = [s.id for s in scenarios]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ScenarioError(f"{path.name}: duplicate ids {sorted(duplicates)}")
    return scenarios
