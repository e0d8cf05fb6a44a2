"""The ticket desk: opens tickets, assigns and notifies, moves them through the lifecycle, and keeps SLA clocks.

One module because opening, assigning, moving and the SLA clocks all go through `TicketDesk`'s one
transaction rules; the lifecycle table and the policies are apart (`lifecycle.py`, `tickets.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import followups, live
from core.business_hours import BusinessCalendar
from core.clock import as_utc
from core.db.models import Client, Conversation, Department, FollowUp, Notification, Ticket, TicketEvent, User
from core.dialogue.model import State
from core.learning import labels
from core.settings import Settings
from core.texts import Texts
from core.tickets import escalation
from core.tickets.lifecycle import OPEN_STATUSES, TicketStatus, TransitionRequest, transition
from core.tickets.policies import TicketPolicies, next_ticket_number

log = logging.getLogger(__name__)

SLA = "sla"
SUMMARY_REMINDER = "summary_reminder"
FIRST_RESPONSE, RESOLUTION = "first_response", "resolution"
WARNING, BREACH = "warning", "breach"


class TicketDesk:
    """Everything that happens to a ticket outside the dialogue itself, inside the caller's transaction."""

    def __init__(self, policies: TicketPolicies, calendar: BusinessCalendar, texts: Texts, settings: Settings) -> None:
        self.policies = policies
        self.calendar = calendar
        self.texts = texts
        self.settings = settings

    # ------------------------------------------------------------ opening

    async def open(
        self,
        session: AsyncSession,
        conversation: Conversation,
        client: Client,
        category: str,
        details: dict[str, Any],
        *,
        handoff: bool,
        now: datetime,
        classification: Mapping[str, Any] | None = None,
    ) -> Ticket:
        """Steps 1 and 2: record the issue, classify and route it, assign a rep, notify the department head.

        `classification` says how the category was decided: the rule phrases matched, whether the classifier
        was confident, whether the client picked the category from buttons, and the rule version in force.
        """
        how = classification or {}
        text = " ".join(str(v) for v in details.values() if isinstance(v, str))
        priority = self.policies.priority(client.tier, category, text)
        department_code = self.policies.route(category, text)
        department = (
            await session.execute(select(Department).where(Department.code == department_code))
        ).scalar_one_or_none()
        first_due, resolution_due = self._deadlines(priority, now)
        title = next((v for v in details.values() if isinstance(v, str) and v), "")[:200]
        ticket = Ticket(
            number=await next_ticket_number(session, self.policies.local_day(now)),
            conversation_id=conversation.id,
            client_id=client.id,
            category=category,
            priority=priority,
            status=TicketStatus.RECEIVED.value,
            channel=conversation.channel,
            department_id=department.id if department else None,
            title=title,
            details=details,
            handoff=handoff,
            first_response_due=first_due,
            resolution_due=resolution_due,
            created_at=now,
            updated_at=now,
        )
        session.add(ticket)
        await session.flush()
        session.add(
            TicketEvent(
                ticket_id=ticket.id,
                actor="bot",
                kind="received",
                after=TicketStatus.RECEIVED.value,
                data={"channel": conversation.channel, "handoff": handoff},
                created_at=now,
            )
        )
        ticket.status = TicketStatus.CLASSIFIED.value
        assignee = await self.assign(session, ticket)
        session.add(
            TicketEvent(
                ticket_id=ticket.id,
                actor="bot",
                kind="classified",
                before=TicketStatus.RECEIVED.value,
                after=TicketStatus.CLASSIFIED.value,
                data={
                    "category": category,
                    "priority": priority,
                    "department": department_code,
                    "assignee_id": assignee.id if assignee else None,
                    "matched": [str(p) for p in how.get("matched") or []],
                    "confident": bool(how.get("confident", False)),
                    "picked": bool(how.get("picked", False)),
                    "rules_version": how.get("rules_version"),
                },
                created_at=now,
            )
        )
        if how.get("picked"):
            # The client chose the category from the buttons: his own word on what his issue is.
            await labels.confirm(session, ticket, labels.CLIENT, category, now)
        head_id = department.head_user_id if department else None
        params = {"category": self.texts.get(f"category.{category}", self.settings.language)}
        if head_id is not None:
            await self.notify(session, ticket, "new_ticket", now, user_id=head_id, params=params)
        # The console's shared queue always hears of a new ticket, head or no head.
        await self.notify(session, ticket, "new_ticket", now, role="rep", params=params)
        await self.schedule_sla(session, ticket, now)
        return ticket

    async def reclassify_by_client(
        self, session: AsyncSession, ticket: Ticket, category: str, text: str, now: datetime
    ) -> None:
        """The client names his issue's category ("我要投诉"): the ticket takes it, and a more urgent priority."""
        if category == ticket.category:
            return
        client = await session.get(Client, ticket.client_id)
        tier = client.tier if client is not None else "C"
        before = {"category": ticket.category, "priority": ticket.priority}
        priority = self.policies.priority(tier, category, text)
        ticket.category = category
        if priority < ticket.priority:  # "P2" < "P4": the lower number is the more urgent
            ticket.priority = priority
            ticket.first_response_due, ticket.resolution_due = self._deadlines(priority, as_utc(ticket.created_at))
        data = {"before": before, "category": category, "priority": ticket.priority, "text": text[:500], "by": "client"}
        await self.record(session, ticket, "reclassified", "client", now, data)
        await labels.confirm(session, ticket, labels.CLIENT, category, now)

    def _deadlines(self, priority: str, start: datetime) -> tuple[datetime, datetime]:
        target = self.policies.sla[priority]
        return self.calendar.add(start, target.first_response), self.calendar.add(start, target.resolution)

    async def assign(self, session: AsyncSession, ticket: Ticket) -> User | None:
        """The rep on duty in the ticket's department with the fewest open tickets; ties go round-robin."""
        if ticket.department_id is None:
            return None
        open_count = (
            select(func.count(Ticket.id))
            .where(Ticket.assignee_id == User.id, Ticket.status.in_([s.value for s in OPEN_STATUSES]))
            .correlate(User)
            .scalar_subquery()
        )
        last_assigned = (
            select(func.max(Ticket.created_at)).where(Ticket.assignee_id == User.id).correlate(User).scalar_subquery()
        )
        candidate = (
            await session.execute(
                select(User)
                .where(
                    User.department_id == ticket.department_id,
                    User.role == "rep",
                    User.on_duty.is_(True),
                    User.active.is_(True),
                )
                .order_by(open_count, last_assigned.asc().nulls_first(), User.id)
                .limit(1)
            )
        ).scalar_one_or_none()
        if candidate is not None:
            ticket.assignee_id = candidate.id
        return candidate

    # ------------------------------------------------------------ lifecycle

    async def move(self, session: AsyncSession, ticket: Ticket, request: TransitionRequest, now: datetime) -> None:
        """A lifecycle transition with its guards, its audit event and its consequences."""
        before = TicketStatus(ticket.status)
        event = transition(
            ticket, request, now, waive_summary_for_inquiry=self.settings.tickets.waive_summary_for_inquiry
        )
        session.add(event)
        data = {"number": ticket.number, "status": ticket.status, "before": before.value, "actor": request.actor}
        live.stage(session, live.LiveEvent("ticket", ticket.conversation_id, ticket.id, data, now))
        if request.to is TicketStatus.RESOLVED:
            ticket.resolved_by_id = _user_id(request.actor) or ticket.assignee_id
            due = now + timedelta(hours=self.settings.tickets.summary_reminder_hours)
            await followups.schedule(
                session,
                kind=SUMMARY_REMINDER,
                target_id=ticket.id,
                due_at=due,
                key=f"ticket:{ticket.id}:summary:{ticket.reopen_count}",
                payload={},
                now=now,
            )
            if ticket.channel == "phone":
                # Nothing can be sent on a phone line: the rep calls back (回访) and records the client's score.
                callee = ticket.resolved_by_id or ticket.assignee_id
                await self.notify(session, ticket, "callback", now, user_id=callee, role=None if callee else "rep")
        elif request.to is TicketStatus.CLOSED:
            await self._release_conversation(session, ticket)
            await labels.confirm_uncorrected(session, ticket, now)
        elif request.to is TicketStatus.INVESTIGATING and before not in OPEN_STATUSES:
            if before is TicketStatus.CLOSED:
                await self._relink_conversation(session, ticket)
            ticket.reopen_count += 1
            ticket.resolution_breached = False
            _, ticket.resolution_due = self._deadlines(ticket.priority, now)
            await self.schedule_sla(session, ticket, now)

    async def _release_conversation(self, session: AsyncSession, ticket: Ticket) -> None:
        """A closed ticket ends its issue for the dialogue too, even when closed before the client's feedback.

        Left linked, the conversation would keep waiting for a person (or for feedback) on a ticket no queue
        shows, and the client's next messages would be acknowledged into it unseen; unlinked and CLOSED, the
        next message starts a new issue (a request for a person opens a new ticket in the waiting queue).
        """
        conversation = await session.get(Conversation, ticket.conversation_id, with_for_update=True)
        if conversation is None or conversation.ticket_id != ticket.id:
            return
        conversation.ticket_id = None
        conversation.holder_user_id = None
        conversation.state = State.CLOSED.value

    async def _relink_conversation(self, session: AsyncSession, ticket: Ticket) -> None:
        """A reopened closed ticket is the conversation's issue again, unless the client started a new one."""
        conversation = await session.get(Conversation, ticket.conversation_id, with_for_update=True)
        if conversation is None or conversation.ticket_id is not None:
            return
        conversation.ticket_id = ticket.id
        conversation.state = State.TICKET_OPEN.value

    async def record(
        self,
        session: AsyncSession,
        ticket: Ticket,
        kind: str,
        actor: str,
        now: datetime,
        data: dict[str, Any] | None = None,
    ) -> None:
        """An audit event that does not change the status (a note, a claim, an SLA warning)."""
        session.add(
            TicketEvent(
                ticket_id=ticket.id,
                actor=actor,
                kind=kind,
                before=ticket.status,
                after=ticket.status,
                data=data or {},
                created_at=now,
            )
        )
        ticket.updated_at = now

    async def record_feedback(
        self, session: AsyncSession, ticket: Ticket, rating: int | None, actor: str, now: datetime
    ) -> bool:
        """Step 5: the client's score (or its absence); True when the score reopens the ticket."""
        ticket.satisfaction = rating
        ticket.feedback_at = now
        if TicketStatus(ticket.status) is TicketStatus.RESOLVED:
            await self.move(
                session,
                ticket,
                TransitionRequest(TicketStatus.FEEDBACK, actor, reason="no feedback" if rating is None else None),
                now,
            )
        await self.record(
            session, ticket, "feedback", actor, now, {"rating": rating, "credited_to": ticket.resolved_by_id}
        )
        if rating is None or rating > self.settings.tickets.low_score:
            return False
        # A low score is a complaint about the outcome: reopen it as one and tell the supervisors.
        ticket.category = "complaint"
        await self.move(
            session, ticket, TransitionRequest(TicketStatus.INVESTIGATING, actor, reason=f"low score {rating}"), now
        )
        await self.notify(session, ticket, "low_score", now, role="supervisor", params={"rating": rating})
        if ticket.resolved_by_id is not None:
            await self.notify(
                session, ticket, "low_score", now, user_id=ticket.resolved_by_id, params={"rating": rating}
            )
        return True

    # ------------------------------------------------------------ notifications

    async def notify(
        self,
        session: AsyncSession,
        ticket: Ticket,
        kind: str,
        now: datetime,
        *,
        user_id: int | None = None,
        role: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        """A console notification (the console always shows them; other notifiers may deliver them too)."""
        params = params or {}
        lang = self.settings.language
        text = self.texts.get(
            f"notify.{kind}",
            lang,
            ticket_no=ticket.number,
            priority=ticket.priority,
            title=ticket.title,
            **params,
        )
        session.add(
            Notification(
                user_id=user_id,
                role=role,
                kind=kind,
                ticket_id=ticket.id,
                text=text,
                data={k: v for k, v in params.items() if isinstance(v, str | int | float | bool)},
                created_at=now,
            )
        )

    # ------------------------------------------------------------ SLA clocks

    async def schedule_sla(self, session: AsyncSession, ticket: Ticket, now: datetime) -> None:
        """Warning and breach follow-ups for each running clock; keyed by deadline so a new deadline re-arms them."""
        if ticket.sla_paused_at is not None:
            return
        ratio = self.settings.tickets.sla_warning_ratio
        target = self.policies.sla[ticket.priority]
        clocks = []
        if ticket.first_response_at is None and ticket.first_response_due is not None:
            clocks.append((FIRST_RESPONSE, as_utc(ticket.first_response_due), target.first_response))
        if ticket.resolved_at is None and ticket.resolution_due is not None:
            clocks.append((RESOLUTION, as_utc(ticket.resolution_due), target.resolution))
        for clock, due, length in clocks:
            remaining = self.calendar.between(now, due)
            warn_at = self.calendar.add(now, max(timedelta(0), remaining - length * (1 - ratio)))
            for stage, at in ((WARNING, warn_at), (BREACH, due)):
                await followups.schedule(
                    session,
                    kind=SLA,
                    target_id=ticket.id,
                    due_at=at,
                    key=f"ticket:{ticket.id}:sla:{clock}:{stage}:{due.isoformat()}",
                    payload={"clock": clock, "stage": stage, "due": due.isoformat()},
                    now=now,
                )

    async def pause_sla(self, session: AsyncSession, ticket: Ticket, actor: str, now: datetime) -> None:
        """Waiting for the client: the clocks stop until the client answers."""
        if ticket.sla_paused_at is None:
            ticket.sla_paused_at = now
            await self.record(session, ticket, "sla_paused", actor, now)

    async def resume_sla(self, session: AsyncSession, ticket: Ticket, actor: str, now: datetime) -> None:
        paused = ticket.sla_paused_at
        if paused is None:
            return
        paused = as_utc(paused)
        # Each deadline keeps the business time it had left when the clock stopped.
        if ticket.first_response_due is not None:
            left = self.calendar.between(paused, as_utc(ticket.first_response_due))
            ticket.first_response_due = self.calendar.add(now, left)
        if ticket.resolution_due is not None:
            left = self.calendar.between(paused, as_utc(ticket.resolution_due))
            ticket.resolution_due = self.calendar.add(now, left)
        ticket.sla_paused_at = None
        await self.record(
            session, ticket, "sla_resumed", actor, now, {"paused_for": str(self.calendar.between(paused, now))}
        )
        await self.schedule_sla(session, ticket, now)

    async def on_sla(self, session: AsyncSession, followup: FollowUp, now: datetime) -> None:
        """A warning or breach follow-up came due: act unless it is stale or the clock has stopped."""
        ticket = await session.get(Ticket, followup.target_id, with_for_update=True)
        if ticket is None or ticket.sla_paused_at is not None:
            return
        clock, stage = followup.payload["clock"], followup.payload["stage"]
        due = ticket.first_response_due if clock == FIRST_RESPONSE else ticket.resolution_due
        done = ticket.first_response_at if clock == FIRST_RESPONSE else ticket.resolved_at
        if done is not None or due is None or as_utc(due).isoformat() != followup.payload["due"]:
            return
        params = {"clock": self.texts.get(f"notify.clock_{clock}", self.settings.language)}
        if stage == WARNING:
            recipient = ticket.assignee_id or await self._head_of(session, ticket)
            if recipient is not None:
                await self.notify(session, ticket, "sla_warning", now, user_id=recipient, params=params)
            else:
                await self.notify(session, ticket, "sla_warning", now, role="rep", params=params)
            await self.record(session, ticket, "sla_warning", "scheduler", now, {"clock": clock})
            self._stage_sla(session, ticket, "warning", clock, now)
            return
        if clock == FIRST_RESPONSE:
            ticket.first_response_breached = True
        else:
            ticket.resolution_breached = True
        before = ticket.priority
        ticket.priority = f"P{max(1, int(before[1]) - 1)}"
        await self.record(
            session, ticket, "sla_breach", "scheduler", now, {"clock": clock, "priority": [before, ticket.priority]}
        )
        head = await self._head_of(session, ticket)
        if head is not None:
            await self.notify(session, ticket, "sla_breach", now, user_id=head, params=params)
        await self.notify(session, ticket, "sla_breach", now, role="supervisor", params=params)
        self._stage_sla(session, ticket, "breach", clock, now)
        escalated = {"reason": escalation.SLA_BREACH, "ticket_number": ticket.number}
        live.stage(session, live.LiveEvent("escalated", ticket.conversation_id, ticket.id, escalated, now))

    def _stage_sla(self, session: AsyncSession, ticket: Ticket, kind: str, clock: str, now: datetime) -> None:
        data = {"kind": kind, "which": clock, "ticket_number": ticket.number}
        live.stage(session, live.LiveEvent("sla", ticket.conversation_id, ticket.id, data, now))

    async def on_summary_reminder(self, session: AsyncSession, followup: FollowUp, now: datetime) -> None:
        """Step 6 still missing a day after resolution: remind whoever resolved it."""
        ticket = await session.get(Ticket, followup.target_id)
        if ticket is None or ticket.root_cause or TicketStatus(ticket.status) in OPEN_STATUSES | {TicketStatus.CLOSED}:
            return
        recipient = ticket.resolved_by_id or ticket.assignee_id or await self._head_of(session, ticket)
        if recipient is not None:
            await self.notify(session, ticket, "summary_missing", now, user_id=recipient)
        else:
            await self.notify(session, ticket, "summary_missing", now, role="supervisor")

    async def _head_of(self, session: AsyncSession, ticket: Ticket) -> int | None:
        if ticket.department_id is None:
            return None
        return (
            await session.execute(select(Department.head_user_id).where(Department.id == ticket.department_id))
        ).scalar_one_or_none()


def _user_id(actor: str) -> int | None:
    """Actors are "user:<id>", "client", "bot" or "scheduler"."""
    if actor.startswith("user:") and actor[5:].isdigit():
        return int(actor[5:])
    return None
