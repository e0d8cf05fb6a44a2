"""The ticket's six-step lifecycle: statuses, allowed transitions, guards, and the audit event of each change."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.db.models import Ticket, TicketEvent
from core.errors import Conflict, InvalidInput


class TicketStatus(enum.StrEnum):
    """The agency's process: 接收, 初步判断, 调查, 处理, 反馈, 总结 (closed once the summary is written)."""

    RECEIVED = "received"
    CLASSIFIED = "classified"
    INVESTIGATING = "investigating"
    RESOLVED = "resolved"
    FEEDBACK = "feedback"
    CLOSED = "closed"


S = TicketStatus
OPEN_STATUSES = frozenset({S.RECEIVED, S.CLASSIFIED, S.INVESTIGATING})
STEP = {S.RECEIVED: 1, S.CLASSIFIED: 2, S.INVESTIGATING: 3, S.RESOLVED: 4, S.FEEDBACK: 5, S.CLOSED: 6}

ALLOWED: dict[TicketStatus, frozenset[TicketStatus]] = {
    S.RECEIVED: frozenset({S.CLASSIFIED}),
    S.CLASSIFIED: frozenset({S.INVESTIGATING, S.RESOLVED}),
    S.INVESTIGATING: frozenset({S.RESOLVED}),
    S.RESOLVED: frozenset({S.FEEDBACK, S.CLOSED, S.INVESTIGATING}),
    S.FEEDBACK: frozenset({S.CLOSED, S.INVESTIGATING}),
    S.CLOSED: frozenset({S.INVESTIGATING}),
}


class InvalidTicketTransition(Conflict):
    """The ticket cannot move to that status from where it is."""


class MissingSummary(InvalidInput):
    """Closing needs the step-6 summary: root cause and improvement measure."""


@dataclass(frozen=True, slots=True)
class TransitionRequest:
    """A requested status change with the texts its guards need."""

    to: TicketStatus
    actor: str
    solution: str | None = None
    root_cause: str | None = None
    improvement: str | None = None
    reason: str | None = None


def transition(
    ticket: Ticket, request: TransitionRequest, now: datetime, *, waive_summary_for_inquiry: bool = False
) -> TicketEvent:
    """Apply a status change to `ticket` after checking its guards; return the audit event to add."""
    current = TicketStatus(ticket.status)
    if request.to not in ALLOWED[current]:
        raise InvalidTicketTransition(f"ticket {ticket.number} cannot go from {current} to {request.to}")
    data: dict[str, Any] = {}
    if request.to is S.RESOLVED:
        solution = (request.solution or "").strip()
        if not solution:
            raise InvalidInput("a ticket cannot be resolved without a solution text")
        ticket.solution = solution
        ticket.resolved_at = now
        data["solution"] = solution
    elif request.to is S.CLOSED:
        root_cause = (request.root_cause or ticket.root_cause or "").strip()
        improvement = (request.improvement or ticket.improvement or "").strip()
        waived = waive_summary_for_inquiry and ticket.category == "inquiry"
        if not waived and not (root_cause and improvement):
            raise MissingSummary(
                f"ticket {ticket.number} needs a root-cause summary and an improvement measure before it is closed"
            )
        ticket.root_cause = root_cause or None
        ticket.improvement = improvement or None
        ticket.closed_at = now
        data.update(root_cause=root_cause, improvement=improvement, waived=waived and not root_cause)
    elif request.to is S.INVESTIGATING and current in (S.RESOLVED, S.FEEDBACK, S.CLOSED):
        ticket.resolved_at = None
        ticket.closed_at = None
        data["reopened"] = True
    if request.reason:
        data["reason"] = request.reason
    ticket.status = request.to.value
    ticket.updated_at = now
    kind = "reopened" if data.get("reopened") else request.to.value
    return TicketEvent(
        ticket_id=ticket.id,
        actor=request.actor,
        kind=kind,
        before=current.value,
        after=request.to.value,
        data=data,
        created_at=now,
    )


def mermaid() -> str:
    """The ticket lifecycle as a Mermaid state diagram, generated from ALLOWED."""
    lines = ["stateDiagram-v2", f"    [*] --> {S.RECEIVED.value}"]
    for source, targets in ALLOWED.items():
        for target in sorted(targets, key=lambda t: STEP[t]):
            label = "reopen" if STEP[target] < STEP[source] else ""
            lines.append(f"    {source.value} --> {target.value}" + (f": {label}" if label else ""))
    return "\n".join(lines) + "\n"
