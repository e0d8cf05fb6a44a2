"""Client evaluation on a hand-made fixture: figures, weighted score, suggestions, decisions and their audit."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.client_eval import decide, evaluate, save_suggestions
from core.db.models import AuditEntry, Client, Ticket, TierSuggestion
from core.errors import Conflict
from core.settings import ClientEvaluationSettings
from core.wiring import Core
from tests.support.client_eval_fixture import END, NOW, START, seed_clients

TIERS = ("A", "B", "C", "D")
RULES = ClientEvaluationSettings()


async def _evaluate(core: Core, rules: ClientEvaluationSettings = RULES) -> dict[int, dict]:
    async with core.db.transaction() as session:
        rows = await evaluate(session, START, END, now=NOW, tiers=TIERS, rules=rules)
    return {r.client_id: r.to_json() | {"rank": i + 1} for i, r in enumerate(rows)}


async def test_figures_score_and_suggestions(core: Core) -> None:
    ids = await seed_clients(core)
    rows = await _evaluate(core)
    falling = rows[ids.falling]
    # This period: tickets of Nov 2, 3, 4, 5 (the one of Nov 12 is after the period).
    assert falling["tickets"] == 4 and falling["complaints"] == 2 and falling["complaint_rate"] == 0.5
    assert falling["previous_tickets"] == 2 and falling["previous_complaints"] == 0
    # Rated 3 and 2 against 5 and 5 before.
    assert falling["rated"] == 2 and falling["satisfaction_avg"] == 2.5
    assert falling["previous_satisfaction_avg"] == 5.0 and falling["satisfaction_change"] == -2.5
    # First response met on Nov 2, 4, 5 (3 of 4); resolution met on Nov 2 and 5, missed on Nov 3 (30 h), and
    # Nov 4's is unresolved past its deadline (2 of 4): 5 of 8 deadlines met.
    assert falling["sla_decided"] == 8 and falling["sla_met_rate"] == 0.625
    assert falling["reopened"] == 1
    assert falling["last_contact"] == "2026-11-10T12:00:00+00:00"
    assert (falling["business_importance"], falling["market_influence"], falling["payment_timeliness"]) == (4, 3, 2)
    # Weights 3, 2, 2 (scores), 2 (satisfaction), 1 (complaints), 1 (SLA) over values 0.75, 0.5, 0.25, 0.375,
    # 0.5, 0.625: 5.625 / 11 = 51.1 %.
    assert falling["score"] == 51.1
    assert falling["suggestion"] == {
        "to_tier": "C",
        "direction": "down",
        "reasons": [
            {
                "code": "satisfaction_falling_complaints_rising",
                "satisfaction_change": -2.5,
                "complaints": 2,
                "previous_complaints": 0,
            }
        ],
    }
    strong = rows[ids.strong]
    # No tickets: only the three scores count, all 5 → 100; B moves up to A.
    assert strong["tickets"] == 0 and strong["satisfaction_avg"] is None and strong["sla_met_rate"] is None
    assert strong["score"] == 100.0 and strong["suggestion"]["to_tier"] == "A"
    assert strong["suggestion"]["direction"] == "up"
    # Nothing known: no score, no suggestion, ranked last.
    assert rows[ids.unknown]["score"] is None and rows[ids.unknown]["suggestion"] is None
    # Scores of 1 give 0, but D is the lowest tier: nothing lower to suggest.
    assert rows[ids.weak]["score"] == 0.0 and rows[ids.weak]["suggestion"] is None
    assert [rows[i]["rank"] for i in (ids.strong, ids.falling, ids.weak, ids.unknown)] == [1, 2, 3, 4]


async def test_weights_and_thresholds_are_settings(core: Core) -> None:
    ids = await seed_clients(core)
    # Only satisfaction weighs: (2.5 - 1) / 4 = 37.5 < 40 → also "score_low".
    only_satisfaction = RULES.model_copy(
        update={
            "weight_business_importance": 0,
            "weight_market_influence": 0,
            "weight_payment_timeliness": 0,
            "weight_complaints": 0,
            "weight_sla": 0,
        }
    )
    falling = (await _evaluate(core, only_satisfaction))[ids.falling]
    assert falling["score"] == 37.5
    assert [r["code"] for r in falling["suggestion"]["reasons"]] == [
        "satisfaction_falling_complaints_rising",
        "score_low",
    ]
    # Satisfaction fell but complaints did not rise: the rule asks for both.
    steady = RULES.model_copy(update={"demote_below": 0})
    async with core.db.transaction() as session:
        earlier = (
            (
                await session.execute(
                    select(Ticket).where(Ticket.client_id == ids.falling, Ticket.created_at < START).order_by(Ticket.id)
                )
            )
            .scalars()
            .all()
        )
        for ticket in earlier:
            ticket.category = "complaint"
    # Now 2 complaints before and 2 in the period: satisfaction fell by 2.5, complaints did not rise.
    falling = (await _evaluate(core, steady))[ids.falling]
    assert (falling["previous_complaints"], falling["complaints"]) == (2, 2)
    assert falling["satisfaction_change"] == -2.5 and falling["suggestion"] is None
    # Too few tickets for ticket-based reasons: no suggestion for the falling client.
    few = RULES.model_copy(update={"min_tickets": 5})
    assert (await _evaluate(core, few))[ids.falling]["suggestion"] is None


async def test_accept_changes_the_tier_and_dismiss_does_not_both_audited(core: Core) -> None:
    ids = await seed_clients(core)
    async with core.db.transaction() as session:
        rows = await evaluate(session, START, END, now=NOW, tiers=TIERS, rules=RULES)
        assert await save_suggestions(session, rows, "2026-Q4", NOW) == 2
    async with core.db.transaction() as session:
        # Undecided suggestions are not made twice.
        assert await save_suggestions(session, rows, "2026-Q4", NOW) == 0
        suggestions = {s.client_id: s.id for s in (await session.execute(select(TierSuggestion))).scalars()}
    async with core.db.transaction() as session:
        await decide(session, suggestions[ids.falling], accept=True, user_id=None, now=NOW)
        await decide(session, suggestions[ids.strong], accept=False, user_id=None, now=NOW)
    async with core.db.transaction() as session:
        tiers = dict((await session.execute(select(Client.id, Client.tier))).all())
        assert tiers[ids.falling] == "C" and tiers[ids.strong] == "B"
        audit = {(a.action, a.target): a.data for a in (await session.execute(select(AuditEntry))).scalars()}
        assert audit[("client_tier_changed", f"client:{ids.falling}")] == {
            "before": "B",
            "after": "C",
            "suggestion": suggestions[ids.falling],
        }
        assert ("tier_suggestion_dismissed", f"client:{ids.strong}") in audit
        statuses = {s.client_id: s.status for s in (await session.execute(select(TierSuggestion))).scalars()}
        assert statuses == {ids.falling: "accepted", ids.strong: "dismissed"}
    with pytest.raises(Conflict):
        async with core.db.transaction() as session:
            await decide(session, suggestions[ids.falling], accept=True, user_id=None, now=NOW)


async def test_accept_refused_when_the_tier_changed_since(core: Core) -> None:
    ids = await seed_clients(core)
    async with core.db.transaction() as session:
        rows = await evaluate(session, START, END, now=NOW, tiers=TIERS, rules=RULES)
        await save_suggestions(session, rows, "2026-Q4", NOW)
    async with core.db.transaction() as session:
        (await session.get(Client, ids.falling)).tier = "A"  # type: ignore[union-attr]
        suggestion = await session.scalar(select(TierSuggestion.id).where(TierSuggestion.client_id == ids.falling))
    with pytest.raises(Conflict, match="tier is A now"):
        async with core.db.transaction() as session:
            await decide(session, suggestion, accept=True, user_id=None, now=NOW)  # type: ignore[arg-type]
    async with core.db.transaction() as session:
        assert (await session.get(Client, ids.falling)).tier == "A"  # type: ignore[union-attr]
        assert await session.scalar(select(AuditEntry.id).where(AuditEntry.action == "client_tier_changed")) is None
