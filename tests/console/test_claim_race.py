"""Fifty pairs of reps click "claim" on the same conversation at once: exactly one of each pair wins (PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from core.db.models import Conversation, User
from handlers.services import Services
from tests.console.conftest import SignIn
from tests.console.helpers import escalate

PAIRS = 50


# The race is about PostgreSQL's row locks; SQLite serializes every writer anyway (its variant of the
# same claim race is in test_console_api).
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_fifty_concurrent_claim_pairs_have_one_winner_each(
    db_url: str, services: Services, signed_in: SignIn
) -> None:
    assert db_url.startswith("postgresql")
    ann = await signed_in("ann", name="安妮")
    bob = await signed_in("bob", name="鲍勃")
    tickets = [await escalate(services, f"race-{i}") for i in range(PAIRS)]

    async def pair(number: str) -> tuple[int, int, str, str]:
        a, b = await asyncio.gather(
            ann.post(f"/console/api/tickets/{number}/claim"), bob.post(f"/console/api/tickets/{number}/claim")
        )
        return a.status_code, b.status_code, a.text, b.text

    results = await asyncio.gather(*(pair(number) for _, number in tickets))
    names = {ann.user_id: "安妮", bob.user_id: "鲍勃"}
    async with services.db.transaction() as session:
        holders = dict(
            (
                await session.execute(
                    select(Conversation.id, Conversation.holder_user_id).where(
                        Conversation.id.in_([c for c, _ in tickets])
                    )
                )
            ).all()
        )
        users = {u.id for u in (await session.execute(select(User))).scalars()}
    for (conversation_id, _), (a, b, a_text, b_text) in zip(tickets, results, strict=True):
        assert sorted((a, b)) == [200, 409], (a, b, a_text, b_text)
        winner = ann.user_id if a == 200 else bob.user_id
        assert holders[conversation_id] == winner
        loser_text = b_text if a == 200 else a_text
        assert names[winner] in loser_text
    assert {ann.user_id, bob.user_id} <= users
