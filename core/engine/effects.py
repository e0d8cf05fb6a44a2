"""A step of the dialogue and its effects applied: tickets opened, notes, timers, and replies written to the outbox."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from core import followups, live, outbox
from core.channel import degrade
from core.clock import as_utc
from core.db import direct
from core.db.adopted import Adoptable, loaded
from core.db.models import (
    ChannelIdentity,
    Client,
    Conversation,
    Ticket,
    User,
)
from core.dialogue.actions import recognize
from core.dialogue.acts import NO_ACTS, Act
from core.dialogue.entities import find_ticket_numbers
from core.dialogue.machine import step
from core.dialogue.model import (
    DRAFT_STATES,
    Classified,
    Effect,
    Event,
    EventKind,
    LeaveTicket,
    OpenTicket,
    Outcome,
    Promise,
    Say,
    Schedule,
    SetHolder,
    Snapshot,
    State,
    TicketNote,
    TicketView,
    TimerKind,
)
from core.engine.base import DIALOGUE_TIMEOUT, E_TRANSFER, EngineBase, ReceiveResult, combine, log
from core.messages import (
    ConversationRef,
    OutboundMessage,
    kind_of_text,
)
from core.outbox import Outgoing
from core.tickets import escalation
from core.tickets.lifecycle import OPEN_STATUSES, TicketStatus, TransitionRequest
from core.tickets.policies import format_duration

# The greeting's and the status question's ticket lookups, built once (building and keying cost more than running).
# His own tickets: his record's and those of every other record the agency keeps with his phone (a caller, another
# account), read as plain columns.
_TICKET = Adoptable.of(Ticket)
# His records: his own, and those with the phone given (a phone of None matches none).
_OWN_CLIENTS = select(Client.id).where(or_(Client.id == bindparam("client"), Client.phone == bindparam("phone")))
_CLIENTS_TICKET = select(*_TICKET.columns).where(
    Ticket.number == bindparam("number"), Ticket.client_id.in_(_OWN_CLIENTS)
)
_LATEST_TICKET = select(*_TICKET.columns).where(Ticket.client_id.in_(_OWN_CLIENTS)).order_by(Ticket.id.desc()).limit(1)
# Where no issue is being taken in: asked how long the agency takes, the client hears its quickest targets.
_BEFORE_AN_ISSUE = frozenset({State.NEW, State.CLOSED})


class EngineEffects(EngineBase):
    """Steps the dialogue for one event and applies what the step decided, inside the caller's transaction."""

    def _stage(
        self,
        session: AsyncSession,
        conversation: Conversation,
        kind: str,
        data: dict[str, Any],
        ticket: Ticket | None = None,
    ) -> None:
        ticket_id = ticket.id if ticket is not None else conversation.ticket_id
        live.stage(session, live.LiveEvent(kind, conversation.id, ticket_id, data, self.clock.now()))

    async def _escalated(self, session: AsyncSession, conversation: Conversation, reason: str, now: datetime) -> None:
        # The ticket is in the session already: this costs no query.
        ticket = await loaded(session, Ticket, conversation.ticket_id) if conversation.ticket_id else None
        data = {"reason": reason, "ticket_number": ticket.number if ticket is not None else None}
        live.stage(session, live.LiveEvent("escalated", conversation.id, conversation.ticket_id, data, now))

    async def _step_and_apply(
        self,
        session: AsyncSession,
        conversation: Conversation,
        client: Client,
        event: Event,
        result: ReceiveResult,
        now: datetime,
        *,
        message_id: int | None = None,
    ) -> Outcome:
        deps = self._deps()
        snapshot = Snapshot(
            state=State(conversation.state),
            category=conversation.category,
            slots=dict(conversation.slots or {}),
            context=dict(conversation.context or {}),
            has_ticket=conversation.ticket_id is not None,
            language=conversation.language,
            client_phone=client.phone,
            channel=conversation.channel,
        )
        if event.kind is EventKind.MESSAGE:
            event = replace(event, acts=recognize(event.text, snapshot, deps))
            acts = event.acts or NO_ACTS
            if acts.found & {Act.STATUS, Act.GREETING}:
                # Tickets are flushed when opened; the conversation's pending changes are flushed once, later.
                with session.no_autoflush:
                    view = await self._ticket_view(session, conversation, client, event.text)
                snapshot = replace(snapshot, ticket=view)
            elif Act.CLAIM in acts and conversation.ticket_id is not None:
                ticket = await loaded(session, Ticket, conversation.ticket_id)
                if ticket is not None:
                    snapshot = replace(snapshot, ticket=TicketView(ticket.number, ticket.category, ticket.status))
            if Act.TIMING in acts and snapshot.state in DRAFT_STATES | _BEFORE_AN_ISSUE:
                snapshot = replace(snapshot, promise=self._promise(conversation, client))
        outcome = step(snapshot, event, deps)
        before = State(conversation.state)
        conversation.state = outcome.state.value
        conversation.category = outcome.category
        conversation.slots = dict(outcome.slots)
        conversation.context = dict(outcome.context)
        conversation.updated_at = now
        log.debug("conversation %s: %s --%s--> %s", conversation.id, before, event.kind, outcome.state)
        await self._apply(session, conversation, client, event, outcome, result, now, message_id)
        if outcome.state is State.HUMAN_QUEUE and before is not State.HUMAN_QUEUE and event.kind is not E_TRANSFER:
            await self._escalated(session, conversation, escalation.HANDOFF, now)
        return outcome

    def _promise(self, conversation: Conversation, client: Client) -> Promise:
        """The targets the issue being taken in would get once filed: its category, the client's tier, and the
        urgent words of what he told so far (as the ticket's priority will be decided). Before he tells what it
        is, the quickest targets any issue of his tier gets."""
        lang = conversation.language
        if conversation.category is None:
            by_tier = self.policies.tier_priority.get(client.tier) or self.policies.tier_priority.get("C") or {}
            targets = [self.policies.target(client.tier, category, "") for category in by_tier or ("other",)]
            first = min(t.first_response for t in targets)
            return Promise(format_duration(first, lang), format_duration(min(t.resolution for t in targets), lang))
        told = [str((conversation.context or {}).get("first_text") or "")]
        told.extend(v for v in (conversation.slots or {}).values() if isinstance(v, str))
        target = self.policies.target(client.tier, conversation.category, " ".join(told))
        return Promise(format_duration(target.first_response, lang), format_duration(target.resolution, lang))

    async def _ticket_view(
        self, session: AsyncSession, conversation: Conversation, client: Client, text: str
    ) -> TicketView | None:
        """The ticket a client asks about: the one named by number (his own), the conversation's, or his latest.

        His own are those of his client record and of any other the agency recorded with the same phone (a call
        logged by a rep, another WeChat account): a phone on record was entered by the agency, not typed by
        whoever writes. A number named that is not his is never looked at further, so it cannot be told.
        """
        ticket: Ticket | None = None
        named = find_ticket_numbers(text)
        # The tickets of other records with his phone count where a ticket is named or the conversation has none.
        own = {"client": client.id, "phone": client.phone if named or conversation.ticket_id is None else None}
        if named:
            ticket = await self._ticket_of(session, _CLIENTS_TICKET, {"number": named[0], **own})
        if ticket is None and conversation.ticket_id is not None:
            ticket = await loaded(session, Ticket, conversation.ticket_id)
        if ticket is None and not named:
            ticket = await self._ticket_of(session, _LATEST_TICKET, own)
        if ticket is None:
            return None
        holder = None
        holder_id = conversation.holder_user_id if conversation.ticket_id == ticket.id else None
        if holder_id or ticket.assignee_id:
            user = await session.get(User, holder_id or ticket.assignee_id)
            holder = user.display_name or user.username if user is not None else None
        if TicketStatus(ticket.status) not in OPEN_STATUSES:
            return TicketView(ticket.number, ticket.category, ticket.status, holder)
        due = ticket.first_response_due if ticket.first_response_at is None else ticket.resolution_due
        within = format_duration(self.policies.sla[ticket.priority].resolution, conversation.language)
        return TicketView(
            ticket.number,
            ticket.category,
            ticket.status,
            holder,
            self._local(due),
            self._local(ticket.resolution_due),
            within,
        )

    @staticmethod
    async def _ticket_of(session: AsyncSession, statement: Executable, values: dict[str, Any]) -> Ticket | None:
        """The ticket a lookup finds, as the session holds it (read as plain columns: `direct.fetch`)."""
        rows = await direct.fetch(session, statement, values)
        return await _TICKET.placed(session, rows[0]) if rows else None

    def _local(self, moment: datetime | None) -> str | None:
        """A deadline as the client reads it, in the business time zone."""
        return as_utc(moment).astimezone(self._zone).strftime("%m-%d %H:%M") if moment is not None else None

    async def _apply(
        self,
        session: AsyncSession,
        conversation: Conversation,
        client: Client,
        event: Event,
        outcome: Outcome,
        result: ReceiveResult,
        now: datetime,
        message_id: int | None,
    ) -> None:
        ticket = await loaded(session, Ticket, conversation.ticket_id) if conversation.ticket_id else None
        actor = event.actor or ("client" if event.kind in (EventKind.MESSAGE, EventKind.BUTTON) else "bot")
        effects: Sequence[Effect] = outcome.effects
        spoken: list[OutboundMessage] = []
        timers: list[followups.Timer] = []
        for effect in effects:
            if isinstance(effect, OpenTicket):
                ticket = await self._open_ticket(session, conversation, client, effect, now)
                reason = escalation.escalated_at_opening(
                    category=effect.category, tier=client.tier, handoff=effect.handoff
                )
                if reason is not None:
                    await self._escalated(session, conversation, reason, now)
            elif isinstance(effect, TicketNote):
                if ticket is not None:
                    await self._note(session, ticket, effect, actor, now, message_id)
            elif isinstance(effect, SetHolder):
                conversation.holder_user_id = effect.user_id
                if ticket is not None and effect.user_id is not None:
                    ticket.assignee_id = effect.user_id
            elif isinstance(effect, LeaveTicket):
                if ticket is not None:
                    await self.desk.record(session, ticket, "client_moved_on", actor, now, {"text": event.text})
                # The ticket is worked on from the console as before; resolving it tells the client by message.
                conversation.ticket_id = None
                conversation.holder_user_id = None
                ticket = None
            elif isinstance(effect, Schedule):
                timers.append(self._timer(conversation, client, ticket, effect, now))
            elif isinstance(effect, Classified):
                # Recorded on the inbound message by receive(), which holds the message.
                continue
            else:
                spoken.append(self.render(effect, conversation, ticket))
        if timers:
            # The idle reminder and its timeout come together: one statement for both.
            await followups.schedule_later(session, timers, now)
        if spoken:
            await self._say(session, conversation, result, combine(spoken), now)
        if outcome.state is State.CLOSED:
            # The issue is over for the dialogue; the ticket lives on for the rep's root-cause summary.
            conversation.ticket_id = None

    async def _open_ticket(
        self, session: AsyncSession, conversation: Conversation, client: Client, effect: OpenTicket, now: datetime
    ) -> Ticket:
        ticket = await self.desk.open(
            session,
            conversation,
            client,
            effect.category,
            dict(effect.details),
            handoff=effect.handoff,
            now=now,
            classification=effect.classification,
        )
        conversation.ticket_id = ticket.id
        return ticket

    async def _note(
        self,
        session: AsyncSession,
        ticket: Ticket,
        note: TicketNote,
        actor: str,
        now: datetime,
        message_id: int | None,
    ) -> None:
        """Apply a dialogue note to the ticket: lifecycle moves go through the desk and its guards."""
        data = dict(note.data)
        if message_id is not None:
            data.setdefault("message_id", message_id)
        status = TicketStatus(ticket.status)
        desk = self.desk
        if note.kind == "resolved":
            request = TransitionRequest(TicketStatus.RESOLVED, actor, solution=str(data.get("solution", "")))
            await desk.move(session, ticket, request, now)
        elif note.kind == "reopened":
            await desk.move(session, ticket, TransitionRequest(TicketStatus.INVESTIGATING, actor, reason="client"), now)
        elif note.kind == "feedback":
            await desk.record_feedback(session, ticket, int(data["rating"]), actor, now)
        elif note.kind == "feedback_missing":
            await desk.record_feedback(session, ticket, None, actor, now)
        elif note.kind == "client_reclassified":
            await desk.reclassify_by_client(session, ticket, str(data["category"]), str(data.get("text", "")), now)
        else:
            if note.kind == "handoff":
                ticket.handoff = True
            await desk.record(session, ticket, note.kind, actor, now, data)
            if note.kind == "claimed" and status is TicketStatus.CLASSIFIED:
                await desk.move(session, ticket, TransitionRequest(TicketStatus.INVESTIGATING, actor), now)

    def _timer(
        self, conversation: Conversation, client: Client, ticket: Ticket | None, effect: Schedule, now: datetime
    ) -> followups.Timer:
        turn = int((conversation.context or {}).get("turn", 0))
        payload: dict[str, Any] = {"timer": effect.timer.value}
        if effect.timer in (TimerKind.IDLE_REMINDER, TimerKind.IDLE_ABANDON):
            payload["turn"] = turn
            key = f"conv:{conversation.id}:{effect.timer.value}:turn:{turn}"
        else:
            key = f"conv:{conversation.id}:{effect.timer.value}:ticket:{ticket.id if ticket else 0}:{turn}"
        # Every dialogue timer ends in a message to the client, so none of them fires at night.
        due = self.quiet_hours.defer(now + effect.after, client.timezone or self.settings.timezone)
        return followups.Timer(DIALOGUE_TIMEOUT, conversation.id, due, key, payload)

    def render(self, say: Say, conversation: Conversation, ticket: Ticket | None) -> OutboundMessage:
        """Fill a text key with its parameters and the ticket's, in the conversation's language."""
        lang = conversation.language
        params: dict[str, Any] = {}
        if ticket is not None:
            promise = self.policies.sla[ticket.priority].first_response
            params.update(
                ticket_no=ticket.number,
                category=self.texts.get(f"category.{ticket.category}", lang),
                first_response=format_duration(promise, lang),
            )
        params.update(say.params)
        return OutboundMessage(
            text=self.texts.get(say.key, lang, **params), buttons=say.buttons, kind=kind_of_text(say.key)
        )

    async def _say(
        self,
        session: AsyncSession,
        conversation: Conversation,
        result: ReceiveResult,
        message: OutboundMessage,
        now: datetime,
    ) -> None:
        identity = await loaded(session, ChannelIdentity, conversation.identity_id)
        if identity is not None and not identity.reachable:
            # The client blocked the bot or left: the turn is recorded, nothing is sent.
            log.info("conversation %s: client unreachable, reply not sent", conversation.id)
            return
        caps = self.registry.capabilities(conversation.channel)
        lang = conversation.language
        shown = degrade(
            message, caps, lambda options: self.texts.get("options.reply_with_number", lang, options=options)
        )
        await self.send_to_client(session, conversation, shown, now, result=result)

    async def send_to_client(
        self,
        session: AsyncSession,
        conversation: Conversation,
        message: OutboundMessage,
        now: datetime,
        *,
        result: ReceiveResult | None = None,
        author_user_id: int | None = None,
    ) -> Outgoing:
        """Queue an outbound message for the transcript and the outbox; written when the turn's transaction ends."""
        ref = ConversationRef.from_json(conversation.ref)
        in_reply_to = result.message_id if result is not None else None
        outgoing = outbox.queue(
            session, Outgoing(conversation.id, ref, message, now, author_user_id, in_reply_to=in_reply_to)
        )
        if result is not None:
            result.replies.append(message)
            result.outgoing.append(outgoing)
        return outgoing
