"""Ticket policies: numbering, routing to a department, priority and SLA promises."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import TicketCounter
from core.dialogue.forms import CATEGORIES
from core.errors import ConfigError
from core.yaml_files import load_file


@dataclass(frozen=True, slots=True)
class DepartmentSpec:
    """A department from config/departments.yaml."""

    code: str
    name: str
    head: str | None = None
    categories: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SlaTarget:
    """Response and resolution targets of one priority."""

    first_response: timedelta
    resolution: timedelta


@dataclass(frozen=True, slots=True)
class TicketPolicies:
    """Routing, priority and SLA rules, loaded from config."""

    departments: tuple[DepartmentSpec, ...]
    default_department: str
    sla: Mapping[str, SlaTarget]
    urgent_cues: tuple[str, ...] = ()
    tier_priority: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    timezone: str = "Asia/Shanghai"

    @classmethod
    def load(cls, config_dir: Path, timezone: str = "Asia/Shanghai") -> TicketPolicies:
        return cls.from_mappings(
            _read_yaml(config_dir / "departments.yaml"), _read_yaml(config_dir / "sla.yaml"), timezone=timezone
        )

    @classmethod
    def from_mappings(cls, departments: Any, sla: Any, timezone: str = "Asia/Shanghai") -> TicketPolicies:
        """Build from the documents of config/departments.yaml and config/sla.yaml (or their saved versions)."""
        return cls(**_routing_fields(departments), **_sla_fields(sla), timezone=timezone)

    def with_routing(self, departments: Any) -> TicketPolicies:
        """The same policies with routing from a document shaped like config/departments.yaml."""
        return replace(self, **_routing_fields(departments))

    def with_sla(self, sla: Any) -> TicketPolicies:
        """The same policies with targets, cues and tier priorities from a document shaped like config/sla.yaml."""
        return replace(self, **_sla_fields(sla))

    @property
    def tiers(self) -> tuple[str, ...]:
        """The client tiers that have a priority mapping (A, B, C, D in the shipped config)."""
        return tuple(sorted(self.tier_priority))

    def route(self, category: str, text: str) -> str:
        """The department code: keyword cues first (more specific), then the category's home."""
        lowered = text.lower()
        for dept in self.departments:
            if any(k.lower() in lowered for k in dept.keywords):
                return dept.code
        for dept in self.departments:
            if category in dept.categories:
                return dept.code
        return self.default_department

    def priority(self, tier: str, category: str, text: str) -> str:
        """P1 (most urgent) to P4, from client tier and category, raised one step by urgency cues."""
        by_tier = self.tier_priority.get(tier) or self.tier_priority.get("C") or {}
        base = str(by_tier.get(category, "P3"))
        level = int(base[1])
        if any(cue.lower() in text.lower() for cue in self.urgent_cues):
            level = max(1, level - 1)
        return f"P{level}"

    def target(self, tier: str, category: str, text: str) -> SlaTarget:
        """The targets an issue of this category, told in `text` by a client of this tier, gets."""
        return self.sla[self.priority(tier, category, text)]

    def local_day(self, moment: datetime) -> str:
        return moment.astimezone(ZoneInfo(self.timezone)).strftime("%Y%m%d")


PRIORITIES = ("P1", "P2", "P3", "P4")
_TIER = re.compile(r"^[A-Z]$")
_CODE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    # YAML reads an unquoted 12315 as a number; it is still a cue to look for in text.
    if not isinstance(value, list | tuple) or not all(isinstance(v, str | int) for v in value):
        raise ConfigError(f"{what} must be a list of texts")
    cleaned = tuple(str(v).strip() for v in value if str(v).strip())
    if len(cleaned) > 500 or any(len(v) > 100 for v in cleaned):
        raise ConfigError(f"{what}: at most 500 entries of at most 100 characters")
    return cleaned


def _routing_fields(data: Any) -> dict[str, Any]:
    """Departments and the default one, from config/departments.yaml's shape; ConfigError says what is wrong."""
    if not isinstance(data, Mapping):
        raise ConfigError("departments: expected a mapping with 'departments' and 'default'")
    raw = data.get("departments")
    if not isinstance(raw, list) or not raw:
        raise ConfigError("config/departments.yaml lists no departments")
    departments: list[DepartmentSpec] = []
    for i, d in enumerate(raw, 1):
        if not isinstance(d, Mapping) or not isinstance(d.get("code"), str) or not _CODE.match(d["code"]):
            raise ConfigError(f"department {i}: 'code' must be lower-case letters, digits, '-' or '_'")
        code = d["code"]
        if any(dept.code == code for dept in departments):
            raise ConfigError(f"department {code} is listed twice")
        categories = _strings(d.get("categories"), f"department {code}: categories")
        unknown = sorted(set(categories) - set(CATEGORIES))
        if unknown:
            raise ConfigError(f"department {code}: unknown categories {unknown} (known: {', '.join(CATEGORIES)})")
        head = d.get("head")
        if head is not None and not isinstance(head, str):
            raise ConfigError(f"department {code}: 'head' must be a user name or null")
        departments.append(
            DepartmentSpec(
                code=code,
                name=str(d.get("name") or code),
                head=head or None,
                categories=categories,
                keywords=_strings(d.get("keywords"), f"department {code}: keywords"),
            )
        )
    default = data.get("default", departments[0].code)
    if default not in {d.code for d in departments}:
        raise ConfigError(f"default department {default!r} is not one of the departments listed")
    return {"departments": tuple(departments), "default_department": str(default)}


def _sla_fields(data: Any) -> dict[str, Any]:
    """Targets, urgent cues and tier priorities, from config/sla.yaml's shape; ConfigError says what is wrong."""
    if not isinstance(data, Mapping):
        raise ConfigError("sla: expected a mapping with 'targets', 'priority' and 'urgent_cues'")
    targets = data.get("targets")
    if not isinstance(targets, Mapping):
        raise ConfigError("sla: 'targets' must map P1..P4 to first_response_minutes and resolution_hours")
    sla: dict[str, SlaTarget] = {}
    for p in PRIORITIES:
        t = targets.get(p)
        if t is None:
            raise ConfigError(f"config/sla.yaml has no target for {p}")
        if not isinstance(t, Mapping):
            raise ConfigError(f"{p}: expected first_response_minutes and resolution_hours")
        minutes = _positive(t.get("first_response_minutes"), f"{p}: first_response_minutes", 60 * 24 * 365)
        hours = _positive(t.get("resolution_hours"), f"{p}: resolution_hours", 24 * 365)
        sla[p] = SlaTarget(first_response=timedelta(minutes=minutes), resolution=timedelta(hours=hours))
    extra = sorted(set(targets) - set(PRIORITIES))
    if extra:
        raise ConfigError(f"sla: unknown priorities {extra} (P1..P4 only)")
    by_tier = data.get("priority") or {}
    if not isinstance(by_tier, Mapping):
        raise ConfigError("sla: 'priority' must map client tiers to a priority per category")
    tier_priority: dict[str, dict[str, str]] = {}
    for tier, row in by_tier.items():
        if not isinstance(tier, str) or not _TIER.match(tier):
            raise ConfigError(f"client tier {tier!r} must be one capital letter (A..Z)")
        if not isinstance(row, Mapping):
            raise ConfigError(f"tier {tier}: expected a priority per category")
        for category, priority in row.items():
            if category not in CATEGORIES:
                raise ConfigError(f"tier {tier}: unknown category {category!r} (known: {', '.join(CATEGORIES)})")
            if priority not in PRIORITIES:
                raise ConfigError(f"tier {tier}, {category}: priority must be one of P1..P4, got {priority!r}")
        tier_priority[tier] = {str(c): str(p) for c, p in row.items()}
    return {
        "sla": sla,
        "urgent_cues": _strings(data.get("urgent_cues"), "urgent_cues"),
        "tier_priority": tier_priority,
    }


def _positive(value: Any, what: str, limit: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= limit:
        raise ConfigError(f"{what} must be a number above 0 and at most {limit:g}")
    return float(value)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = load_file(path) or {}
    except FileNotFoundError:
        raise ConfigError(f"missing config file {path}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping")
    return data


TICKET_NUMBER = re.compile(r"^KF-\d{8}-\d{4,}$")


async def next_ticket_number(session: AsyncSession, day: str) -> str:
    """KF-<day>-NNNN, gap-free per day; the counter row is updated inside the caller's transaction."""
    result = await session.execute(
        update(TicketCounter).where(TicketCounter.day == day).values(last=TicketCounter.last + 1)
    )
    if getattr(result, "rowcount", 0) == 0:
        try:
            async with session.begin_nested():
                session.add(TicketCounter(day=day, last=1))
        except IntegrityError:
            # Another transaction created today's row first; its row lock now orders us after it.
            await session.execute(
                update(TicketCounter).where(TicketCounter.day == day).values(last=TicketCounter.last + 1)
            )
    last = (await session.execute(select(TicketCounter.last).where(TicketCounter.day == day))).scalar_one()
    return f"KF-{day}-{last:04d}"


def format_duration(delta: timedelta, lang: str) -> str:
    """A promise of business time a client can read: "2 小时", "30 分钟", "24 hours".

    Never in days: 24 hours of business time are three working days and more (7.5 open hours a day), and "1 天内
    （工作时间）" reads as one working day.
    """
    minutes = int(delta.total_seconds() // 60)
    if lang == "en":
        if minutes % 60 == 0 and minutes >= 60:
            hours = minutes // 60
            return f"{hours} hour{'s' if hours > 1 else ''}"
        return f"{minutes} minutes"
    if minutes % 60 == 0 and minutes >= 60:
        return f"{minutes // 60} 小时"
    return f"{minutes} 分钟"
