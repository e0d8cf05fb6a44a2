"""Periodic client evaluation (客户评估): per-client figures, admins' scores, a weighted score and tier suggestions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import record
from core.clock import as_utc
from core.db.models import Client, ClientScore, Conversation, Ticket, TierSuggestion
from core.errors import Conflict, InvalidInput, NotFound
from core.reports import NEAR_DEADLINE, Figures, _grouped, rate
from core.settings import ClientEvaluationSettings

# The indicators admins enter per client, 1 (worst) to 5 (best).
INDICATORS = ("business_importance", "market_influence", "payment_timeliness")
# Why a tier change is suggested.
REASONS = ("score_high", "score_low", "satisfaction_falling_complaints_rising")


def score_value(value: object, name: str) -> int | None:
    """A 1–5 score from a form or a CSV cell; "" or None clears it; anything else is InvalidInput."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number from 1 to 5, got {value!r}") from None
    if not 1 <= number <= 5:
        raise InvalidInput(f"{name} must be from 1 to 5, got {number}")
    return number


@dataclass
class ClientEvaluation:
    """One client's evaluation over a period, beside the period before it of the same length."""

    client_id: int
    name: str
    company: str
    tier: str
    current: Figures
    previous: Figures
    last_contact: datetime | None
    scores: dict[str, int | None]
    score: float | None = None
    suggestion: dict[str, Any] | None = None

    @property
    def satisfaction(self) -> float | None:
        return _avg(self.current)

    @property
    def satisfaction_change(self) -> float | None:
        now, before = _avg(self.current), _avg(self.previous)
        return round(now - before, 2) if now is not None and before is not None else None

    @property
    def sla_met(self) -> float | None:
        """Both SLA clocks (first response, resolution) counted together, over the decided ones."""
        c = self.current
        return rate(c.first_response_met + c.resolution_met, c.first_response_decided + c.resolution_decided)

    def to_json(self) -> dict[str, Any]:
        c = self.current
        return {
            "client_id": self.client_id,
            "name": self.name,
            "company": self.company,
            "tier": self.tier,
            "tickets": c.tickets,
            "complaints": c.complaints,
            "complaint_rate": rate(c.complaints, c.tickets),
            "previous_tickets": self.previous.tickets,
            "previous_complaints": self.previous.complaints,
            "rated": c.rated,
            "satisfaction_avg": self.satisfaction,
            "previous_satisfaction_avg": _avg(self.previous),
            "satisfaction_change": self.satisfaction_change,
            "sla_met_rate": self.sla_met,
            "sla_decided": c.first_response_decided + c.resolution_decided,
            "reopened": c.reopened,
            "last_contact": as_utc(self.last_contact).isoformat() if self.last_contact else None,
            **self.scores,
            "score": self.score,
            "suggestion": self.suggestion,
        }


def _avg(figures: Figures) -> float | None:
    return round(figures.satisfaction_sum / figures.rated, 2) if figures.rated else None


def weighted_score(evaluation: ClientEvaluation, weights: ClientEvaluationSettings) -> float | None:
    """Weighted mean ×100 of the indicators the client has, each scaled to 0..1; None when it has none."""
    parts: list[tuple[float, float]] = []
    for name in INDICATORS:
        value = evaluation.scores.get(name)
        if value is not None:
            parts.append((getattr(weights, f"weight_{name}"), (value - 1) / 4))
    if evaluation.satisfaction is not None:
        parts.append((weights.weight_satisfaction, (evaluation.satisfaction - 1) / 4))
    if evaluation.current.tickets:
        parts.append((weights.weight_complaints, 1 - evaluation.current.complaints / evaluation.current.tickets))
    if evaluation.sla_met is not None:
        parts.append((weights.weight_sla, evaluation.sla_met))
    total = sum(w for w, _ in parts)
    if not total:
        return None
    return round(100 * sum(w * v for w, v in parts) / total, 1)


def suggest(
    evaluation: ClientEvaluation, tiers: tuple[str, ...], rules: ClientEvaluationSettings
) -> dict[str, Any] | None:
    """The next lower tier for a worsening or low-scoring client, the next higher for a high-scoring one."""
    if evaluation.tier not in tiers:
        return None
    position = tiers.index(evaluation.tier)  # "A" first: a higher position is a lower tier
    reasons: list[dict[str, Any]] = []
    change = evaluation.satisfaction_change
    enough = evaluation.current.tickets >= rules.min_tickets
    if (
        enough
        and change is not None
        and change <= -rules.satisfaction_drop
        and evaluation.current.complaints > evaluation.previous.complaints
    ):
        reasons.append(
            {
                "code": "satisfaction_falling_complaints_rising",
                "satisfaction_change": change,
                "complaints": evaluation.current.complaints,
                "previous_complaints": evaluation.previous.complaints,
            }
        )
    score = evaluation.score
    if score is not None and score < rules.demote_below:
        reasons.append({"code": "score_low", "score": score, "below": rules.demote_below})
    if reasons:
        if position + 1 >= len(tiers):
            return None
        return {"to_tier": tiers[position + 1], "direction": "down", "reasons": reasons}
    if score is not None and score >= rules.promote_at and position > 0:
        return {
            "to_tier": tiers[position - 1],
            "direction": "up",
            "reasons": [{"code": "score_high", "score": score, "at": rules.promote_at}],
        }
    return None


async def evaluate(
    session: AsyncSession,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    tiers: tuple[str, ...],
    rules: ClientEvaluationSettings,
) -> list[ClientEvaluation]:
    """Every client's evaluation over tickets created in [start, end), ranked by score (best first, unscored last).

    A handful of grouped queries whatever the number of clients: per-client figures for the period and the one
    before it, the last inbound message per client, the scores and the clients themselves.
    """
    if as_utc(end) <= as_utc(start):
        raise InvalidInput("the evaluation period ends before it starts")
    span = as_utc(end) - as_utc(start)
    previous_start = as_utc(start) - span

    def window(a: datetime, b: datetime) -> list[Any]:
        return [Ticket.created_at >= as_utc(a), Ticket.created_at < as_utc(b)]

    current = await _grouped(session, window(start, end), Ticket.client_id, now, NEAR_DEADLINE)
    previous = await _grouped(session, window(previous_start, start), Ticket.client_id, now, NEAR_DEADLINE)
    last_contact = dict(
        (
            await session.execute(
                select(Conversation.client_id, func.max(Conversation.last_inbound_at))
                .where(Conversation.last_inbound_at < as_utc(end))
                .group_by(Conversation.client_id)
            )
        ).all()
    )
    # Plain rows, not ORM objects: building 10,000 mapped instances would cost more than the queries.
    columns = [getattr(ClientScore, n) for n in INDICATORS]
    scores = {
        row[0]: dict(zip(INDICATORS, row[1:], strict=True))
        for row in await session.execute(select(ClientScore.client_id, *columns))
    }
    clients = await session.execute(select(Client.id, Client.name, Client.company, Client.tier))
    empty = dict.fromkeys(INDICATORS)
    evaluations = []
    for client_id, name, company, tier in clients:
        evaluation = ClientEvaluation(
            client_id=client_id,
            name=name,
            company=company,
            tier=tier,
            current=current.get(client_id, Figures()),
            previous=previous.get(client_id, Figures()),
            last_contact=last_contact.get(client_id),
            scores=scores.get(client_id, dict(empty)),
        )
        evaluation.score = weighted_score(evaluation, rules)
        evaluation.suggestion = suggest(evaluation, tiers, rules)
        evaluations.append(evaluation)
    evaluations.sort(key=lambda e: (e.score is None, -(e.score or 0), e.client_id))
    return evaluations


async def save_suggestions(
    session: AsyncSession, evaluations: list[ClientEvaluation], period: str, now: datetime
) -> int:
    """Pending suggestions for clients that have none pending; an undecided one is not suggested twice."""
    pending = set(
        (await session.execute(select(TierSuggestion.client_id).where(TierSuggestion.status == "pending"))).scalars()
    )
    added = 0
    for e in evaluations:
        if e.suggestion is None or e.client_id in pending:
            continue
        session.add(
            TierSuggestion(
                client_id=e.client_id,
                period=period,
                from_tier=e.tier,
                to_tier=e.suggestion["to_tier"],
                score=e.score,
                reasons=e.suggestion["reasons"],
                status="pending",
                created_at=now,
            )
        )
        added += 1
    return added


async def decide(
    session: AsyncSession, suggestion_id: int, *, accept: bool, user_id: int | None, now: datetime
) -> TierSuggestion:
    """Accept (the client's tier changes) or dismiss a pending suggestion; both are audited."""
    suggestion = await session.get(TierSuggestion, suggestion_id, with_for_update=True)
    if suggestion is None:
        raise NotFound(f"no suggestion {suggestion_id}")
    if suggestion.status != "pending":
        raise Conflict(f"suggestion {suggestion_id} is already {suggestion.status}")
    client = await session.get(Client, suggestion.client_id, with_for_update=True)
    if client is None:
        raise NotFound(f"no client {suggestion.client_id}")
    target = f"client:{client.id}"
    if accept:
        if client.tier != suggestion.from_tier:
            # Someone changed the tier since the evaluation: its reasoning no longer holds.
            raise Conflict(f"the client's tier is {client.tier} now, not {suggestion.from_tier}; evaluate again")
        client.tier = suggestion.to_tier
        record(
            session,
            user_id,
            "client_tier_changed",
            target,
            now,
            {"before": suggestion.from_tier, "after": suggestion.to_tier, "suggestion": suggestion.id},
        )
    else:
        record(session, user_id, "tier_suggestion_dismissed", target, now, {"suggestion": suggestion.id})
    suggestion.status = "accepted" if accept else "dismissed"
    suggestion.decided_by, suggestion.decided_at = user_id, now
    return suggestion


async def set_scores(
    session: AsyncSession, client_id: int, values: dict[str, int | None], *, user_id: int | None, now: datetime
) -> dict[str, Any]:
    """Writes one client's scores (the keys given; None clears) and audits the change; the scores as saved."""
    if await session.get(Client, client_id) is None:
        raise NotFound(f"no client {client_id}")
    row = await session.get(ClientScore, client_id, with_for_update=True)
    if row is None:
        row = ClientScore(client_id=client_id, updated_at=now)
        session.add(row)
    before = {n: getattr(row, n) for n in INDICATORS}
    for name, value in values.items():
        if name not in INDICATORS:
            raise InvalidInput(f"unknown score {name!r}; one of {', '.join(INDICATORS)}")
        setattr(row, name, value)
    after = {n: getattr(row, n) for n in INDICATORS}
    row.updated_by, row.updated_at = user_id, now
    if after != before:
        record(
            session, user_id, "client_scores_changed", f"client:{client_id}", now, {"before": before, "after": after}
        )
    return after
