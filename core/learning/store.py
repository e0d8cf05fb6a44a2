"""Learned models stored in the database: drafts fitted in the deployment, publishing, rollback, comparison.

The model in force is named by the config document "classifier" ({"version": n, "threshold": t}); version 0 is
the model the settings name (the shipped file, or none). Every process applies the document within its config
poll, as it does the keyword rules' version.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import record
from core.config_store import read_document, write_document
from core.db.models import ClassifierModel
from core.dialogue.textmodel import TextModel, model_from_json
from core.errors import InvalidInput, NotFound

DOCUMENT = "classifier"
SHIPPED = 0


def pack(model: TextModel) -> bytes:
    """The exported numbers as gzipped JSON: data only, nothing a process would execute."""
    text = json.dumps(model.to_json(), ensure_ascii=False, separators=(",", ":"))
    return gzip.compress(text.encode("utf-8"), mtime=0)


# Two: the model in force and a draft being replayed; each parsed model holds some megabytes.
@lru_cache(maxsize=2)
def unpack(number: int, blob: bytes) -> TextModel:
    """A stored model from its bytes, parsed once per process and number: stored models never change."""
    return model_from_json(json.loads(gzip.decompress(blob)))


def model_of(row: ClassifierModel) -> TextModel:
    return unpack(row.number, row.model)


async def in_force(session: AsyncSession) -> tuple[int, float | None]:
    """(number, threshold) of the model in force; (0, None) before any was published: the settings' model."""
    doc = await read_document(session, DOCUMENT)
    body = doc.body if doc is not None else {}
    number = body.get("version")
    threshold = body.get("threshold")
    return (
        number if isinstance(number, int) else SHIPPED,
        float(threshold) if isinstance(threshold, int | float) else None,
    )


async def get_model(session: AsyncSession, number: int) -> ClassifierModel:
    row = (await session.execute(select(ClassifierModel).where(ClassifierModel.number == number))).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no classifier model {number}")
    return row


async def list_models(session: AsyncSession, limit: int = 50) -> list[ClassifierModel]:
    return list(
        (await session.execute(select(ClassifierModel).order_by(ClassifierModel.number.desc()).limit(limit))).scalars()
    )


async def save_draft(
    session: AsyncSession,
    model: TextModel,
    report: Mapping[str, Any],
    *,
    week: str = "",
    note: str = "",
    user_id: int | None,
    now: datetime,
) -> ClassifierModel:
    """Store a fitted model as the next draft; nothing classifies with it until it is published."""
    last = await session.scalar(select(func.max(ClassifierModel.number)))
    row = ClassifierModel(
        number=int(last or 0) + 1,
        model=pack(model),
        report=dict(report),
        week=week,
        note=note.strip()[:500],
        created_by=user_id,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    record(
        session,
        user_id,
        "classifier_draft_trained",
        f"classifier_model:{row.number}",
        now,
        {
            "week": week,
            "trained_on": report.get("trained_on"),
            "held_back": report.get("held_back"),
            "threshold": report.get("threshold"),
        },
    )
    return row


def check_threshold(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < float(value) <= 1.0:
        raise InvalidInput("threshold must be a number above 0 and at most 1")
    return round(float(value), 4)


async def _put_in_force(
    session: AsyncSession,
    number: int,
    threshold: float | None,
    action: str,
    *,
    note: str = "",
    user_id: int | None,
    now: datetime,
) -> None:
    before_number, before_threshold = await in_force(session)
    body: dict[str, Any] = {"version": number}
    if threshold is not None:
        body["threshold"] = threshold
    await write_document(session, DOCUMENT, body, user_id=user_id, now=now)
    record(
        session,
        user_id,
        action,
        f"classifier_model:{number}",
        now,
        {
            "before": {"version": before_number, "threshold": before_threshold},
            "after": {"version": number, "threshold": threshold},
            "note": note.strip()[:500],
        },
    )


async def publish(
    session: AsyncSession,
    number: int,
    *,
    threshold: Any = None,
    note: str = "",
    user_id: int | None,
    now: datetime,
) -> ClassifierModel:
    """Put a stored model in force at its chosen threshold, or at another point of its curve."""
    row = await get_model(session, number)
    chosen = check_threshold(threshold) if threshold is not None else float(row.report.get("threshold", 0.5))
    current, current_threshold = await in_force(session)
    if current == number and current_threshold == chosen:
        raise InvalidInput(f"model {number} is already in force at threshold {chosen}")
    if row.published_at is None:
        row.published_at = now
    await _put_in_force(session, number, chosen, "classifier_published", note=note, user_id=user_id, now=now)
    return row


async def rollback(session: AsyncSession, number: int, *, user_id: int | None, now: datetime) -> None:
    """Put back a model that was in force before (0: the one the settings name), at its chosen threshold."""
    current, _ = await in_force(session)
    if current == number:
        raise InvalidInput(f"model {number} is already in force")
    threshold = None
    if number != SHIPPED:
        row = await get_model(session, number)
        if row.published_at is None:
            raise InvalidInput(f"model {number} was never published; publish it instead")
        threshold = float(row.report.get("threshold", 0.5))
    await _put_in_force(session, number, threshold, "classifier_rolled_back", user_id=user_id, now=now)


def summary(row: ClassifierModel, number_in_force: int) -> dict[str, Any]:
    """What the console lists of a model: its figures without the per-message scores."""
    report = row.report or {}
    return {
        "number": row.number,
        "note": row.note,
        "week": row.week,
        "created_by": row.created_by,
        "created_at": row.created_at.isoformat(),
        "published_at": row.published_at.isoformat() if row.published_at else None,
        "in_force": row.number == number_in_force,
        "seconds": report.get("seconds"),
        "trained_on": report.get("trained_on"),
        "held_back": report.get("held_back"),
        "threshold": report.get("threshold"),
        "threshold_chosen_on": report.get("threshold_chosen_on"),
        "draft": _figures(report.get("draft")),
        "in_force_then": _figures(report.get("in_force")),
    }


def _figures(part: Any) -> dict[str, Any] | None:
    if not isinstance(part, dict):
        return None
    return {k: v for k, v in part.items() if k != "scores"}


def coverage_at(part: Mapping[str, Any], threshold: float) -> dict[str, float]:
    """Coverage and precision of one measured model at any threshold, from its held-back scores."""
    pairs = part.get("scores") or []
    sure = [right for confidence, right in pairs if confidence >= threshold]
    return {
        "threshold": threshold,
        "coverage": round(len(sure) / len(pairs), 4) if pairs else 0.0,
        "precision": round(sum(sure) / len(sure), 4) if sure else 0.0,
    }
