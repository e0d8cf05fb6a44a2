"""Reps at work in the reps' group: a message in a topic answers the client, commands drive the ticket.

Only Telegram users linked to an active kefu user (User.telegram_user_id) may act, and only on tickets
the console would let them work on (core.access: their departments, what is assigned to them or taken by
them; supervisors and admins all). Plain text goes to the client on the client's own channel through
engine.rep_reply. Commands: /claim, /release, /note <text>, /resolve <solution>,
/close <root cause> | <improvement>, /transfer <department code>, /reopen. A closed ticket's topic
sends nothing to the client: it says so and offers /reopen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiogram import Router
from aiogram.types import Message
from sqlalchemy import select

from bots.telegram.convert import command_of
from bots.telegram.reps import RepsGroup
from bots.telegram.topics import TopicWriter
from core.access import department_ids, may_work_on
from core.db.models import Conversation, Department, TelegramTopic, Ticket, User
from core.engine import Engine
from core.errors import InvalidInput, KefuError, NotFound
from core.tickets.lifecycle import InvalidTicketTransition, MissingSummary, TicketStatus, TransitionRequest
from core.tickets.takeover import TakenByOther, ensure_not_taken_by_other

log = logging.getLogger(__name__)

# Both "|" and the full-width "｜" a Chinese keyboard types separate the root cause from the improvement.
CLOSE_SEPARATORS = ("|", "｜")
FORCE_ROLES = frozenset({"supervisor", "admin"})


@dataclass(frozen=True, slots=True)
class Rep:
    """The kefu user behind a Telegram account."""

    id: int
    display_name: str
    role: str
    departments: frozenset[int] = frozenset()


def split_close(args: str) -> tuple[str, str]:
    """Split "原因 | 改进措施" into ("原因", "改进措施"); without a separator the improvement is empty."""
    for separator in CLOSE_SEPARATORS:
        if separator in args:
            root_cause, _, improvement = args.partition(separator)
            return root_cause.strip(), improvement.strip()
    return args.strip(), ""


class NotYours(KefuError):
    """The rep may not work on this ticket (another department's, as the console would answer 403)."""


class RepCommands:
    """Turns reps' messages in topics into engine calls and answers them in the topic."""

    def __init__(self, *, engine: Engine, reps: RepsGroup, writer: TopicWriter) -> None:
        self.engine = engine
        self.reps = reps
        self.writer = writer

    def router(self) -> Router:
        """A fresh Router for the reps' group only; private chats are the client router's."""
        router = Router(name="kefu-reps")

        async def in_reps_group(message: Message) -> bool:
            # A coroutine, not a magic filter: aiogram would run that in a worker thread on every update.
            return message.chat.id == self.reps.chat_id

        router.message.filter(in_reps_group)

        @router.message()
        async def on_message(message: Message) -> None:
            await self.handle(message)

        return router

    async def rep_of(self, telegram_user_id: int) -> Rep | None:
        async with self.engine.db.transaction() as session:
            user = (
                await session.execute(select(User).where(User.telegram_user_id == telegram_user_id))
            ).scalar_one_or_none()
            if user is None or not user.active:
                return None
            return Rep(user.id, user.display_name, user.role, await department_ids(session, user))

    async def handle(self, message: Message) -> None:
        sender = message.from_user
        # The bot's own posts and Telegram's service messages (topic created, member joined) are no one acting.
        if sender is None or sender.is_bot or message.message_thread_id is None or not message.is_topic_message:
            return
        text = message.text
        if text is None and not (message.photo or message.document or message.voice or message.video):
            return
        topic = await self.reps.topic_at(message.message_thread_id)
        key = f"rep:{message.message_id}"
        if topic is None:
            if text and text.startswith("/"):
                await self.reps.say_in_general(message.message_thread_id, self.writer.t("unknown_topic"))
            return
        rep = await self.rep_of(sender.id)
        if rep is None:
            await self.reps.say(topic.id, key, self.writer.t("not_a_rep", telegram_user_id=sender.id))
            return
        # Marked before acting, so Telegram's redelivery of this update does not act twice.
        if not await self.reps.begin_update(topic.id, key):
            return
        try:
            answer = await self._act(topic, rep, text)
        except TakenByOther as exc:
            answer = self.writer.t("held_by_other", name=exc.holder_name)
        except KefuError as exc:
            answer = self.refusal(exc)
        except BaseException:
            # Unexpected (database down): forget the mark, so the 500 makes Telegram deliver it again.
            await self.reps.abandon_update(topic.id, key)
            raise
        await self.reps.finish_update(topic.id, key, answer)

    def refusal(self, exc: KefuError) -> str:
        """The rep's error in the reps' language, never the exception's English."""
        t = self.writer.t
        if isinstance(exc, NotYours):
            return t("not_your_ticket")
        if isinstance(exc, MissingSummary):
            return t("usage_close")
        if isinstance(exc, InvalidTicketTransition):
            return t("refused_transition")
        if isinstance(exc, NotFound):
            return t("refused_not_found")
        if isinstance(exc, InvalidInput):
            return t("refused_input")
        log.info("reps group action refused: %s", exc)
        return t("refused_other")

    async def _ticket_of(self, topic: TelegramTopic, rep: Rep) -> Ticket | None:
        """The topic's ticket, after the same check as the console's (403 there, NotYours here)."""
        async with self.engine.db.transaction() as session:
            conversation = await session.get(Conversation, topic.conversation_id)
            ticket_id = topic.ticket_id or (conversation.ticket_id if conversation else None)
            ticket = await session.get(Ticket, ticket_id) if ticket_id else None
            if ticket is None:
                return None
            holder = conversation.holder_user_id if conversation is not None else None
            allowed = may_work_on(
                user_id=rep.id,
                role=rep.role,
                departments=rep.departments,
                department_id=ticket.department_id,
                assignee_id=ticket.assignee_id,
                holder=holder,
            )
            if not allowed:
                raise NotYours(f"ticket {ticket.number} is not in the rep's departments")
            return ticket

    async def _act(self, topic: TelegramTopic, rep: Rep, text: str | None) -> str | None:
        t = self.writer.t
        if text is None:
            return t("text_only")
        conversation_id = topic.conversation_id
        ticket = await self._ticket_of(topic, rep)
        command = command_of(text)
        closed = ticket is not None and TicketStatus(ticket.status) is TicketStatus.CLOSED
        if command is not None and command[0] == "reopen":
            if ticket is None or not closed:
                return t("reopen_not_closed")
            await self._ensure_not_taken_by_other(topic, rep)
            await self.engine.move_ticket(
                ticket.number, TransitionRequest(TicketStatus.INVESTIGATING, f"user:{rep.id}")
            )
            return t("reopened", ticket_no=ticket.number)
        if closed and (command is None or command[0] not in ("note",)):
            # Nothing reaches the client from a closed ticket's topic; the ticket is reopened first, visibly.
            assert ticket is not None
            return t("ticket_closed", ticket_no=ticket.number)
        if command is None:
            await self.engine.rep_reply(conversation_id, rep.id, text)
            # The rep's own message in the topic is the record; a confirmation would only add noise.
            return None
        name, args = command
        actor = f"user:{rep.id}"
        if name == "claim":
            await self.engine.claim(conversation_id, rep.id)
            return t("claimed", name=rep.display_name)
        if name == "release":
            await self.engine.release(conversation_id, rep.id, force=rep.role in FORCE_ROLES)
            return t("released")
        if name == "note":
            if not args:
                return t("usage_note")
            await self.engine.add_note(conversation_id, rep.id, args, ticket_id=topic.ticket_id)
            return t("noted")
        if name == "resolve":
            if not args:
                return t("usage_resolve")
            await self._ensure_not_taken_by_other(topic, rep)
            await self.engine.resolve(conversation_id, args, actor, ticket_id=topic.ticket_id)
            return t("resolved")
        if name == "close":
            root_cause, improvement = split_close(args)
            if not root_cause or not improvement:
                return t("usage_close")
            if not topic.ticket_key:
                return t("refused_no_ticket")
            await self._ensure_not_taken_by_other(topic, rep)
            request = TransitionRequest(TicketStatus.CLOSED, actor, root_cause=root_cause, improvement=improvement)
            await self.engine.move_ticket(topic.ticket_key, request)
            return t("closed", ticket_no=topic.ticket_key)
        if name == "transfer":
            if not args:
                return t("usage_transfer")
            code = args.split()[0]
            await self.engine.transfer(conversation_id, rep.id, department_code=code)
            return t("transferred", department=await self._department_name(code))
        return t("unknown_command")

    async def _department_name(self, code: str) -> str:
        async with self.engine.db.transaction() as session:
            name = await session.scalar(select(Department.name).where(Department.code == code))
        return str(name or code)

    async def _ensure_not_taken_by_other(self, topic: TelegramTopic, rep: Rep) -> None:
        """Resolve and close are the holder's (or a supervisor's) once a rep has taken the ticket, as in the console."""
        async with self.engine.db.transaction() as session:
            conversation = await session.get(Conversation, topic.conversation_id)
            if conversation is None or (topic.ticket_id is not None and conversation.ticket_id != topic.ticket_id):
                return
            await ensure_not_taken_by_other(session, conversation, rep.id, override=rep.role in FORCE_ROLES)
