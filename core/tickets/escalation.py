"""When a ticket goes to the reps' attention (a Telegram topic, the console's escalated view), and why: one rule.

A ticket is escalated while open when the client asked for a person (handoff), an SLA clock ran out, or it is a
complaint of a tier-A client. The engine and the desk raise the live "escalated" event when one of these becomes
true; the reps' group catches up from the same rule in SQL when an event was lost.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, or_

from core.db.models import Client, Ticket

HANDOFF = "handoff"
SLA_BREACH = "sla_breach"
TIER_A_COMPLAINT = "tier_a_complaint"


def escalated_at_opening(*, category: str, tier: str | None, handoff: bool) -> str | None:
    """The reason a ticket just opened is escalated at once (a handoff is raised when the client is queued)."""
    return TIER_A_COMPLAINT if category == "complaint" and tier == "A" and not handoff else None


def escalated_sql() -> Any:
    """The rule as a condition on Ticket joined with its Client."""
    return or_(
        Ticket.handoff.is_(True),
        Ticket.first_response_breached.is_(True),
        Ticket.resolution_breached.is_(True),
        (Ticket.category == "complaint") & (Client.tier == "A"),
    )


def reason_sql() -> Any:
    """Why an escalated ticket is escalated, in SQL, in the order the reasons win."""
    return case(
        (Ticket.handoff.is_(True), HANDOFF),
        (or_(Ticket.first_response_breached.is_(True), Ticket.resolution_breached.is_(True)), SLA_BREACH),
        else_=TIER_A_COMPLAINT,
    )
