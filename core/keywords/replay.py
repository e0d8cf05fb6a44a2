"""Replay: what a draft rule set would decide, against the version in force, on recent classified messages."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Message
from core.dialogue.classifier import Classification, KeywordClassifier
from core.dialogue.forms import CATEGORIES
from core.masking import mask_text

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
# The bucket of a verdict the bot would not act on: it asks the client to pick a category instead.
UNSURE = "unsure"
BUCKETS = (*CATEGORIES, UNSURE)


@dataclass(frozen=True, slots=True)
class ClassifiedMessage:
    """An inbound message the classifier decided when it arrived, with what was recorded then."""

    id: int
    text: str
    created_at: datetime
    recorded: dict[str, Any]


async def recent_classified(session: AsyncSession, limit: int = DEFAULT_LIMIT) -> list[ClassifiedMessage]:
    """The most recent `limit` client messages carrying payload.classified, newest first."""
    rows = await session.execute(
        select(Message.id, Message.text, Message.created_at, Message.payload)
        .where(Message.direction == "in", Message.payload["classified"].as_string().is_not(None))
        .order_by(Message.id.desc())
        .limit(max(1, min(limit, MAX_LIMIT)))
    )
    return [
        ClassifiedMessage(id, text, created_at, dict((payload or {}).get("classified") or {}))
        for id, text, created_at, payload in rows.all()
    ]


def bucket(verdict: Classification) -> str:
    return verdict.category if verdict.confident else UNSURE


def verdict_json(verdict: Classification) -> dict[str, Any]:
    return {
        "category": verdict.category,
        "confidence": verdict.confidence,
        "confident": verdict.confident,
        "bucket": bucket(verdict),
        "scores": {k: round(v, 3) for k, v in verdict.scores.items()},
        # The model's own probabilities before the rules' scores are added ({} when classifying by rules alone).
        "model": {k: round(v, 3) for k, v in verdict.model.items()},
        "forced": verdict.forced,
        "matched": [m.to_json() for m in verdict.matched],
    }


def replay(messages: Sequence[ClassifiedMessage], live: KeywordClassifier, draft: KeywordClassifier) -> dict[str, Any]:
    """Counts per bucket (category when confident, else unsure) before (live) and after (draft), and every message
    whose category or confidence verdict would change."""
    before: Counter[str] = Counter()
    after: Counter[str] = Counter()
    changed = []
    for message in messages:
        old, new = live.classify(message.text), draft.classify(message.text)
        before[bucket(old)] += 1
        after[bucket(new)] += 1
        if (old.category, old.confident) != (new.category, new.confident):
            changed.append(
                {
                    "message_id": message.id,
                    "text": mask_text(message.text),
                    "created_at": message.created_at.isoformat(),
                    "recorded": message.recorded.get("category"),
                    "before": verdict_json(old),
                    "after": verdict_json(new),
                }
            )
    return {
        "messages": len(messages),
        "live_version": live.version,
        "before": {b: before[b] for b in BUCKETS},
        "after": {b: after[b] for b in BUCKETS},
        "changed": changed,
    }
