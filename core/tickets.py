"""Ticket policies: numbering, routing to a department, priority and SLA promises."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import TicketCounter
from core.errors import ConfigError


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
        deps_raw = _read_yaml(config_dir / "departments.yaml")
        sla_raw = _read_yaml(config_dir / "sla.yaml")
        departments = tuple(
            DepartmentSpec(
                code=str(d["code"]),
                name=str(d["name"]),
                head=d.get("head"),
                categories=tuple(d.get("categories", ())),
                keywords=tuple(d.get("keywords", ())),
            )
            for d in deps_raw.get("departments", [])
        )
        if not departments:
            raise ConfigError("config/departments.yaml lists no departments")
        default = str(deps_raw.get("default", departments[0].code))
        sla = {
            str(p): SlaTarget(
                first_response=timedelta(minutes=float(t["first_response_minutes"])),
                resolution=timedelta(hours=float(t["resolution_hours"])),
            )
            for p, t in sla_raw.get("targets", {}).items()
        }
        for p in ("P1", "P2", "P3", "P4"):
            if p not in sla:
                raise ConfigError(f"config/sla.yaml has no target for {p}")
        return cls(
            departments=departments,
            default_department=default,
            sla=sla,
            urgent_cues=tuple(str(c) for c in sla_raw.get("urgent_cues", ())),
            tier_priority={str(k): dict(v) for k, v in sla_raw.get("priority", {}).items()},
            timezone=timezone,
        )

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

    def local_day(self, moment: datetime) -> str:
        return moment.astimezone(ZoneInfo(self.timezone)).strftime("%Y%m%d")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
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
    """A promise a client can read: "2 小时", "30 分钟", "1 day"."""
    minutes = int(delta.total_seconds() // 60)
    if lang == "en":
        if minutes % 1440 == 0 and minutes >= 1440:
            days = minutes // 1440
            return f"{days} day{'s' if days > 1 else ''}"
        if minutes % 60 == 0 and minutes >= 60:
            hours = minutes // 60
            return f"{hours} hour{'s' if hours > 1 else ''}"
        return f"{minutes} minutes"
    if minutes % 1440 == 0 and minutes >= 1440:
        return f"{minutes // 1440} 天"
    if minutes % 60 == 0 and minutes >= 60:
        return f"{minutes // 60} 小时"
    return f"{minutes} 分钟"
