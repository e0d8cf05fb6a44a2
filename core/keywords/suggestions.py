"""Learning from reps: their reclassifications, and phrases from the misclassified messages no rule covers."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Message, Ticket, TicketEvent
from core.dialogue.classifier import KeywordClassifier, normalize

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# English words within one clause: punctuation and CJK text end a clause, so n-grams never cross them.
_EN_CLAUSE = re.compile(r"[a-z0-9' ]+")
# Particles and pronouns that begin or end no useful cue ("的发票", "收到了").
_CJK_STOP = frozenset("的了吗呢吧啊呀哦嗯么我你他她它们是在有和就也都这那个")
_EN_STOP = frozenset(
    {
        "a",
        "an",
        "the",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "and",
        "or",
        "but",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "am",
        "i",
        "you",
        "we",
        "they",
        "he",
        "she",
        "it",
        "my",
        "our",
        "your",
        "this",
        "that",
        "these",
        "those",
        "with",
        "from",
        "by",
        "as",
        "so",
        "do",
        "does",
        "did",
        "can",
        "could",
        "will",
        "would",
        "just",
        "me",
        "us",
        "them",
        "not",
        "no",
    }
)


def ngrams(text: str) -> set[str]:
    """Candidate phrases of one message: CJK 2–4-character and English 1–3-word n-grams of the normalized text."""
    norm = normalize(text)
    grams: set[str] = set()
    for run in _CJK_RUN.findall(norm):
        for size in (2, 3, 4):
            for i in range(len(run) - size + 1):
                gram = run[i : i + size]
                if gram[0] in _CJK_STOP or gram[-1] in _CJK_STOP:
                    continue
                grams.add(gram)
    for clause in _EN_CLAUSE.findall(norm):
        words = [w.strip("'") for w in clause.split() if w.strip("'")]
        for size in (1, 2, 3):
            for i in range(len(words) - size + 1):
                part = words[i : i + size]
                if part[0] in _EN_STOP or part[-1] in _EN_STOP or all(w.isdigit() for w in part):
                    continue
                if size == 1 and len(part[0]) < 3:
                    continue
                grams.add(" ".join(part))
    return grams


@dataclass(frozen=True, slots=True)
class Corrected:
    """A message a rep put in another category than the classifier's."""

    text: str
    category: str


def suggest(
    messages: Iterable[Corrected], rules: KeywordClassifier, *, min_count: int = 2, limit: int = 30
) -> list[dict[str, Any]]:
    """Frequent n-grams that no rule of `rules` covers, ranked by the number of distinct messages holding them;
    each with the corrected category most of those messages got."""
    count: Counter[str] = Counter()
    categories: dict[str, Counter[str]] = defaultdict(Counter)
    seen: set[str] = set()
    for message in messages:
        norm = normalize(message.text)
        if not norm or norm in seen:
            continue
        seen.add(norm)
        for gram in ngrams(norm):
            count[gram] += 1
            categories[gram][message.category] += 1
    ranked = sorted((g for g, n in count.items() if n >= min_count), key=lambda g: (-count[g], -len(g), g))
    out: list[dict[str, Any]] = []
    for gram in ranked:
        # A rule found inside the n-gram already votes wherever the n-gram occurs.
        if rules.find(gram):
            continue
        category, _ = categories[gram].most_common(1)[0]
        out.append({"phrase": gram, "count": count[gram], "category": category, "categories": dict(categories[gram])})
        if len(out) >= limit:
            break
    return out


async def reclassifications(session: AsyncSession, limit: int = 100) -> list[dict[str, Any]]:
    """The most recent reclassifications by reps, each with the ticket's client messages up to its opening."""
    rows = (
        await session.execute(
            select(TicketEvent, Ticket)
            .join(Ticket, Ticket.id == TicketEvent.ticket_id)
            .where(TicketEvent.kind == "reclassified")
            .order_by(TicketEvent.id.desc())
            .limit(limit)
        )
    ).all()
    out = []
    for event, ticket in rows:
        out.append(
            {
                "event_id": event.id,
                "ticket": ticket.number,
                "before": event.before,
                "after": event.after,
                "actor": event.actor,
                "at": event.created_at.isoformat(),
                "text": str((event.data or {}).get("text") or ""),
                "messages": await _client_messages(session, ticket),
            }
        )
    return out


async def _client_messages(session: AsyncSession, ticket: Ticket, limit: int = 10) -> list[dict[str, Any]]:
    # The issue's own messages: after the conversation's previous ticket was opened, up to this one's opening.
    previous: datetime | None = await session.scalar(
        select(Ticket.created_at)
        .where(Ticket.conversation_id == ticket.conversation_id, Ticket.id < ticket.id)
        .order_by(Ticket.id.desc())
        .limit(1)
    )
    query = select(Message.id, Message.text, Message.created_at).where(
        Message.conversation_id == ticket.conversation_id,
        Message.direction == "in",
        Message.type == "text",
        Message.created_at <= ticket.created_at,
    )
    if previous is not None:
        query = query.where(Message.created_at > previous)
    rows = (await session.execute(query.order_by(Message.id.desc()).limit(limit))).all()
    return [{"id": id, "text": text, "at": at.isoformat()} for id, text, at in reversed(rows)]


def corrected(items: Sequence[dict[str, Any]]) -> list[Corrected]:
    """The classified text of each reclassification, under the category the rep chose."""
    return [Corrected(item["text"], str(item["after"])) for item in items if item["text"] and item["after"]]
