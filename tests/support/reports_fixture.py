"""A week of tickets (2026-W48, Asia/Shanghai) whose report figures the tests work out by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from core.db.models import ChannelIdentity, Client, Conversation, Department, Ticket, TicketEvent, User
from core.wiring import Core
from handlers.services import Services

# Tuesday 2026-12-01 10:00 in Shanghai: every SLA deadline of the week has passed.
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
SHANGHAI = timedelta(hours=8)
# A rep whose name a spreadsheet would run as a formula.
FORMULA_NAME = "=SUM(1+1)"


@dataclass
class WeekFixture:
    """Ids of the people the tickets belong to."""

    ann: int
    bob: int
    cat: int


def local(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """A Shanghai wall-clock time of 2026 as an aware UTC datetime."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC) - SHANGHAI


async def seed_week(services: Core | Services) -> WeekFixture:
    """Seven tickets in 2026-W48 and two just outside it; expected figures in tests/core/reports/test_reports.py."""
    now = NOW
    async with services.db.transaction() as session:
        departments = {d.code: d.id for d in (await session.execute(select(Department))).scalars()}
        people = {
            name: User(
                username=name,
                display_name=display,
                role="rep",
                department_id=departments[dept],
                created_at=now,
            )
            for name, display, dept in (("ann", "安妮", "cs"), ("bob", "鲍勃", "cs"), ("cat", FORMULA_NAME, "creative"))
        }
        session.add_all(people.values())
        await session.flush()
        ann, bob, cat = (people[n].id for n in ("ann", "bob", "cat"))
        client = Client(name="王小明", company="星光传媒", created_at=now)
        session.add(client)
        await session.flush()

        def ticket(
            n: int,
            created: datetime,
            category: str,
            channel: str,
            dept: str | None,
            *,
            assignee: int | None = None,
            first: int | None = None,
            resolved: int | None = None,
            resolved_by: int | None = None,
            score: int | None = None,
            feedback: bool = False,
            reopened: int = 0,
            verdict: dict[str, Any] | None = None,
            handoff: bool = False,
        ) -> None:
            identity = ChannelIdentity(client_id=client.id, channel=channel, external_id=f"ext-{n}", created_at=created)
            session.add(identity)
            pending.append(
                (n, created, category, channel, dept, assignee, first, resolved, resolved_by, score, handoff)
            )
            extras.append((identity, feedback, reopened, verdict))

        pending: list[tuple[Any, ...]] = []
        extras: list[tuple[ChannelIdentity, bool, int, dict[str, Any] | None]] = []
        confident = {"confident": True, "picked": False, "rules_version": 3}
        ticket(
            1,
            local(23, 10),
            "inquiry",
            "web",
            "cs",
            assignee=ann,
            first=10,
            resolved=60,
            resolved_by=ann,
            score=5,
            feedback=True,
            verdict={**confident, "matched": ["价格", "报价"]},
        )
        # Reassigned to bob after ann resolved it: the score is still ann's.
        ticket(
            2,
            local(23, 11),
            "complaint",
            "wechat",
            "cs",
            assignee=bob,
            first=20,
            resolved=120,
            resolved_by=ann,
            score=4,
            feedback=True,
            verdict={**confident, "matched": ["投诉", "效果差"]},
        )
        # First response late (40 > 30), resolution late (300 > 240), reopened once.
        ticket(
            3,
            local(24, 9),
            "complaint",
            "wechat",
            "cs",
            assignee=bob,
            first=40,
            resolved=300,
            resolved_by=bob,
            score=3,
            feedback=True,
            reopened=1,
            verdict={**confident, "matched": ["投诉"]},
        )
        # The client picked the category from the buttons: the keywords did not decide.
        ticket(
            4,
            local(25, 14),
            "suggestion",
            "web",
            "creative",
            assignee=cat,
            first=5,
            verdict={"confident": False, "picked": True, "matched": ["建议"], "rules_version": 3},
        )
        # A handoff (转人工) in an older row without the verdict keys, category other: no keyword miss, since the
        # client asked for a person. Nobody answered, nobody owns it.
        ticket(5, local(26, 16), "other", "telegram", None, verdict={"category": "other"}, handoff=True)
        # Answered exactly at the deadline (met); the client never scored it.
        ticket(
            6,
            local(27, 10),
            "inquiry",
            "web",
            "cs",
            assignee=ann,
            first=30,
            resolved=90,
            resolved_by=ann,
            feedback=True,
            verdict={**confident, "matched": ["价格"]},
        )
        # Ten minutes before the week ends, local time (15:50 UTC on Sunday).
        ticket(
            8,
            local(29, 23, 50),
            "inquiry",
            "wechat",
            "cs",
            assignee=bob,
            first=15,
            verdict={**confident, "matched": ["报价"]},
        )
        # Outside the week on either side (local time): ten minutes before it starts, and the next day.
        ticket(
            0,
            local(22, 23, 50),
            "complaint",
            "web",
            "cs",
            assignee=ann,
            first=5,
            verdict={**confident, "matched": ["投诉"]},
        )
        ticket(
            9,
            local(30, 10),
            "complaint",
            "web",
            "cs",
            assignee=ann,
            first=5,
            verdict={**confident, "matched": ["投诉"]},
        )
        await session.flush()
        for row, (identity, feedback, reopened, verdict) in zip(pending, extras, strict=True):
            n, created, category, channel, dept, assignee, first, resolved, resolved_by, score, handoff = row
            conversation = Conversation(
                identity_id=identity.id,
                client_id=client.id,
                channel=channel,
                ref={},
                state="ticket_open",
                created_at=created,
                updated_at=created,
            )
            session.add(conversation)
            await session.flush()
            minutes = timedelta(minutes=1)
            item = Ticket(
                number=f"KF-T-{n:04d}",
                conversation_id=conversation.id,
                client_id=client.id,
                category=category,
                priority="P2",
                status="feedback" if feedback else ("resolved" if resolved else "investigating"),
                channel=channel,
                department_id=departments[dept] if dept else None,
                assignee_id=assignee,
                first_response_due=created + 30 * minutes,
                resolution_due=created + 240 * minutes,
                first_response_at=created + first * minutes if first is not None else None,
                resolved_at=created + resolved * minutes if resolved is not None else None,
                resolved_by_id=resolved_by,
                satisfaction=score,
                feedback_at=created + 2 * (resolved or 0) * minutes if feedback else None,
                first_response_breached=first is not None and first > 30,
                resolution_breached=resolved is not None and resolved > 240,
                reopen_count=reopened,
                handoff=handoff,
                created_at=created,
                updated_at=created,
            )
            session.add(item)
            await session.flush()
            data = {"category": category, "priority": "P2", "department": dept, **(verdict or {})}
            session.add(
                TicketEvent(
                    ticket_id=item.id,
                    actor="bot",
                    kind="classified",
                    before="received",
                    after="classified",
                    data=data,
                    created_at=created,
                )
            )
    return WeekFixture(ann=ann, bob=bob, cat=cat)
