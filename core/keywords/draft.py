"""The draft rule set: the rows of keyword_rules, edited by admins, never read by live classification."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import record
from core.db.models import KeywordRule
from core.dialogue.classifier import normalize
from core.errors import InvalidInput, NotFound
from core.keywords.spec import RuleSpec, parse_rule


def spec_of(row: KeywordRule) -> RuleSpec:
    return RuleSpec(
        row.phrase, row.category, row.weight, row.enabled, row.match_mode, row.language, row.note, row.forced
    )


def row_json(row: KeywordRule) -> dict[str, Any]:
    return {"id": row.id, **spec_of(row).to_json(), "updated_at": row.updated_at.isoformat()}


async def draft_specs(session: AsyncSession) -> list[RuleSpec]:
    """Every draft rule, enabled or not, in the order they were added."""
    rows = await session.execute(select(KeywordRule).order_by(KeywordRule.id))
    return [spec_of(r) for r in rows.scalars()]


async def list_rules(
    session: AsyncSession, *, search: str = "", category: str | None = None, limit: int = 200, offset: int = 0
) -> tuple[int, list[KeywordRule]]:
    """Draft rules whose phrase or note contains `search`, in the order they were added; (total matching, page)."""
    query = select(KeywordRule)
    if search.strip():
        query = query.where(
            or_(
                KeywordRule.phrase.icontains(search.strip(), autoescape=True),
                KeywordRule.note.icontains(search.strip(), autoescape=True),
                KeywordRule.phrase.icontains(normalize(search), autoescape=True),
            )
        )
    if category:
        query = query.where(KeywordRule.category == category)
    total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = await session.execute(query.order_by(KeywordRule.id).limit(limit).offset(offset))
    return total, list(rows.scalars())


async def _clash(session: AsyncSession, spec: RuleSpec, except_id: int | None = None) -> None:
    """Refuse a second rule with the same phrase (once normalized) and category."""
    candidates = await session.execute(select(KeywordRule).where(KeywordRule.category == spec.category))
    for row in candidates.scalars():
        if row.id != except_id and normalize(row.phrase) == normalize(spec.phrase):
            raise InvalidInput(f"a rule for {row.phrase!r} in {row.category} exists already (id {row.id})")


async def add_rule(session: AsyncSession, data: dict[str, Any], *, user_id: int | None, now: datetime) -> KeywordRule:
    spec = parse_rule(data)
    await _clash(session, spec)
    row = KeywordRule(**spec.to_json(), created_at=now, updated_at=now)
    session.add(row)
    await session.flush()
    record(session, user_id, "keyword_rule_added", f"keyword_rule:{row.id}", now, {"after": spec.to_json()})
    return row


async def update_rule(
    session: AsyncSession, rule_id: int, data: dict[str, Any], *, user_id: int | None, now: datetime
) -> KeywordRule:
    """Change any of a rule's fields (those absent keep their value); disabling is `{"enabled": false}`."""
    row = await session.get(KeywordRule, rule_id)
    if row is None:
        raise NotFound(f"no keyword rule {rule_id}")
    before = spec_of(row)
    spec = parse_rule({**before.to_json(), **data})
    if spec == before:
        return row
    await _clash(session, spec, except_id=row.id)
    for name, value in spec.to_json().items():
        setattr(row, name, value)
    row.updated_at = now
    action = "keyword_rule_disabled" if before.enabled and not spec.enabled else "keyword_rule_changed"
    record(
        session, user_id, action, f"keyword_rule:{row.id}", now, {"before": before.to_json(), "after": spec.to_json()}
    )
    return row


async def replace_draft(
    session: AsyncSession, specs: Sequence[RuleSpec], *, user_id: int | None, now: datetime, source: str
) -> int:
    """The draft becomes exactly these rules (already checked); one audit row with the counts before and after."""
    before = await draft_specs(session)
    await session.execute(delete(KeywordRule))
    if specs:
        # One multi-row INSERT rather than a thousand objects through the unit of work: an import or a version
        # copied back holds every rule (about a thousand shipped), and nothing here reads the rows back.
        await session.execute(
            insert(KeywordRule), [{**spec.to_json(), "created_at": now, "updated_at": now} for spec in specs]
        )
    record(
        session,
        user_id,
        "keyword_draft_replaced",
        "keyword_draft",
        now,
        {"source": source, "before": {"rules": len(before)}, "after": {"rules": len(specs)}},
    )
    return len(specs)
