"""What clients asked about (需求报告): topics, complaint subjects and phrases, a week against the four before."""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import as_utc
from core.db.models import Client, Ticket, TicketEvent
from core.dialogue.forms import Forms
from core.texts import Texts

# The week is compared with the average week of the four before it.
BASELINE_WEEKS = 4
# An item rises when it changed by at least MIN_CHANGE tickets and reached RISE times its average week;
# it falls when it changed by at least MIN_CHANGE and dropped to FALL times its average or below. The
# absolute floor keeps one ticket more or less in a quiet topic from being called a trend.
MIN_CHANGE = 2
RISE = 1.5
FALL = 0.5
TOP_PHRASES = 5
OTHER = "other"


@dataclass(frozen=True)
class Trend:
    """One item's tickets this week and in the four weeks before, and whether it rose or fell."""

    item: str
    week: int
    previous: int

    @property
    def average(self) -> float:
        """The average week of the four before."""
        return self.previous / BASELINE_WEEKS

    @property
    def change(self) -> float:
        return self.week - self.average

    @property
    def mark(self) -> str:
        """Rising, falling, or the empty string when steady."""
        if self.change >= MIN_CHANGE and self.week >= RISE * self.average:
            return "rising"
        if -self.change >= MIN_CHANGE and self.week <= FALL * self.average:
            return "falling"
        return ""

    def to_json(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "week": self.week,
            "previous_4_weeks": self.previous,
            "average": round(self.average, 2),
            "change": round(self.change, 2),
            "mark": self.mark,
        }


@dataclass
class NeedsTrends:
    """Inquiry topics and complaint subjects (overall and per client tier) and the phrases that grew most."""

    topics: list[Trend]
    subjects: list[Trend]
    phrases: list[Trend]
    tiers: dict[str, dict[str, list[Trend]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline_weeks": BASELINE_WEEKS,
            "topics": [t.to_json() for t in self.topics],
            "subjects": [t.to_json() for t in self.subjects],
            "phrases": [t.to_json() for t in self.phrases],
            "tiers": {
                tier: {kind: [t.to_json() for t in trends] for kind, trends in kinds.items()}
                for tier, kinds in self.tiers.items()
            },
        }


class TopicReader:
    """Reads a ticket's topic: the inquiry form's choice it names, or the one its words point to."""

    def __init__(self, forms: Forms, choice_labels: Mapping[str, Iterable[str]]) -> None:
        spec = forms.slot("inquiry", "topic")
        self.choices: tuple[str, ...] = spec.choices or (OTHER,)
        self.forms = forms
        # The details hold the label shown to the client (in their language) or the choice's code.
        self.by_label: dict[str, str] = {}
        for choice in self.choices:
            self.by_label[_fold(choice)] = choice
            for label in choice_labels.get(choice, ()):
                self.by_label[_fold(label)] = choice

    def choice(self, named: object, *texts: object) -> str:
        """The choice `named` names (a label or code), else the one the cue words of all texts point to, else other."""
        if isinstance(named, str) and (hit := self.by_label.get(_fold(named))) is not None:
            return hit
        words = [t for t in (named, *texts) if isinstance(t, str) and t.strip()]
        found = self.forms.topic_of("inquiry", "topic", _fold(" ".join(words))) if words else None
        return found if found is not None else OTHER

    @classmethod
    def of(cls, forms: Forms, texts: Texts) -> TopicReader:
        """A reader knowing every label of every language, shipped and as admins overrode it."""
        labels: dict[str, set[str]] = defaultdict(set)
        for choice in forms.slot("inquiry", "topic").choices:
            key = f"slots.inquiry.topic.choices.{choice}"
            if not texts.has(key):
                continue
            for lang in texts.languages:
                labels[choice].add(texts.get(key, lang))
                shipped = texts.shipped(key, lang)
                if shipped:
                    labels[choice].add(shipped)
        return cls(forms, labels)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower().strip()


def _trends(week: Counter[str], previous: Counter[str], order: Sequence[str], *, keep_zero: bool) -> list[Trend]:
    items = list(order) + sorted((set(week) | set(previous)) - set(order))
    trends = [Trend(item, week[item], previous[item]) for item in items]
    return trends if keep_zero else [t for t in trends if t.week or t.previous]


async def build_needs_trends(session: AsyncSession, start: datetime, end: datetime, reader: TopicReader) -> NeedsTrends:
    """The tickets created in [start, end) against those of the four weeks before start, by current category."""
    before = as_utc(start) - timedelta(weeks=BASELINE_WEEKS)
    rows = (
        await session.execute(
            select(Ticket.id, Ticket.created_at, Ticket.category, Ticket.details, Ticket.title, Client.tier)
            .join(Client, Client.id == Ticket.client_id)
            .where(Ticket.created_at >= before, Ticket.created_at < as_utc(end))
        )
    ).all()
    boundary = as_utc(start)
    # (period, kind) → counts; period is "week" or "previous", kind is "topics" or "subjects".
    overall: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    by_tier: dict[str, dict[tuple[str, str], Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    period_of: dict[int, str] = {}
    for ticket_id, created, category, details, title, tier in rows:
        period = "week" if as_utc(created) >= boundary else "previous"
        period_of[ticket_id] = period
        details = details if isinstance(details, dict) else {}
        if category == "inquiry":
            kind, item = "topics", reader.choice(details.get("topic"), details.get("question"), title)
        elif category == "complaint":
            # A complaint has no topic slot: its description and project say what it is about.
            kind = "subjects"
            item = reader.choice(None, details.get("description"), details.get("project"), title)
        else:
            continue
        overall[(period, kind)][item] += 1
        by_tier[tier or "C"][(period, kind)][item] += 1

    # The phrases of each ticket's first classification, as the report's keyword table counts them.
    phrases: dict[str, Counter[str]] = {"week": Counter(), "previous": Counter()}
    seen: set[int] = set()
    events = await session.execute(
        select(TicketEvent.ticket_id, TicketEvent.data)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .where(TicketEvent.kind == "classified", Ticket.created_at >= before, Ticket.created_at < as_utc(end))
        .order_by(TicketEvent.id)
    )
    for ticket_id, data in events:
        if ticket_id in seen or ticket_id not in period_of:
            continue
        seen.add(ticket_id)
        matched = data.get("matched") if isinstance(data, dict) else None
        if isinstance(matched, list):
            phrases[period_of[ticket_id]].update({p for p in matched if isinstance(p, str) and p})
    grown = [t for t in _trends(phrases["week"], phrases["previous"], (), keep_zero=False) if t.change > 0]
    grown.sort(key=lambda t: (-t.change, -t.week, t.item))

    order = reader.choices
    return NeedsTrends(
        topics=_trends(overall[("week", "topics")], overall[("previous", "topics")], order, keep_zero=True),
        subjects=_trends(overall[("week", "subjects")], overall[("previous", "subjects")], order, keep_zero=True),
        phrases=grown[:TOP_PHRASES],
        tiers={
            tier: {
                kind: _trends(counts[("week", kind)], counts[("previous", kind)], order, keep_zero=False)
                for kind in ("topics", "subjects")
            }
            for tier, counts in sorted(by_tier.items())
        },
    )
