"""The one rule for what reaches the reps' attention, as the engine applies it when a ticket opens."""

from __future__ import annotations

import pytest

from core.tickets.escalation import TIER_A_COMPLAINT, escalated_at_opening


@pytest.mark.parametrize(
    ("category", "tier", "handoff", "reason"),
    [
        ("complaint", "A", False, TIER_A_COMPLAINT),
        # a handoff is escalated when the client is queued, not again at the opening
        ("complaint", "A", True, None),
        ("complaint", "B", False, None),
        ("complaint", None, False, None),
        ("inquiry", "A", False, None),
    ],
)
def test_a_tier_a_clients_complaint_is_escalated_when_it_opens(
    category: str, tier: str | None, handoff: bool, reason: str | None
) -> None:
    assert escalated_at_opening(category=category, tier=tier, handoff=handoff) == reason
