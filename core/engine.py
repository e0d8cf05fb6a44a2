"""The turn engine: dedupe, serialize per conversation, step the dialogue, persist in one transaction, deliver."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import followups, live, outbox
from core.channel import ChannelRegistry, HandoverKind, RepInfo, degrade
from core.clock import Clock, as_utc
from core.conversations import (
    DuplicateMessage,
    find_or_create_conversation,
    find_or_create_identity,
    lock_known_sender,
    locked_conversation,
    record_classified,
    store_inbound,
)
from core.db.models import (
    ChannelIdentity,
    Client,
    Conversation,
    Department,
    FollowUp,
    Message,
    OutboxMessage,
    Ticket,
    TicketEvent,
    User,
)
from core.db.session import Database
from core.dialogue.actions import recognize
from core.dialogue.acts import NO_ACTS, Act, ActLexicon
from core.dialogue.classifier import KeywordClassifier, normalize
from core.dialogue.entities import find_ticket_numbers
from core.dialogue.forms import Forms
from core.dialogue.machine import InvalidTransition, accepts, step
from core.dialogue.model import (
    CATEGORY_PREFIX,
    DRAFT_STATES,
    RATE_PREFIX,
    Classified,
    Deps,
    Effect,
    Event,
    EventKind,
    LeaveTicket,
    OpenTicket,
    Outcome,
    Say,
    Schedule,
    SetHolder,
    Snapshot,
    State,
    TicketNote,
    TicketView,
    TimerKind,
)
from core.errors import InvalidInput, KefuError, NotFound
from core.lifecycle import OPEN_STATUSES, TicketStatus, TransitionRequest
from core.messages import (
    Button,
    ConversationRef,
    InboundMessage,
    MessageKind,
    MessageType,
    OutboundMessage,
    kind_of_text,
)
from core.outbox import UNDELIVERED, OutboxDispatcher, Outgoing
from core.quiet_hours import QuietHours
from core.sanitize import clean_inbound
from core.settings import Settings
from core.takeover import HeldByOther
from core.texts import Texts
from core.ticketing import TicketDesk
from core.tickets import TicketPolicies, format_duration

log = logging.getLogger(__name__)
E_TRANSFER = EventKind.REP_TRANSFER

DIALOGUE_TIMEOUT = "dialogue_timeout"
# Timer turns run in a batch between two yields to the event loop (dispatch_many).
_YIELD_EVERY = 20
START_STATES = frozenset({State.NEW, State.CLOSED, State.GREETED, State.CLASSIFYING})
# No issue under way: a ticket resolved now can be the conversation's issue again.
IDLE_STATES = frozenset({State.NEW, State.CLOSED})
# Where picking a category (a button, a WeChat menu click) starts or restarts the details form.
CATEGORY_STATES = START_STATES | {State.COLLECTING, State.CONFIRMING}


@dataclass(slots=True)
class ReceiveResult:
    """What became of one inbound message; `replies` are what the client will be sent, in order."""

    status: Literal["accepted", "duplicate"]
    conversation_id: int | None = None
    message_id: int | None = None
    replies: list[OutboundMessage] = field(default_factory=list)
    outgoing: list[Outgoing] = field(default_factory=list)
    unparked: int = 0
    # The conversation had replies not yet sent before this turn (pending, being sent, or parked).
    earlier_unsent: bool = False

    @property
    def outbox_ids(self) -> list[int]:
        """Ids of the queued replies' outbox rows (known once the turn has committed)."""
        return [o.outbox_id for o in self.outgoing if o.outbox_id is not None]


class ClassifierHolder:
    """The classifier in force; replaced whole when the rules change, so readers never see a half-built one."""

    def __init__(self, classifier: KeywordClassifier) -> None:
        self.current = classifier


class Engine:
    """Every event from clients, reps and timers goes through here; every reply leaves through the outbox."""

    def __init__(
        self,
        *,
        db: Database,
        registry: ChannelRegistry,
        classifier: ClassifierHolder,
        forms: Forms,
        texts: Texts,
        policies: TicketPolicies,
        settings: Settings,
        clock: Clock,
        dispatcher: OutboxDispatcher,
        desk: TicketDesk,
    ) -> None:
        self.db = db
        self.registry = registry
        self.classifier = classifier
        self.forms = forms
        self.texts = texts
        self.policies = policies
        self.settings = settings
        self.clock = clock
        self.dispatcher = dispatcher
        self.desk = desk
        dialogue = settings.dialogue
        self.quiet_hours = QuietHours.parse(dialogue.quiet_hours_start, dialogue.quiet_hours_end)
        # Told the duration of each inbound turn (metrics); None costs nothing.
        self.on_turn: Callable[[str, float], None] | None = None
        # Per-conversation locks in this process avoid needless waits on the database's own lock.
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}
        self.lexicon = ActLexicon.load(settings.config_dir / "acts.yaml", dialogue)
        self._zone = ZoneInfo(settings.timezone)

    def _deps(self) -> Deps:
        return Deps(
            self.classifier.current,
            self.forms,
            self.texts,
            self.settings.dialogue,
            self.settings.tickets.low_score,
            lexicon=self.lexicon,
            today=self.clock.now().astimezone(self._zone).date(),
        )

    def _lock(self, key: tuple[str, str, str]) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            if len(self._locks) > 10_000:
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            lock = self._locks[key] = asyncio.Lock()
        return lock

    # ------------------------------------------------------------ client input

    async def receive(
        self,
        msg: InboundMessage,
        *,
        deliver: bool = True,
        hold: timedelta | None = None,
        answer: Callable[[ReceiveResult], bool] | None = None,
        before: Callable[[AsyncSession], Awaitable[None]] | None = None,
    ) -> ReceiveResult:
        """Handle one inbound message exactly once: a repeated external id is stored and answered once.

        `hold` keeps this turn's replies from the dispatcher for that long, for a webhook that may carry
        them in its own response (then `answered_in_response`) or hand them over (`release`).
        `answer` is asked once the turn is done, before it commits: True means the caller's response
        carries the replies, so they are written as sent in this same transaction.
        `before` runs first in the turn's transaction: the channel's own record of the message (WeChat's
        reply window), committed with the turn and so seen by every send that follows it.
        """
        msg = clean_inbound(msg)
        key = (msg.ref.channel, msg.ref.account, msg.ref.external_user_id)
        started = time.perf_counter()
        async with self._lock(key):
            try:
                async with self._turn() as session:
                    if before is not None:
                        await before(session)
                    result = await self._receive_in(session, msg)
                    if hold is not None:
                        for outgoing in result.outgoing:
                            outgoing.hold_until = self.clock.now() + hold
                    if answer is not None and result.outgoing and answer(result):
                        for outgoing in result.outgoing:
                            outgoing.answered = True
            except DuplicateMessage:
                log.info("duplicate %s message %s ignored", msg.channel, msg.external_id)
                return ReceiveResult("duplicate")
        if self.on_turn is not None:
            self.on_turn(msg.ref.channel, time.perf_counter() - started)
        if deliver and result.conversation_id is not None:
            await self.dispatcher.deliver_conversation(result.conversation_id)
        return result

    async def _receive_in(self, session: AsyncSession, msg: InboundMessage) -> ReceiveResult:
        now = self.clock.now()
        known = await lock_known_sender(session, msg)
        if known is None:
            client, identity = await find_or_create_identity(session, msg, now)
            language = msg.language if msg.language in self.texts.languages else self.settings.language
            conversation = await find_or_create_conversation(session, client, identity, msg, now, language)
            # First contact, or a race with another process's: look for parked replies all the same.
            unsent = True
        else:
            client, identity, conversation, unsent = known
            ref = msg.ref.to_json()
            if conversation.ref != ref:
                conversation.ref = ref
        stored_id = await store_inbound(session, conversation, msg, now, self.settings.max_message_chars)
        data = {
            "message_id": stored_id,
            "direction": "in",
            "channel": msg.ref.channel,
            "type": msg.type.value,
            "text": msg.text[: self.settings.max_message_chars],
            "author_user_id": None,
        }
        live.stage(session, live.LiveEvent("message", conversation.id, conversation.ticket_id, data, now))
        conversation.last_inbound_at = now
        if msg.display_name and identity.display_name != msg.display_name:
            identity.display_name = msg.display_name
        if msg.type is MessageType.EVENT and msg.payload.get("event") == "unsubscribe":
            # The client left (unfollowed, blocked the bot): keep the record, stop writing to them.
            identity.reachable = False
            return ReceiveResult("accepted", conversation.id, stored_id)
        identity.reachable = True
        # Replies parked while the network's window was closed can go now, ahead of this turn's.
        unparked = 0
        if unsent:
            # The UPDATE touches only outbox rows: flushing the conversation first would cost an UPDATE more.
            with session.no_autoflush:
                unparked = await outbox.unpark(session, conversation.id, now)
        if msg.language in self.texts.languages and msg.language != conversation.language:
            conversation.language = msg.language
        result = ReceiveResult("accepted", conversation.id, stored_id, unparked=unparked, earlier_unsent=unsent)

        if conversation.ticket_id is not None:
            ticket = await session.get(Ticket, conversation.ticket_id)
            if ticket is not None and ticket.sla_paused_at is not None:
                await self.desk.resume_sla(session, ticket, "client", now)
        problem = self._screen(msg)
        if problem is not None:
            log.info("%s message %s not processed: %s", msg.channel, msg.external_id, problem)
            await self._say(session, conversation, result, self.render(Say(problem), conversation, None), now)
            return result
        event = self._interpret(conversation, msg, stored_id)
        if event is None:
            return result
        context = dict(conversation.context or {})
        context["turn"] = int(context.get("turn", 0)) + 1
        if (msg.attachments and conversation.ticket_id is None) or State(conversation.state) in START_STATES:
            evidence = list(context.get("evidence", []))
            evidence.extend({**a.to_json(), "message_id": stored_id} for a in msg.attachments)
            if evidence:
                context["evidence"] = evidence
        conversation.context = context
        outcome = await self._step_and_apply(session, conversation, client, event, result, now, message_id=stored_id)
        for effect in outcome.effects:
            if isinstance(effect, Classified):
                await record_classified(session, stored_id, msg, effect.record())
        await self._next_issue(session, conversation, client, outcome, result, now, stored_id)
        return result

    async def _next_issue(
        self,
        session: AsyncSession,
        conversation: Conversation,
        client: Client,
        outcome: Outcome,
        result: ReceiveResult,
        now: datetime,
        message_id: int,
    ) -> None:
        """A second issue of the first message ("…，另外发票能开吗？") starts once the first one's ticket is open."""
        context = dict(conversation.context or {})
        second = context.pop("next_issue", None)
        if second is None or outcome.state in DRAFT_STATES:
            return
        conversation.context = context
        if any(isinstance(effect, OpenTicket) for effect in outcome.effects):
            told = Event(EventKind.MESSAGE, text=str(second), data={"message_id": message_id})
            await self._step_and_apply(session, conversation, client, told, result, now, message_id=message_id)

    def _screen(self, msg: InboundMessage) -> str | None:
        """Input the dialogue should not see: answered politely, stored all the same."""
        if msg.type is MessageType.UNKNOWN:
            return "input.unsupported"
        if msg.type is MessageType.TEXT and not msg.text.strip() and not msg.button_id:
            return "input.empty"
        if len(msg.text) > self.settings.max_message_chars:
            return "input.too_long"
        return None

    def _interpret(self, conversation: Conversation, msg: InboundMessage, message_id: int) -> Event | None:
        """Turn a stored message into a machine event, resolving numbered and labelled answers to buttons."""
        pending = [Button.from_json(b) for b in (conversation.context or {}).get("pending", [])]
        state = State(conversation.state)
        button: str | None = None
        text = msg.text
        if msg.button_id:
            label = next((b.label for b in pending if b.id == msg.button_id), None)
            is_category = msg.button_id.startswith(CATEGORY_PREFIX)
            if label is not None or (is_category and state in CATEGORY_STATES):
                button = msg.button_id
            elif is_category and self.texts.has(f"category.{msg.button_id[len(CATEGORY_PREFIX) :]}"):
                # A menu click after the ticket is open is just something the client said.
                text = text or self.texts.get(
                    f"category.{msg.button_id[len(CATEGORY_PREFIX) :]}", conversation.language
                )
            else:
                text = text or msg.button_id
        elif text.strip():
            answer = normalize(text).strip(" .。")
            if answer.isdigit() and 1 <= int(answer) <= len(pending):
                button = pending[int(answer) - 1].id
            else:
                button = next((b.id for b in pending if normalize(b.label) == answer), None)
        elif msg.type is MessageType.EVENT and msg.payload.get("event") != "subscribe":
            return None
        if button is not None:
            if button.startswith(RATE_PREFIX) and accepts(state, EventKind.FEEDBACK):
                rating = int(button[len(RATE_PREFIX) :])
                return Event(EventKind.FEEDBACK, text=text, button=button, data={"rating": rating})
            return Event(EventKind.BUTTON, text=text, button=button, attachments=msg.attachments)
        data: dict[str, Any] = {"message_id": message_id}
        if msg.payload.get("new_thread"):
            # The channel knows the message starts a thread of its own (a new mail, not a reply).
            data["new_thread"] = True
        return Event(EventKind.MESSAGE, text=text, attachments=msg.attachments, data=data)

    # ------------------------------------------------------------ other events

    async def dispatch(
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

    async def dispatch_many(
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
                if n % _YIELD_EVERY == 0:
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
        await self.dispatch_many(
            [(f.target_id, Event(EventKind.TIMEOUT, actor="scheduler", data=dict(f.payload))) for f in due],
            before=lambda session: followups.complete(session, due, self.clock.now()),
        )

    def _timer_is_current(self, conversation: Conversation, event: Event) -> bool:
        turn = event.data.get("turn")
        return turn is None or int(turn) == int((conversation.context or {}).get("turn", 0))

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
            result = await self.dispatch(conversation_id, event)
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

    async def fire_followup(self, followup: FollowUp) -> None:
        """Handler of dialogue follow-ups: a TIMEOUT event for the conversation."""
        data = dict(followup.payload)
        await self.dispatch(
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

    # ------------------------------------------------------------ reps taking over

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
            conversation = await _conversation_of(session, ref)
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
            conversation = await _conversation_of(session, ref)
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
        """True when nobody holds the conversation; False when this rep already does; raises for another rep."""
        holder = conversation.holder_user_id
        if holder is None:
            return True
        if holder == user_id:
            return False
        other = await session.get(User, holder)
        raise HeldByOther(holder, other.display_name if other else str(holder))

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
        ticket = await session.get(Ticket, conversation.ticket_id) if conversation.ticket_id else None
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
                ticket = await session.get(Ticket, conversation.ticket_id)
                if ticket is not None:
                    snapshot = replace(snapshot, ticket=TicketView(ticket.number, ticket.category, ticket.status))
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
            await self._escalated(session, conversation, "handoff", now)
        return outcome

    async def _ticket_view(
        self, session: AsyncSession, conversation: Conversation, client: Client, text: str
    ) -> TicketView | None:
        """The ticket a client asks about: the one named by number (his own), the conversation's, or his latest."""
        ticket: Ticket | None = None
        named = find_ticket_numbers(text)
        if named:
            number = named[0]
            query = select(Ticket).where(Ticket.number == number, Ticket.client_id == client.id)
            ticket = (await session.execute(query)).scalar_one_or_none()
        if ticket is None and conversation.ticket_id is not None:
            ticket = await session.get(Ticket, conversation.ticket_id)
        if ticket is None:
            query = select(Ticket).where(Ticket.client_id == client.id).order_by(Ticket.id.desc()).limit(1)
            ticket = (await session.execute(query)).scalar_one_or_none()
        if ticket is None:
            return None
        holder = None
        holder_id = conversation.holder_user_id if conversation.ticket_id == ticket.id else None
        if holder_id or ticket.assignee_id:
            user = await session.get(User, holder_id or ticket.assignee_id)
            holder = user.display_name or user.username if user is not None else None
        status = TicketStatus(ticket.status)
        due = ticket.first_response_due if ticket.first_response_at is None else ticket.resolution_due
        deadline = None
        if due is not None and status in OPEN_STATUSES:
            deadline = as_utc(due).astimezone(self._zone).strftime("%m-%d %H:%M")
        return TicketView(ticket.number, ticket.category, ticket.status, holder, deadline)

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
        ticket = await session.get(Ticket, conversation.ticket_id) if conversation.ticket_id else None
        actor = event.actor or ("client" if event.kind in (EventKind.MESSAGE, EventKind.BUTTON) else "bot")
        effects: Sequence[Effect] = outcome.effects
        spoken: list[OutboundMessage] = []
        timers: list[followups.Timer] = []
        for effect in effects:
            if isinstance(effect, OpenTicket):
                ticket = await self._open_ticket(session, conversation, client, effect, now)
                if effect.category == "complaint" and client.tier == "A" and not effect.handoff:
                    await self._escalated(session, conversation, "tier_a_complaint", now)
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
            await followups.schedule_many(session, timers, now)
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
        identity = await session.get(ChannelIdentity, conversation.identity_id)
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

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[AsyncSession]:
        """A transaction whose queued replies are written, all at once, before it commits."""
        async with self.db.transaction() as session:
            yield session
            await outbox.write_queued(session)


def combine(messages: Sequence[OutboundMessage]) -> OutboundMessage:
    """One turn's texts as one message (one bubble, one WeChat passive reply); the last one's buttons count."""
    if len(messages) == 1:
        return messages[0]
    return OutboundMessage(
        text="\n".join(m.text for m in messages if m.text),
        buttons=messages[-1].buttons,
        attachments=tuple(a for m in messages for a in m.attachments),
        # The first specific kind (a resolution notice before its satisfaction prompt) decides the form.
        kind=next((m.kind for m in messages if m.kind != MessageKind.DEFAULT), MessageKind.DEFAULT.value),
    )


async def _conversation_of(session: AsyncSession, ref: ConversationRef) -> Conversation | None:
    """The conversation of the client at `ref`, if kefu has one (one per channel identity)."""
    return (
        await session.execute(
            select(Conversation)
            .join(ChannelIdentity, ChannelIdentity.id == Conversation.identity_id)
            .where(
                ChannelIdentity.channel == ref.channel,
                ChannelIdentity.account == ref.account,
                ChannelIdentity.external_id == ref.external_user_id,
            )
        )
    ).scalar_one_or_none()
