"""First-start data from config/: departments, the default keyword rules, and those rules as version 1."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Department, KeywordRule, User
from core.keywords.spec import RuleSpec
from core.keywords.versions import seed_first_version
from core.keywords.yaml_io import load_specs
from core.tickets.policies import TicketPolicies


async def seed_departments(session: AsyncSession, policies: TicketPolicies, now: datetime) -> int:
    """Create the departments that config names and the database lacks; link heads that exist."""
    existing = {d.code: d for d in (await session.execute(select(Department))).scalars()}
    created = 0
    for spec in policies.departments:
        dept = existing.get(spec.code)
        if dept is None:
            dept = Department(code=spec.code, name=spec.name, created_at=now)
            session.add(dept)
            created += 1
        if spec.head and dept.head_user_id is None:
            dept.head_user_id = (
                await session.execute(select(User.id).where(User.username == spec.head))
            ).scalar_one_or_none()
    await session.flush()
    return created


async def seed_keyword_rules(session: AsyncSession, rules: Iterable[RuleSpec], now: datetime) -> int:
    """Load the shipped rules into an empty draft; once admins own the rules, config no longer overrides them."""
    count = (await session.execute(select(func.count()).select_from(KeywordRule))).scalar_one()
    if count:
        return 0
    seen: set[tuple[str, str]] = set()
    added = 0
    for rule in rules:
        if (rule.phrase, rule.category) in seen:
            continue
        seen.add((rule.phrase, rule.category))
        session.add(KeywordRule(**rule.to_json(), created_at=now, updated_at=now))
        added += 1
    await session.flush()
    return added


async def seed_database(session: AsyncSession, policies: TicketPolicies, keywords: Path, now: datetime) -> None:
    """Everything an empty database gets at first start; a database that has it is left as it is."""
    await seed_departments(session, policies, now)
    seeded = await seed_keyword_rules(session, load_specs(keywords), now)
    # A database from before versions existed publishes the rules it had as version 1.
    await seed_first_version(session, now, note="config/keywords.yaml" if seeded else "rules at upgrade")
