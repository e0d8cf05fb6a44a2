"""Reps' actions on a conversation and its ticket: claim, release, reply, note, transfer, resolve, session ends.

One module (a little over 400 lines) because every action goes through the same rule of who may act on a
conversation (`_may_take`) and the same handover to the channel afterwards (`_after_handover`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import live
from core.channel import HandoverKind, RepInfo
from core.conversations import (
    locked_conversation,
)
from core.db.models import (
    Client,
    Conversation,
    Department,
    Message,
    OutboxMessage,
    Ticket,
    TicketEvent,
    User,
)
from core.dialogue.machine import accepts
from core.dialogue.model import (
    Event,
    EventKind,
    Say,
    State,
)
from core.engine.base import IDLE_STATES, ReceiveResult, conversation_of, log
from core.engine.timers import EngineTimers
from core.errors import InvalidInput, KefuError, NotFound
from core.messages import (
    ConversationRef,
    MessageKind,
    OutboundMessage,
)
from core.outbox import UNDELIVERED
from core.tickets.lifecycle import TicketStatus, TransitionRequest
from core.tickets.takeover import TakenByOther, ensure_not_taken_by_other


class EngineReps(EngineTimers):
    """What reps do to a conversation and its ticket."""

    async def resolve(
        self, conversation_id: int, solution: str, actor: str, *, ticket_id: int | None = None
    ) -> ReceiveResult:
        """Resolve the conversation's ticket (or the named one of its tickets) and tell the client the solution.

        The conversation's own ticket goes through the dialogue: the solution, then the satisfaction prompt.
        A ticket the client has moved on from ("还有个事…") becomes the conversation's issue again when the
        conversation is idle, so the rating follows as usual; while another issue is under way it is resolved
        at the desk and the client is told by message, without interrupting that issue.
        """
        if not solution.strip():
            raise InvalidInput("a ticket cannot be resolved without a solution text")
        event = Event(EventKind.RESOLVE, actor=actor, data={"solution": solution})
        if ticket_id is None:
            result = await self.handle_event(conversation_id, event)
        else:
            result, told_aside = await self._resolve_ticket(conversation_id, ticket_id, event, now=self.clock.now())
            if told_aside:
                # The client is in the middle of another issue: the channel's session stays as it is.
                await self.dispatcher.deliver_conversation(conversation_id)
                return result
        await self.end_channel_session(conversation_id, HandoverKind.RESOLVE)
        return result

    async def _resolve_ticket(
        self, conversation_id: int, ticket_id: int, event: Event, *, now: datetime
    ) -> tuple[ReceiveResult, bool]:
        """Resolve one of the conversation's tickets; True when the client was told aside, by message."""
        solution = str(event.data["solution"])
        result = ReceiveResult("accepted", conversation_id)
        async with self._turn() as session:
            conversation = await locked_conversation(session, conversation_id)
            ticket = await session.get(Ticket, ticket_id)
            if ticket is None or ticket.conversation_id != conversation.id:
                raise NotFound(f"conversation {conversation_id} has no ticket {ticket_id}")
            if conversation.ticket_id is None and State(conversation.state) in IDLE_STATES:
                conversation.ticket_id = ticket.id
                conversation.state = State.TICKET_OPEN.value
                conversation.category = ticket.category
            if conversation.ticket_id == ticket.id:
                client = await session.get(Client, conversation.client_id)
                assert client is not None
                await self._step_and_apply(session, conversation, client, event, result, now)
                aside = False
            else:
                request = TransitionRequest(TicketStatus.RESOLVED, event.actor or "bot", solution=solution)
                await self.desk.move(session, ticket, request, now)
                told = self.render(Say("ticket.resolved", {"solution": solution}), conversation, ticket)
                await self._say(session, conversation, result, told, now)
                aside = True
        if not aside:
            await self.dispatcher.deliver_conversation(conversation_id)
        return result, aside
        return result

    async def claim(self, conversation_id: int, user_id: int) -> ReceiveResult:
        """A rep takes the conversation: atomic under its row lock; the same rep again changes nothing."""
        result = ReceiveResult("accepted", conversation_id)
        async with self._turn() as session:
            conversation = await locked_conversation(session, conversation_id)
            rep = await self._rep(session, user_id)
            if not await self._may_take(session, conversation, user_id):
                return result
            await self._claim_in(session, conversation, rep, result, self.clock.now())
        # The notice of who serves the client goes out before a channel may hand the session elsewhere.
        await self.dispatcher.deliver_conversation(conversation_id)
        await self._after_handover(conversation, HandoverKind.CLAIM, rep)
        return result

    async def release(self, conversation_id: int, user_id: int, *, force: bool = False) -> ReceiveResult:
        """Back to the bot; only the holder may release unless forced (a supervisor)."""
        result = ReceiveResult("accepted", conversation_id)
        async with self._turn() as session:
            conversation = await locked_conversation(session, conversation_id)
            await self._rep(session, user_id)
            if not force:
                await self._may_take(session, conversation, user_id)
            client = await self._client(session, conversation)
            event = Event(EventKind.REP_RELEASE, actor=f"user:{user_id}", data={"user_id": user_id})
            await self._step_and_apply(session, conversation, client, event, result, self.clock.now())
            self._stage(session, conversation, "released", {"user_id": user_id})
        await self.dispatcher.deliver_conversation(conversation_id)
        await self._after_handover(conversation, HandoverKind.RELEASE, None)
        return result

    async def rep_reply(
        self, conversation_id: int, user_id: int, text: str, *, await_client: bool = False
    ) -> ReceiveResult:
        """A rep writes to the client on the client's own channel.

        The first-response clock stops when the reply reaches the client (the outbox records it), not here.
        Nobody holding the conversation, the reply claims it first, so the bot falls silent.
        """
        if not text.strip():
            raise InvalidInput("an empty reply cannot be sent")
        now = self.clock.now()
        result = ReceiveResult("accepted", conversation_id)
        claimed: RepInfo | None = None
        async with self._turn() as session:
            conversation = await locked_conversation(session, conversation_id)
            if self.registry.find(conversation.channel) is None:
                # A phone call's ticket (or a channel no longer configured): nothing could carry the reply.
                raise InvalidInput(f"no reply can be sent on channel {conversation.channel}: contact the client there")
            rep = await self._rep(session, user_id)
            free = await self._may_take(session, conversation, user_id)
            if free and accepts(State(conversation.state), EventKind.REP_CLAIM):
                await self._claim_in(session, conversation, rep, ReceiveResult("accepted"), now)
                claimed = rep
            await self.send_to_client(
                session,
                conversation,
                OutboundMessage(text, kind=MessageKind.REP_REPLY.value),
                now,
                result=result,
                author_user_id=user_id,
            )
            ticket = await session.get(Ticket, conversation.ticket_id) if conversation.ticket_id else None
            if ticket is not None and await_client:
                await self.desk.pause_sla(session, ticket, f"user:{user_id}", now)
        await self.dispatcher.deliver_conversation(conversation_id)
        if claimed is not None:
            await self._after_handover(conversation, HandoverKind.CLAIM, claimed)
        return result

    async def add_note(self, conversation_id: int, user_id: int, text: str, *, ticket_id: int | None = None) -> int:
        """An internal note on the conversation's ticket (or the named one); never sent to the client."""
        if not text.strip():
            raise InvalidInput("an empty note cannot be saved")
        now = self.clock.now()
        async with self.db.transaction() as session:
            conversation = await locked_conversation(session, conversation_id)
            await self._rep(session, user_id)
            ticket = await session.get(Ticket, ticket_id or conversation.ticket_id or 0)
            if ticket is None or ticket.conversation_id != conversation.id:
                raise InvalidInput("this conversation has no ticket to note on")
            note = TicketEvent(
                ticket_id=ticket.id,
                actor=f"user:{user_id}",
                kind="note",
                before=ticket.status,
                after=ticket.status,
                data={"text": text},
                created_at=now,
            )
            session.add(note)
            await session.flush()
            self._stage(session, conversation, "note", {"user_id": user_id, "text": text, "event_id": note.id}, ticket)
            return note.id

    async def transfer(
        self,
        conversation_id: int,
        user_id: int,
        *,
        department_code: str | None = None,
        to_user_id: int | None = None,
    ) -> ReceiveResult:
        """Hand the ticket to a department (it waits there for a claim) or straight to a named rep."""
        if (department_code is None) == (to_user_id is None):
            raise InvalidInput("transfer to either a department or a rep")
        now = self.clock.now()
        actor = f"user:{user_id}"
        result = ReceiveResult("accepted", conversation_id)
        async with self._turn() as session:
            conversation = await locked_conversation(session, conversation_id)
            await self._rep(session, user_id)
            await self._may_take(session, conversation, user_id)
            ticket = await session.get(Ticket, conversation.ticket_id) if conversation.ticket_id else None
            if ticket is None:
                raise InvalidInput("this conversation has no ticket to transfer")
            client = await self._client(session, conversation)
            data: dict[str, Any]
            if department_code is not None:
                department = (
                    await session.execute(select(Department).where(Department.code == department_code))
                ).scalar_one_or_none()
                if department is None:
                    raise NotFound(f"no department {department_code}")
                before = ticket.department_id
                ticket.department_id = department.id
                ticket.assignee_id = None
                assignee = await self.desk.assign(session, ticket)
                if department.head_user_id is not None:
                    params = {"category": self.texts.get(f"category.{ticket.category}", self.settings.language)}
                    head = department.head_user_id
                    await self.desk.notify(session, ticket, "transferred", now, user_id=head, params=params)
                data = {"department_name": department.name}
                record = {"department": [before, department.id], "assignee_id": assignee.id if assignee else None}
                target: RepInfo | None = None
            else:
                rep = await self._rep(session, to_user_id or 0)
                data = {"user_id": rep.user_id, "rep_name": rep.display_name}
                record = {"to_user_id": rep.user_id}
                target = rep
            await self.desk.record(session, ticket, "transferred", actor, now, record)
            event = Event(EventKind.REP_TRANSFER, actor=actor, data=data)
            await self._step_and_apply(session, conversation, client, event, result, now)
            live_data = {"department_code": department_code, "to_user_id": to_user_id}
            self._stage(session, conversation, "transferred", live_data, ticket)
            if target is not None:
                self._stage(
                    session, conversation, "claimed", {"user_id": target.user_id, "user_name": target.display_name}
                )
        await self.dispatcher.deliver_conversation(conversation_id)
        # To a department the client waits for a person: never back with the bot.
        await self._after_handover(conversation, HandoverKind.QUEUE if target is None else HandoverKind.CLAIM, target)
        return result

    async def session_ended_on_channel(self, ref: ConversationRef) -> None:
        """The network ended the client's session with a person (a WeCom 接待人员 closed it): back to the bot."""
        async with self.db.transaction() as session:
            conversation = await conversation_of(session, ref)
        if conversation is None or conversation.holder_user_id is None:
            return
        try:
            await self.release(conversation.id, conversation.holder_user_id, force=True)
        except KefuError as exc:
            log.warning("conversation %s: ended on %s but not released: %s", conversation.id, ref.channel, exc)

    async def record_sent_elsewhere(
        self, ref: ConversationRef, text: str, external_id: str, *, username: str | None = None
    ) -> bool:
        """A person answered the client outside kefu (a WeCom 接待人员 in WeCom's client): kept in the transcript.

        Nothing is sent; a message seen twice (the same network id) is kept once. False when it was not new
        or the client has no conversation in kefu.
        """
        now = self.clock.now()
        async with self.db.transaction() as session:
            conversation = await conversation_of(session, ref)
            if conversation is None:
                return False
            known = await session.scalar(
                select(Message.id).where(
                    Message.channel == ref.channel, Message.account == ref.account, Message.external_id == external_id
                )
            )
            if known is not None:
                return False
            author = (
                await session.scalar(select(User.id).where(User.username == username)) if username is not None else None
            )
            message = Message(
                conversation_id=conversation.id,
                direction="out",
                channel=ref.channel,
                account=ref.account,
                external_id=external_id,
                type="text",
                text=text,
                payload={"sent_elsewhere": True},
                author_user_id=author,
                created_at=now,
            )
            session.add(message)
            await session.flush()
            data = {
                "message_id": message.id,
                "direction": "out",
                "channel": ref.channel,
                "type": "text",
                "text": text,
                "author_user_id": author,
            }
            live.stage(session, live.LiveEvent("message", conversation.id, conversation.ticket_id, data, now))
            return True

    async def end_channel_session(self, conversation_id: int, kind: HandoverKind = HandoverKind.END) -> None:
        """The ticket was resolved or closed: a channel with sessions of its own (WeCom kf) may end its session.

        Only once everything queued for the client went out; a reply still waiting keeps the session open.
        """
        await self.dispatcher.deliver_conversation(conversation_id)
        async with self.db.transaction() as session:
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None:
                return
            waiting = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.conversation_id == conversation_id, OutboxMessage.status.in_(UNDELIVERED))
            )
        if waiting:
            log.info("conversation %s: %s replies still to deliver; channel session kept", conversation_id, waiting)
            return
        await self._after_handover(conversation, kind, None)

    async def _claim_in(
        self, session: AsyncSession, conversation: Conversation, rep: RepInfo, result: ReceiveResult, now: datetime
    ) -> None:
        client = await self._client(session, conversation)
        data = {"user_id": rep.user_id, "rep_name": rep.display_name}
        event = Event(EventKind.REP_CLAIM, actor=f"user:{rep.user_id}", data=data)
        await self._step_and_apply(session, conversation, client, event, result, now)
        self._stage(session, conversation, "claimed", {"user_id": rep.user_id, "user_name": rep.display_name})

    async def _may_take(self, session: AsyncSession, conversation: Conversation, user_id: int) -> bool:
        """True when nobody has taken the conversation; False when this rep already has; raises for another rep."""
        holder = conversation.holder_user_id
        if holder is None:
            return True
        if holder == user_id:
            return False
        other = await session.get(User, holder)
        raise TakenByOther(holder, other.display_name if other else str(holder))

    async def _rep(self, session: AsyncSession, user_id: int) -> RepInfo:
        user = await session.get(User, user_id)
        if user is None or not user.active:
            raise NotFound(f"user {user_id} does not exist")
        return RepInfo(user.id, user.username, user.display_name)

    async def _client(self, session: AsyncSession, conversation: Conversation) -> Client:
        client = await session.get(Client, conversation.client_id)
        assert client is not None
        return client

    async def _after_handover(self, conversation: Conversation, kind: HandoverKind, rep: RepInfo | None) -> None:
        """Tell channels that route to people themselves (WeCom kf); a failure is recorded, the claim stands."""
        channel = self.registry.find(conversation.channel)
        handover = getattr(channel, "handover", None)
        if handover is None:
            return
        ref = ConversationRef.from_json(conversation.ref)
        try:
            await handover(ref, kind, rep)
        except Exception as exc:
            log.warning(
                "conversation %s: handover (%s) on %s failed: %s", conversation.id, kind, conversation.channel, exc
            )
            if conversation.ticket_id is None:
                return
            async with self.db.transaction() as session:
                ticket = await session.get(Ticket, conversation.ticket_id)
                if ticket is not None:
                    data = {"to_human": kind.to_human, "kind": kind.value, "error": str(exc)[:500]}
                    await self.desk.record(session, ticket, "handover_failed", "bot", self.clock.now(), data)

    async def move_ticket(
        self, number: str, request: TransitionRequest, *, by: int | None = None, override: bool = False
    ) -> str:
        """Move a ticket by its number; resolving goes through the dialogue, so the client hears it.

        `by` is the rep asking (None: the CLI); while another rep has taken the conversation they get TakenByOther
        unless `override` (supervisors and admins). Closing ends the client's channel session where it has one.
        """
        async with self.db.transaction() as session:
            ticket = await ticket_by_number(session, number)
            # The conversation first, as turns lock it: a close that releases it cannot deadlock them.
            conversation = await session.get(Conversation, ticket.conversation_id, with_for_update=True)
            linked = conversation is not None and conversation.ticket_id == ticket.id
            if by is not None and conversation is not None and linked:
                await ensure_not_taken_by_other(session, conversation, by, override=override)
            moved_here = request.to is not TicketStatus.RESOLVED or conversation is None
            if moved_here:
                await self.desk.move(session, ticket, request, self.clock.now())
                status = ticket.status
        if moved_here:
            if request.to is TicketStatus.CLOSED and linked and conversation is not None:
                # A closed ticket ends the client's session where the channel has sessions (WeCom kf).
                await self.end_channel_session(conversation.id)
            return status
        assert conversation is not None
        # Resolving tells the client, whether or not the client has since moved on to another issue.
        await self.resolve(conversation.id, request.solution or "", request.actor, ticket_id=ticket.id)
        return TicketStatus.RESOLVED.value


async def ticket_by_number(session: AsyncSession, number: str) -> Ticket:
    """The ticket numbered `number` (KF-…), or NotFound."""
    ticket = (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one_or_none()
    if ticket is None:
        raise NotFound(f"no ticket {number}")
    return ticket
