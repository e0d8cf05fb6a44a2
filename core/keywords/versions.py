"""Published rule versions: publish the draft, roll back, compare, and build the classifier of a version."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import record
from core.config_store import read_document, write_document
from core.db.models import KeywordRule, KeywordVersion
from core.dialogue.classifier import KeywordClassifier
from core.dialogue.textmodel import TextModel
from core.errors import Conflict, InvalidInput, NotFound
from core.keywords.draft import draft_specs
from core.keywords.spec import RuleSpec, spec_from_json

# The config document naming the version in force: {"version": n}; every process applies it on change.
DOCUMENT = "keywords"
# What comparing two rule sets reports as changed about a rule.
COMPARED = ("weight", "enabled", "match_mode", "forced", "language", "note")


def specs_of(version: KeywordVersion) -> list[RuleSpec]:
    return [spec_from_json(item) for item in version.rules]


def classifier_for(
    specs: Sequence[RuleSpec], threshold: float, version: int | None = None, model: TextModel | None = None
) -> KeywordClassifier:
    if model is None:
        return _rules_only(tuple(specs), threshold, version)
    return KeywordClassifier([s.to_rule() for s in specs], threshold=threshold, version=version, model=model)


# A classifier is immutable, so one built from the same rules serves every caller: each start builds the one of
# the version in force (tens of milliseconds for the shipped rules), and the tests start kefu hundreds of times in
# one process. Only without a model: a model is not hashed by its content.
@functools.lru_cache(maxsize=4)
def _rules_only(specs: tuple[RuleSpec, ...], threshold: float, version: int | None) -> KeywordClassifier:
    return KeywordClassifier([s.to_rule() for s in specs], threshold=threshold, version=version)


async def number_in_force(session: AsyncSession) -> int | None:
    doc = await read_document(session, DOCUMENT)
    number = (doc.body or {}).get("version") if doc is not None else None
    return int(number) if isinstance(number, int) else None


async def get_version(session: AsyncSession, number: int) -> KeywordVersion:
    version = (
        await session.execute(select(KeywordVersion).where(KeywordVersion.number == number))
    ).scalar_one_or_none()
    if version is None:
        raise NotFound(f"no keyword rule version {number}")
    return version


async def list_versions(session: AsyncSession) -> list[KeywordVersion]:
    return list((await session.execute(select(KeywordVersion).order_by(KeywordVersion.number.desc()))).scalars())


def compare(old: Sequence[RuleSpec], new: Sequence[RuleSpec]) -> dict[str, list[dict[str, Any]]]:
    """Rules added, removed and changed (weight, enabled, mode, language, note) from `old` to `new`."""
    before = {s.key: s for s in old}
    after = {s.key: s for s in new}
    changed = []
    for key, spec in after.items():
        was = before.get(key)
        if was is None:
            continue
        fields = {n: [getattr(was, n), getattr(spec, n)] for n in COMPARED if getattr(was, n) != getattr(spec, n)}
        if fields:
            changed.append({"phrase": spec.phrase, "category": spec.category, "changes": fields})
    return {
        "added": [s.to_json() for k, s in after.items() if k not in before],
        "removed": [s.to_json() for k, s in before.items() if k not in after],
        "changed": changed,
    }


def _counts(diff: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    return {name: len(items) for name, items in diff.items()}


async def _set_in_force(session: AsyncSession, number: int, *, user_id: int | None, now: datetime) -> None:
    await write_document(session, DOCUMENT, {"version": number}, user_id=user_id, now=now)


async def publish(session: AsyncSession, *, note: str, user_id: int | None, now: datetime) -> KeywordVersion:
    """The draft as the next version, in force at once (every process within its config poll)."""
    specs = await draft_specs(session)
    if not any(s.enabled for s in specs):
        raise InvalidInput("the draft has no enabled rule; nothing would be classified")
    previous_number = await number_in_force(session)
    previous = await get_version(session, previous_number) if previous_number is not None else None
    last = await session.scalar(select(func.max(KeywordVersion.number)))
    version = KeywordVersion(
        number=int(last or 0) + 1,
        rules=[s.to_json() for s in specs],
        note=note.strip()[:500],
        created_by=user_id,
        created_at=now,
    )
    session.add(version)
    await session.flush()
    await _set_in_force(session, version.number, user_id=user_id, now=now)
    diff = compare(specs_of(previous) if previous else [], specs)
    record(
        session,
        user_id,
        "keywords_published",
        f"keyword_version:{version.number}",
        now,
        {
            "before": {"version": previous_number},
            "after": {"version": version.number},
            "note": version.note,
            "diff": _counts(diff),
        },
    )
    return version


async def rollback(session: AsyncSession, number: int, *, user_id: int | None, now: datetime) -> KeywordVersion:
    """Put an earlier version back in force; the draft is left as it is."""
    version = await get_version(session, number)
    current = await number_in_force(session)
    if current == number:
        raise InvalidInput(f"version {number} is already in force")
    await _set_in_force(session, number, user_id=user_id, now=now)
    record(
        session,
        user_id,
        "keywords_rolled_back",
        f"keyword_version:{number}",
        now,
        {"before": {"version": current}, "after": {"version": number}},
    )
    return version


async def seed_first_version(session: AsyncSession, now: datetime, *, note: str = "config/keywords.yaml") -> int | None:
    """On first start, the draft (just seeded from keywords.yaml) becomes version 1 and is put in force.

    Returns the number created, or None when versions exist. Two processes starting at once on an empty
    database: one creates version 1, the other finds it.
    """
    if await session.scalar(select(func.count()).select_from(KeywordVersion)):
        return None
    if not await session.scalar(select(func.count()).select_from(KeywordRule)):
        return None
    specs = await draft_specs(session)
    try:
        async with session.begin_nested():
            session.add(
                KeywordVersion(
                    number=1, rules=[s.to_json() for s in specs], note="config/keywords.yaml", created_at=now
                )
            )
    except IntegrityError:
        return None
    if await number_in_force(session) is None:
        # Conflict: the other process put it in force first.
        with contextlib.suppress(Conflict):
            await _set_in_force(session, 1, user_id=None, now=now)
    return 1


async def rules_in_force(session: AsyncSession) -> tuple[int | None, list[RuleSpec]]:
    """The number and rules of the published version live classification uses ((None, []) before any)."""
    number = await number_in_force(session)
    if number is None:
        return None, []
    return number, specs_of(await get_version(session, number))
