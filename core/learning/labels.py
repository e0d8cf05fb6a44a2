"""Confirmed labels: the categories people confirmed for client messages, recorded where they confirm them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import ConfirmedLabel, Message, Ticket, TicketEvent
from core.dialogue.forms import CATEGORIES

REP = "rep"
CLIENT = "client"
UNCORRECTED = "uncorrected"
# How much a label counts in a fit, strongest first: a rep read the issue and chose; the client named his own
# issue's category; nobody objected to the bot's confident verdict (the weakest: silence is not agreement).
# On the scale of the starter rows: an in-domain one counts 15 or 25 (crossval.IN_DOMAIN_WEIGHT, SOURCE_WEIGHT), a
# proxy-corpus one 1.
WEIGHTS = {REP: 30.0, CLIENT: 20.0, UNCORRECTED: 5.0}
KINDS = tuple(WEIGHTS)
# Uncorrected verdicts are mostly the bot agreeing with itself: at most this many (the newest) are trained on,
# so they can never outweigh what people confirmed.
MAX_UNCORRECTED = 2000
MAX_TEXT = 2000


@dataclass(frozen=True, slots=True)
class Confirmed:
    """One label as training reads it: the strongest label of its ticket."""

    text: str
    category: str
    kind: str
    created_at: datetime


async def classified_text(session: AsyncSession, ticket: Ticket) -> str:
    """The client's words the classifier judged: the issue's first message, else the last text before the ticket."""
    details = ticket.details or {}
    text = details.get("first_message") or details.get("description")
    if isinstance(text, str) and text:
        return text
    last = await session.scalar(
        select(Message.text)
        .where(
            Message.conversation_id == ticket.conversation_id,
            Message.direction == "in",
            Message.type == "text",
            Message.created_at <= ticket.created_at,
        )
        .order_by(Message.id.desc())
        .limit(1)
    )
    return last or ticket.title or ""


async def confirm(session: AsyncSession, ticket: Ticket, kind: str, category: str, now: datetime) -> bool:
    """Record (or, for a later change of mind, replace) the ticket's label of this kind; False without words."""
    if kind not in WEIGHTS or category not in CATEGORIES:
        raise ValueError(f"no label kind {kind!r} or category {category!r}")
    text = (await classified_text(session, ticket)).strip()[:MAX_TEXT]
    if not text:
        return False
    row = (
        await session.execute(
            select(ConfirmedLabel).where(ConfirmedLabel.ticket_id == ticket.id, ConfirmedLabel.kind == kind)
        )
    ).scalar_one_or_none()
    if row is None:
        session.add(ConfirmedLabel(ticket_id=ticket.id, kind=kind, text=text, category=category, created_at=now))
    else:
        row.category, row.text, row.created_at = category, text, now
    await session.flush()
    return True


async def confirm_uncorrected(session: AsyncSession, ticket: Ticket, now: datetime) -> bool:
    """At close: the bot's confident verdict stands as a weak label when nobody confirmed or changed the category."""
    if ticket.handoff:
        return False
    if await session.scalar(select(ConfirmedLabel.id).where(ConfirmedLabel.ticket_id == ticket.id).limit(1)):
        return False
    events = await session.execute(
        select(TicketEvent.kind, TicketEvent.data).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.kind.in_(("classified", "reclassified"))
        )
    )
    classified = None
    for kind, data in events.all():
        if kind == "reclassified":
            return False
        classified = data or {}
    if classified is None or not classified.get("confident") or classified.get("picked"):
        return False
    return await confirm(session, ticket, UNCORRECTED, ticket.category, now)


async def training_labels(session: AsyncSession) -> list[Confirmed]:
    """Each ticket's strongest label (rep, then client, then uncorrected), oldest first; uncorrected capped."""
    rows = (
        await session.execute(select(ConfirmedLabel).order_by(ConfirmedLabel.created_at, ConfirmedLabel.id))
    ).scalars()
    best: dict[int | str, ConfirmedLabel] = {}
    for row in rows:
        key: int | str = row.ticket_id if row.ticket_id is not None else f"row:{row.id}"
        held = best.get(key)
        if held is None or KINDS.index(row.kind) < KINDS.index(held.kind):
            best[key] = row
    chosen = sorted(best.values(), key=lambda r: (r.created_at, r.id))
    uncorrected = [r.id for r in chosen if r.kind == UNCORRECTED]
    dropped = set(uncorrected[: max(0, len(uncorrected) - MAX_UNCORRECTED)])
    return [Confirmed(r.text, r.category, r.kind, r.created_at) for r in chosen if r.id not in dropped]


async def count_by_kind(session: AsyncSession) -> dict[str, int]:
    """How many labels of each kind are stored (what the console shows; training reads fewer, see above)."""
    rows = await session.execute(select(ConfirmedLabel.kind, func.count()).group_by(ConfirmedLabel.kind))
    found = {str(kind): int(n) for kind, n in rows.all()}
    return {kind: found.get(kind, 0) for kind in KINDS}


def counts(labels: Sequence[Confirmed]) -> dict[str, int]:
    return {kind: sum(1 for label in labels if label.kind == kind) for kind in KINDS}
