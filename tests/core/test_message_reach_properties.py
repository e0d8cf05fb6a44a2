"""Stateful property: every client message is answered by the bot or visible in a console queue.

Random sequences of client messages, rep and admin actions (claim, release, reply, transfer to a
department or a rep, resolve, close) and passing time run through the real engine and database; after
each step, a conversation whose client waits for a person has its ticket in one of the console's queues,
and a conversation never waits for a person on a closed ticket.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import select

from core.clock import ManualClock
from core.db.models import Conversation, Ticket, User
from core.dialogue.model import State
from core.errors import KefuError
from core.messages import ConversationRef, InboundMessage
from core.settings import Settings
from core.tickets.lifecycle import TicketStatus, TransitionRequest
from handlers.console import inbox
from handlers.console.auth import Principal
from handlers.services import Services, build_services
from tests.support.desk_setup import create_staff

CLIENT_TEXTS = (
    "你好",
    "你们的广告效果太差了，我要投诉",
    "人工",
    "1",
    "2",
    "5",
    "跳过",
    "13800138000",
    "还没解决",
    "好的",
)
# Where the client waits for the desk rather than talks with the bot.
WAITING_FOR_PEOPLE = frozenset({State.HUMAN_QUEUE, State.WITH_REP, State.TICKET_OPEN, State.RESOLVED})
ADMIN = Principal("s", 0, "admin", "admin", "admin", frozenset(), "", "zh")


class Desk:
    """One database, staffed once, shared by the examples (each example is a new client)."""

    def __init__(self, db_url: str, media: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.clock = ManualClock()
        self.services: Services = build_services(Settings(database_url=db_url, env="test", media_dir=media), self.clock)
        self.run(self.services.start(migrate=False))
        staff = self.run(create_staff(self.services))
        self.run(create_staff(self.services, department="media", reps=1))
        self.reps = staff.reps
        self.admin = self.run(self._admin())

    async def _admin(self) -> int:
        async with self.services.db.transaction() as session:
            user = User(username="root", display_name="管理员", role="admin", created_at=self.clock.now())
            session.add(user)
            await session.flush()
            return user.id

    def run(self, work: Any) -> Any:
        return self.loop.run_until_complete(work)

    def close(self) -> None:
        self.run(self.services.stop())
        self.loop.close()


class MessagesReachSomeone(RuleBasedStateMachine):
    desk: Desk

    @initialize()
    def new_client(self) -> None:
        self.ref = ConversationRef(channel="web", external_user_id=uuid.uuid4().hex)
        self.conversation_id: int | None = None

    def _do(self, work: Any) -> None:
        # Refused with a reason (held by another rep, not allowed in this state) is a defined outcome.
        with contextlib.suppress(KefuError):
            self.desk.run(work)

    @rule(text=st.sampled_from(CLIENT_TEXTS))
    def client_writes(self, text: str) -> None:
        message = InboundMessage(ref=self.ref, external_id=uuid.uuid4().hex, text=text)
        self.conversation_id = self.desk.run(self.desk.services.engine.receive(message)).conversation_id

    @rule(rep=st.integers(0, 1), action=st.sampled_from(["claim", "release", "reply", "resolve"]))
    def rep_acts(self, rep: int, action: str) -> None:
        if self.conversation_id is None:
            return
        engine, user = self.desk.services.engine, self.desk.reps[rep]
        if action == "claim":
            self._do(engine.claim(self.conversation_id, user))
        elif action == "release":
            self._do(engine.release(self.conversation_id, user))
        elif action == "reply":
            self._do(engine.rep_reply(self.conversation_id, user, "请提供截图"))
        else:
            self._do(engine.resolve(self.conversation_id, "已补投曝光", f"user:{user}"))

    @rule(to=st.sampled_from(["media", "cs", "rep0", "rep1"]))
    def admin_transfers(self, to: str) -> None:
        if self.conversation_id is None:
            return
        engine = self.desk.services.engine
        if to.startswith("rep"):
            target = self.desk.reps[int(to[3:])]
            self._do(engine.transfer(self.conversation_id, self.desk.admin, to_user_id=target))
        else:
            self._do(engine.transfer(self.conversation_id, self.desk.admin, department_code=to))

    @rule(status=st.sampled_from([TicketStatus.RESOLVED, TicketStatus.CLOSED]))
    def admin_moves_the_ticket(self, status: TicketStatus) -> None:
        number = self.desk.run(self._latest_number())
        if number is None:
            return
        request = TransitionRequest(
            status, f"user:{self.desk.admin}", solution="已处理", root_cause="素材", improvement="复核"
        )
        self._do(self.desk.services.engine.move_ticket(number, request, by=self.desk.admin, override=True))

    @rule(minutes=st.sampled_from([1, 15, 45, 60 * 25, 60 * 80]))
    def time_passes(self, minutes: int) -> None:
        self.desk.clock.advance(timedelta(minutes=minutes))
        self.desk.run(self.desk.services.followups.run_due())

    async def _latest_number(self) -> str | None:
        if self.conversation_id is None:
            return None
        async with self.desk.services.db.transaction() as session:
            found = await session.execute(
                select(Ticket.number).where(Ticket.conversation_id == self.conversation_id).order_by(Ticket.id.desc())
            )
            return found.scalars().first()

    @invariant()
    def a_waiting_client_is_in_a_queue(self) -> None:
        if self.conversation_id is not None:
            self.desk.run(self._check())

    async def _check(self) -> None:
        services = self.desk.services
        async with services.db.transaction() as session:
            conversation = await session.get(Conversation, self.conversation_id)
            assert conversation is not None
            state = State(conversation.state)
            ticket = await session.get(Ticket, conversation.ticket_id) if conversation.ticket_id else None
            if ticket is not None and TicketStatus(ticket.status) is TicketStatus.CLOSED:
                assert state not in (State.HUMAN_QUEUE, State.WITH_REP), "waiting for a person on a closed ticket"
            if state not in WAITING_FOR_PEOPLE:
                return  # the bot answers the client's messages
            assert ticket is not None, f"{state} without a ticket: the client's messages reach no one"
            now = services.clock.now()
            shown: set[str] = set()
            for queue in inbox.QUEUES:
                items = await inbox.page(
                    session, ADMIN, queue=queue, term="", now=now, risk=timedelta(hours=1), offset=0, limit=10_000
                )
                shown |= {i["number"] for i in items}
            assert ticket.number in shown, f"{state}, ticket {ticket.status}: in no console queue"


def test_every_client_message_reaches_the_bot_or_a_queue(db_url: str, tmp_path: Path) -> None:
    desk = Desk(db_url, tmp_path / "media")
    MessagesReachSomeone.desk = desk
    try:
        run_state_machine_as_test(
            MessagesReachSomeone,
            settings=settings(
                max_examples=20,
                stateful_step_count=20,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
    finally:
        desk.close()
