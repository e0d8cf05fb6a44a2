"""Four clients over two ten-day periods whose evaluation figures the tests work out by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.db.models import ChannelIdentity, Client, ClientScore, Conversation, Ticket
from core.wiring import Core
from handlers.services import Services

# The evaluated period is [START, END); the period before it is [START - 10 days, START).
START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 11, 11, tzinfo=UTC)
NOW = datetime(2026, 11, 20, tzinfo=UTC)


@dataclass
class Clients:
    """Ids of the fixture's clients."""

    falling: int  # B, worse this period than the last
    strong: int  # B, no tickets, top scores
    unknown: int  # A, nothing known
    weak: int  # D, lowest scores, already in the lowest tier


async def seed_clients(services: Core | Services) -> Clients:
    async with services.db.transaction() as session:
        falling = Client(name="王小明", company="星光传媒", tier="B", phone="13800138000", created_at=NOW)
        strong = Client(name="李雷", company="远航广告", tier="B", created_at=NOW)
        unknown = Client(name="韩梅梅", company="晨曦", tier="A", created_at=NOW)
        weak = Client(name="赵四", company="小店", tier="D", created_at=NOW)
        session.add_all([falling, strong, unknown, weak])
        await session.flush()
        identity = ChannelIdentity(client_id=falling.id, channel="web", external_id="v-1", created_at=NOW)
        session.add(identity)
        await session.flush()
        conversation = Conversation(
            identity_id=identity.id,
            client_id=falling.id,
            channel="web",
            ref={},
            last_inbound_at=datetime(2026, 11, 10, 12, tzinfo=UTC),
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(conversation)
        await session.flush()
        count = 0

        def ticket(
            created: datetime,
            category: str,
            *,
            first: int | None,
            resolved: int | None,
            score: int | None = None,
            reopened: int = 0,
        ) -> None:
            """Deadlines 60 minutes (first response) and 24 hours (resolution) after creation; times in minutes."""
            nonlocal count
            count += 1
            session.add(
                Ticket(
                    number=f"KF-EVAL-{count}",
                    conversation_id=conversation.id,
                    client_id=falling.id,
                    category=category,
                    status="resolved" if resolved is not None else "processing",
                    channel="web",
                    first_response_due=created + timedelta(minutes=60),
                    resolution_due=created + timedelta(hours=24),
                    first_response_at=created + timedelta(minutes=first) if first is not None else None,
                    resolved_at=created + timedelta(minutes=resolved) if resolved is not None else None,
                    satisfaction=score,
                    feedback_at=created + timedelta(days=1) if score is not None else None,
                    reopen_count=reopened,
                    created_at=created,
                    updated_at=created,
                )
            )

        # The period before: two inquiries, both rated 5.
        ticket(datetime(2026, 10, 25, 9, tzinfo=UTC), "inquiry", first=10, resolved=60, score=5)
        ticket(datetime(2026, 10, 28, 9, tzinfo=UTC), "inquiry", first=10, resolved=60, score=5)
        # This period: four tickets, two of them complaints.
        ticket(datetime(2026, 11, 2, 9, tzinfo=UTC), "complaint", first=30, resolved=120, score=3)
        ticket(datetime(2026, 11, 3, 9, tzinfo=UTC), "complaint", first=120, resolved=30 * 60, score=2)
        ticket(datetime(2026, 11, 4, 9, tzinfo=UTC), "inquiry", first=10, resolved=None)
        ticket(datetime(2026, 11, 5, 9, tzinfo=UTC), "inquiry", first=10, resolved=60, reopened=1)
        # Outside both periods: counts nowhere.
        ticket(datetime(2026, 11, 12, 9, tzinfo=UTC), "complaint", first=10, resolved=60, score=1)
        session.add_all(
            [
                ClientScore(
                    client_id=falling.id,
                    business_importance=4,
                    market_influence=3,
                    payment_timeliness=2,
                    updated_at=NOW,
                ),
                ClientScore(
                    client_id=strong.id, business_importance=5, market_influence=5, payment_timeliness=5, updated_at=NOW
                ),
                ClientScore(
                    client_id=weak.id, business_importance=1, market_influence=1, payment_timeliness=1, updated_at=NOW
                ),
            ]
        )
        return Clients(falling.id, strong.id, unknown.id, weak.id)
