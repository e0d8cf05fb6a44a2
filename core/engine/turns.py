"""Client turns: a message deduplicated, screened, read as an event, stepped, stored with its replies."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core import live, outbox
from core.channel import DELIVER, TurnHooks
from core.clock import as_utc
from core.conversations import (
    DuplicateMessage,
    carry_changes,
    create_first_contact,
    find_or_create_conversation,
    find_or_create_identity,
    lock_known_sender_storing,
    record_classified,
    store_inbound,
)
from core.db.adopted import loaded
from core.db.models import (
    Client,
    Conversation,
    Ticket,
)
from core.dialogue.classifier import normalize
from core.dialogue.machine import accepts
from core.dialogue.model import (
    CATEGORY_PREFIX,
    DRAFT_STATES,
    GAP,
    RATE_PREFIX,
    Classified,
    Event,
    EventKind,
    OpenTicket,
    Outcome,
    Say,
    State,
)
from core.dialogue.written import SWITCH_HAN, written_language
from core.engine.base import CATEGORY_STATES, START_STATES, ReceiveResult, log
from core.engine.effects import EngineEffects
from core.messages import (
    Button,
    InboundMessage,
    MessageType,
)
from core.sanitize import clean_inbound


class EngineTurns(EngineEffects):
    """Takes a client's message through its turn."""

    async def receive(self, msg: InboundMessage, hooks: TurnHooks = DELIVER) -> ReceiveResult:
        """Handle one inbound message exactly once: a repeated external id is stored and answered once.

        `hooks` is what the channel adds to the turn (`core.channel.TurnHooks`): by default the replies are
        delivered once the turn commits; WeChat's passive reply holds them, records the message's reply window
        in the turn's transaction, and may carry the replies in its own HTTP response.
        """
        msg = clean_inbound(msg)
        key = (msg.ref.channel, msg.ref.account, msg.ref.external_user_id)
        started = time.perf_counter()
        async with self._lock(key):
            try:
                async with self._turn() as session:
                    await hooks.before(session)
                    result = await self._receive_in(session, msg)
                    if result.conversation_id is not None:
                        await carry_changes(session, result.conversation_id)
                    if hooks.hold is not None:
                        for outgoing in result.outgoing:
                            outgoing.hold_until = self.clock.now() + hooks.hold
                    if result.outgoing and hooks.answer(result):
                        for outgoing in result.outgoing:
                            outgoing.answered = True
                    elif result.outgoing and hooks.claim and hooks.hold is None and not result.earlier_unsent:
                        # Nothing older to send first: the reply is written claimed, for the send after the commit.
                        result.outgoing[0].claimed = True
            except DuplicateMessage:
                log.info("duplicate %s message %s ignored", msg.channel, msg.external_id)
                return ReceiveResult("duplicate")
        if self.on_turn is not None:
            self.on_turn(msg.ref.channel, time.perf_counter() - started)
        if hooks.deliver and result.conversation_id is not None:
            await self.dispatcher.deliver_turn(result.conversation_id, result.outgoing)
        return result

    async def _receive_in(self, session: AsyncSession, msg: InboundMessage) -> ReceiveResult:
        now = self.clock.now()
        max_chars = self.settings.max_message_chars
        # A known sender's message is stored by the lookup's own statement (PostgreSQL); a new one's after it.
        locked = await lock_known_sender_storing(session, msg, now, max_chars)
        known, stored_id = (None, 0) if locked is None else locked
        # Replies follow the language the client writes in; the channel's hint (a Telegram user's app language)
        # where the message does not show it. A conversation under way switches on a sentence, not on a word.
        spoken = written_language(msg.text, least_han=1 if known is None else SWITCH_HAN) or msg.language
        if known is None:
            language = spoken if spoken in self.texts.languages else self.settings.language
            first = await create_first_contact(session, msg, now, language, max_chars)
            if first is not None:
                client, identity, conversation, stored_id = first
                unsent = parked = False
            else:
                client, identity, new_identity = await find_or_create_identity(session, msg, now)
                conversation, created = await find_or_create_conversation(
                    session, client, identity, msg, now, language, new_identity=new_identity
                )
                # A conversation found (a race with another process's first contact): look for parked replies.
                unsent = parked = not created
                stored_id = await store_inbound(session, conversation, msg, now, max_chars)
        else:
            client, identity, conversation, unsent, parked = known
            ref = msg.ref.to_json()
            if conversation.ref != ref:
                conversation.ref = ref
        data = {
            "message_id": stored_id,
            "direction": "in",
            "channel": msg.ref.channel,
            "type": msg.type.value,
            "text": msg.text[: self.settings.max_message_chars],
            "author_user_id": None,
        }
        live.stage(session, live.LiveEvent("message", conversation.id, conversation.ticket_id, data, now))
        # How long after his previous message the client wrote this one: a quick one goes on with what he was saying.
        previous = conversation.last_inbound_at
        conversation.last_inbound_at = now
        if msg.display_name and identity.display_name != msg.display_name:
            identity.display_name = msg.display_name
        if msg.type is MessageType.EVENT and msg.payload.get("event") == "unsubscribe":
            # The client left (unfollowed, blocked the bot): keep the record, stop writing to them.
            identity.reachable = False
            return ReceiveResult("accepted", conversation.id, stored_id)
        if not identity.reachable:
            # Set only when it changes: an attribute set to its own value still leaves the row for the flush to check.
            identity.reachable = True
        # Replies parked while the network's window was closed can go now, ahead of this turn's.
        unparked = 0
        if parked:
            # The UPDATE touches only outbox rows: flushing the conversation first would cost an UPDATE more.
            with session.no_autoflush:
                unparked = await outbox.unpark(session, conversation.id, now)
        if spoken in self.texts.languages and spoken != conversation.language:
            conversation.language = spoken
        result = ReceiveResult("accepted", conversation.id, stored_id, unparked=unparked, earlier_unsent=unsent)

        if conversation.ticket_id is not None:
            ticket = await loaded(session, Ticket, conversation.ticket_id)
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
        if event.kind is EventKind.MESSAGE and previous is not None:
            gap = (now - as_utc(previous)).total_seconds()
            event = replace(event, data={**event.data, GAP: gap})
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

    def _names_of(self, button: Button) -> set[str]:
        """What a client may type to press `button`: its label, and a category's name in every language, since a
        client answers in the words they know whatever language the question came in ("投诉" to "2 Complaint")."""
        names = {normalize(button.label)}
        if button.id.startswith(CATEGORY_PREFIX):
            key = f"category.{button.id[len(CATEGORY_PREFIX) :]}"
            if self.texts.has(key):
                names.update(normalize(self.texts.get(key, lang)) for lang in self.texts.languages)
        return names

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
                button = next((b.id for b in pending if answer in self._names_of(b)), None)
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
