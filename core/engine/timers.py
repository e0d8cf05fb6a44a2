"""Events that are not client messages: timers that come due and other dispatched events, alone or in batches."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import followups
from core.clock import as_utc
from core.conversations import (
    locked_conversation,
)
from core.db.models import (
    ChannelIdentity,
    Client,
    Conversation,
    FollowUp,
    Ticket,
)
from core.dialogue.machine import InvalidTransition
from core.dialogue.model import (
    Event,
    EventKind,
)
from core.engine.base import DIALOGUE_TIMEOUT, YIELD_EVERY, ReceiveResult, log
from core.engine.effects import EngineEffects


class EngineTimers(EngineEffects):
    """Takes timers and other non-message events through their turns."""

    async def handle_event(
        self,
        conversation_id: int,
        event: Event,
        *,
        deliver: bool = True,
        before: Callable[[AsyncSession], Awaitable[None]] | None = None,
    ) -> ReceiveResult:
        """Feed a rep action or a timer into a conversation; raises InvalidTransition when not allowed.

        `before` runs in the turn's transaction once the conversation is locked (a timer marks itself done).
        """
        async with self._turn() as session:
            conversation = await locked_conversation(session, conversation_id)
            if before is not None:
                await before(session)
            if event.kind is EventKind.TIMEOUT and not self._timer_is_current(conversation, event):
                return ReceiveResult("accepted", conversation_id)
            client = await session.get(Client, conversation.client_id)
            assert client is not None
            result = ReceiveResult("accepted", conversation_id)
            await self._step_and_apply(session, conversation, client, event, result, self.clock.now())
        if deliver:
            await self.dispatcher.deliver_conversation(conversation_id)
        return result

    async def handle_events(
        self,
        items: Sequence[tuple[int, Event]],
        *,
        deliver: bool = True,
        before: Callable[[AsyncSession], Awaitable[None]] | None = None,
    ) -> int:
        """Feed many events (timers, mostly) in one transaction, then deliver their replies together.

        Conversations are locked in id order, so two batches never deadlock. An event the table does not
        accept is skipped with a log line; a database error fails the whole batch (the caller retries).
        """
        now = self.clock.now()
        touched: list[int] = []
        async with self._turn() as session:
            ids = sorted({conversation_id for conversation_id, _ in items})
            rows = await session.execute(
                select(Conversation)
                .where(Conversation.id.in_(ids))
                .order_by(Conversation.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            conversations = {c.id: c for c in rows.scalars()}
            if before is not None:
                await before(session)
            client_ids = {c.client_id for c in conversations.values()}
            clients = {
                c.id: c for c in (await session.execute(select(Client).where(Client.id.in_(client_ids)))).scalars()
            }
            # Loaded into the session's identity map, so each turn's identity (the replies' reachability
            # check) and ticket lookups cost no query; a query there would also flush each conversation on its
            # own (autoflush) instead of all in one UPDATE at commit. The map holds rows weakly: `held` keeps them.
            identity_ids = [c.identity_id for c in conversations.values()]
            held: list[object] = []
            if identity_ids:
                query = select(ChannelIdentity).where(ChannelIdentity.id.in_(identity_ids))
                held.extend((await session.execute(query)).scalars())
            ticket_ids = [c.ticket_id for c in conversations.values() if c.ticket_id is not None]
            if ticket_ids:
                held.extend((await session.execute(select(Ticket).where(Ticket.id.in_(ticket_ids)))).scalars())
            for n, (conversation_id, event) in enumerate(items, 1):
                if n % YIELD_EVERY == 0:
                    # A batch's turns need no I/O between them: let live turns in now and then, or they wait for all.
                    await asyncio.sleep(0)
                conversation = conversations.get(conversation_id)
                if conversation is None:
                    continue
                if event.kind is EventKind.TIMEOUT and not self._timer_is_current(conversation, event):
                    continue
                result = ReceiveResult("accepted", conversation_id)
                try:
                    client = clients[conversation.client_id]
                    await self._step_and_apply(session, conversation, client, event, result, now)
                except InvalidTransition as exc:
                    log.info("conversation %s: %s", conversation_id, exc)
                    continue
                touched.append(conversation_id)
        if deliver and touched:
            await self.dispatcher.deliver_many(list(dict.fromkeys(touched)))
        return len(touched)

    async def fire_followups(self, due: Sequence[FollowUp]) -> None:
        """Batch handler of dialogue follow-ups: their turns and their rows marked done in one transaction."""
        await self.handle_events(
            [(f.target_id, Event(EventKind.TIMEOUT, actor="scheduler", data=dict(f.payload))) for f in due],
            before=lambda session: followups.complete(session, due, self.clock.now()),
        )

    def _timer_is_current(self, conversation: Conversation, event: Event) -> bool:
        turn = event.data.get("turn")
        return turn is None or int(turn) == int((conversation.context or {}).get("turn", 0))

    async def fire_followup(self, followup: FollowUp) -> None:
        """Handler of dialogue follow-ups: a TIMEOUT event for the conversation."""
        data = dict(followup.payload)
        await self.handle_event(
            followup.target_id,
            Event(EventKind.TIMEOUT, actor="scheduler", data=data),
            before=lambda session: followups.complete(session, [followup], self.clock.now()),
        )

    async def record_dropped_followup(self, session: AsyncSession, followup: FollowUp, now: datetime) -> None:
        """Leave a trace on the ticket when a follow-up was too old to fire."""
        ticket_id = followup.target_id if followup.kind != DIALOGUE_TIMEOUT else None
        if ticket_id is None:
            conversation = await session.get(Conversation, followup.target_id)
            ticket_id = conversation.ticket_id if conversation else None
        ticket = await session.get(Ticket, ticket_id) if ticket_id else None
        if ticket is not None:
            data = {**followup.payload, "followup": followup.kind, "due_at": as_utc(followup.due_at).isoformat()}
            await self.desk.record(session, ticket, "followup_dropped", "scheduler", now, data)

    async def fire_sla(self, followup: FollowUp) -> None:
        async with self.db.transaction() as session:
            await followups.complete(session, [followup], self.clock.now())
            await self.desk.on_sla(session, followup, self.clock.now())

    async def fire_summary_reminder(self, followup: FollowUp) -> None:
        async with self.db.transaction() as session:
            await followups.complete(session, [followup], self.clock.now())
            await self.desk.on_summary_reminder(session, followup, self.clock.now())
