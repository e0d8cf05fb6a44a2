"""The engine's state and what every job shares: its collaborators, per-conversation locks, the turn's transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import outbox
from core.channel import ChannelRegistry
from core.clock import Clock
from core.db.models import (
    ChannelIdentity,
    Conversation,
)
from core.db.session import Database
from core.dialogue.acts import ActLexicon
from core.dialogue.classifier import KeywordClassifier
from core.dialogue.forms import Forms
from core.dialogue.model import (
    Deps,
    EventKind,
    State,
)
from core.messages import (
    ConversationRef,
    MessageKind,
    OutboundMessage,
)
from core.outbox import OutboxDispatcher, Outgoing
from core.quiet_hours import QuietHours
from core.settings import Settings
from core.texts import Texts
from core.tickets.desk import TicketDesk
from core.tickets.policies import TicketPolicies

log = logging.getLogger("core.engine")
E_TRANSFER = EventKind.REP_TRANSFER

DIALOGUE_TIMEOUT = "dialogue_timeout"
# Timer turns run in a batch between two yields to the event loop (handle_events).
YIELD_EVERY = 20
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


async def conversation_of(session: AsyncSession, ref: ConversationRef) -> Conversation | None:
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


class EngineBase:
    """The collaborators every part of the engine uses, set up once."""

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
        now = self.clock.now()
        return Deps(
            self.classifier.current,
            self.forms,
            self.texts,
            self.settings.dialogue,
            self.settings.tickets.low_score,
            lexicon=self.lexicon,
            today=now.astimezone(self._zone).date(),
            # The desk's calendar is the one in force: admins' changes replace it there.
            calendar=self.desk.calendar,
            now=now,
        )

    def _lock(self, key: tuple[str, str, str]) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            if len(self._locks) > 10_000:
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            lock = self._locks[key] = asyncio.Lock()
        return lock

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[AsyncSession]:
        """A transaction whose queued replies are written, all at once, before it commits."""
        async with self.db.transaction() as session:
            yield session
            await outbox.write_queued(session)
