"""The reps' group worker: opens a forum topic per escalation and sends its posts, reliably and within limits.

Posts (summary, transcript, mirrored client messages, answers to reps' commands) are rows of their own
table, not outbox rows: the outbox delivers one conversation's rows strictly in order, so a group post
stuck behind the group's 20/min budget or a Telegram outage would hold up the client's own replies.
Here each topic keeps its own order, a failed send is retried with backoff (retry_after is honoured,
and being throttled costs no attempt), a post's unique (topic, key) refuses a repeat, and mirroring
follows a cursor over the stored client messages, so a lost "message" event only delays a post.
An "escalated" event is turned into a topic row right after the engine's commit; a process that dies
in between loses that escalation's topic (the ticket itself and the console are unaffected).

Over 400 lines because topics and posts share one delivery loop, one rate limit and one lease rule; the
rows and their writers are apart (`topics.py`), the reps' commands too (`commands.py`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from aiogram import Bot
from sqlalchemy import delete, or_, select, update

from bots.common import BackgroundTasks
from bots.telegram.errors import bot_call
from bots.telegram.ratelimit import RateLimiter
from bots.telegram.settings import CHANNEL
from bots.telegram.topics import (
    FAILED,
    HELD,
    OPEN,
    PENDING,
    SENDING,
    SENT,
    PostDraft,
    TopicWriter,
    add_posts,
    ensure_topic,
    latest_topic,
    split_post,
    supersede_older,
    topic_at,
    topics_behind,
    unmirrored,
)
from core.channel import PermanentSendError, Throttled, TransientSendError
from core.clock import Clock, as_utc
from core.db.models import Client, Conversation, TelegramPost, TelegramTopic, Ticket
from core.db.session import Database
from core.live import LiveEvent
from core.messages import MessageType
from core.outbox import backoff
from core.tickets import escalation
from core.tickets.lifecycle import OPEN_STATUSES

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
# Escalations whose live event was lost (the process died right after the commit) are found this often,
# looking this far back.
CATCH_UP_EVERY = timedelta(seconds=30)
CATCH_UP_WINDOW = timedelta(days=2)
Sleep = Callable[[float], Awaitable[None]]


class RepsGroup:
    """Topics and posts of one reps' supergroup."""

    def __init__(
        self,
        *,
        db: Database,
        bot: Bot,
        chat_id: int,
        limiter: RateLimiter,
        clock: Clock,
        writer: TopicWriter,
        max_attempts: int = 8,
        max_inline_wait: float = 1.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.db = db
        self.bot = bot
        self.chat_id = chat_id
        self.limiter = limiter
        self.clock = clock
        self.writer = writer
        self.max_attempts = max_attempts
        # Waits up to this long (the group's 1 message/s) happen here; longer ones are left to the next tick.
        self.max_inline_wait = max_inline_wait
        self.sleep = sleep
        self._lock = asyncio.Lock()
        self._kick_waiting = False
        self._tasks = BackgroundTasks(log, "reps group delivery failed")
        self._caught_up_at: datetime | None = None

    # ------------------------------------------------------------ events

    async def escalated(self, conversation_id: int, *, reason: str, ticket_number: str | None) -> int:
        """Record that the conversation needs a topic (once per conversation and ticket) and start on it."""
        async with self.db.transaction() as session:
            topic, created = await ensure_topic(
                session,
                chat_id=self.chat_id,
                conversation_id=conversation_id,
                ticket_number=ticket_number,
                reason=reason,
                now=self.clock.now(),
            )
            topic_id = topic.id
        if created:
            log.info("reps topic %s queued for conversation %s (%s)", topic_id, conversation_id, reason)
        self.kick()
        return topic_id

    async def on_live(self, event: LiveEvent) -> None:
        """A listener of core's live bus: escalations open topics, client messages are mirrored."""
        if event.conversation_id is None:
            return
        if event.kind == "escalated":
            await self.escalated(
                event.conversation_id,
                reason=str(event.data.get("reason") or escalation.HANDOFF),
                ticket_number=event.data.get("ticket_number"),
            )
        elif event.kind == "message" and event.data.get("direction") == "in":
            # The cursor decides what is mirrored; the event only says "look now".
            self.kick()

    # ------------------------------------------------------------ topics for the commands

    async def topic_at(self, thread_id: int) -> TelegramTopic | None:
        async with self.db.transaction() as session:
            return await topic_at(session, self.chat_id, thread_id)

    async def topic_of(self, conversation_id: int) -> TelegramTopic | None:
        async with self.db.transaction() as session:
            return await latest_topic(session, self.chat_id, conversation_id)

    async def begin_update(self, topic_id: int, key: str) -> bool:
        """Mark a rep's update as being acted on; False when it was seen before (Telegram redelivered it)."""
        async with self.db.transaction() as session:
            added = await add_posts(session, topic_id, [PostDraft(key, "")], self.clock.now())
            if added:
                await session.execute(
                    update(TelegramPost)
                    .where(TelegramPost.topic_id == topic_id, TelegramPost.key == key)
                    .values(status=HELD)
                    .execution_options(synchronize_session=False)
                )
        return bool(added)

    async def finish_update(self, topic_id: int, key: str, answer: str | None) -> None:
        """Queue the answer to the rep's update (or keep the marker silent when there is none)."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            await session.execute(
                update(TelegramPost)
                .where(TelegramPost.topic_id == topic_id, TelegramPost.key == key, TelegramPost.status == HELD)
                .values(
                    text=answer or "",
                    status=PENDING if answer else SENT,
                    next_attempt_at=now,
                    sent_at=None if answer else now,
                )
                .execution_options(synchronize_session=False)
            )
        if answer:
            self.kick()

    async def abandon_update(self, topic_id: int, key: str) -> None:
        """The action failed unexpectedly: forget the marker so Telegram's redelivery is acted on."""
        async with self.db.transaction() as session:
            await session.execute(
                delete(TelegramPost).where(
                    TelegramPost.topic_id == topic_id, TelegramPost.key == key, TelegramPost.status == HELD
                )
            )

    async def say(self, topic_id: int, key: str, text: str) -> None:
        """Queue a post of the bot's own into a topic."""
        async with self.db.transaction() as session:
            await add_posts(session, topic_id, split_post(key, text), self.clock.now())
        self.kick()

    async def say_in_general(self, reply_to_thread: int | None, text: str) -> None:
        """Answer in a thread that has no topic row (the general topic, a stray thread): best effort, now."""
        if self.limiter.acquire(self.chat_id) > 0:
            # Not worth queueing: the group's budget goes to the topics' posts.
            return
        try:
            await self._call(lambda: self.bot.send_message(self.chat_id, text, message_thread_id=reply_to_thread))
        except (TransientSendError, PermanentSendError) as exc:
            log.info("reps group answer not sent: %s", exc)

    # ------------------------------------------------------------ delivery

    def kick(self) -> None:
        """Deliver soon, in the background; kicks while one is waiting to start add nothing."""
        if self._kick_waiting:
            return
        self._kick_waiting = True
        self._tasks.spawn(self._kicked())

    async def _kicked(self) -> None:
        async with self._lock:
            self._kick_waiting = False
            await self._deliver()

    async def drain(self) -> None:
        """Wait for background deliveries (shutdown, tests)."""
        await self._tasks.drain()

    async def deliver_due(self) -> int:
        """Open due topics, mirror new client messages, send due posts; the periodic tick and tests call it."""
        async with self._lock:
            return await self._deliver()

    async def _deliver(self) -> int:
        await self._catch_up()
        try:
            await self._open_due_topics()
        except Throttled as wait:
            log.debug("reps group: topics wait %.1fs", _seconds(wait))
        await self._mirror()
        sent: list[int] = []
        try:
            await self._send_due_posts(sent)
        except Throttled as wait:
            log.debug("reps group: posts wait %.1fs", _seconds(wait))
        return len(sent)

    async def _catch_up(self) -> None:
        """Open topics for escalated tickets that have none: their live event never reached a listener."""
        now = self.clock.now()
        if self._caught_up_at is not None and now - self._caught_up_at < CATCH_UP_EVERY:
            return
        self._caught_up_at = now
        has_topic = (
            select(TelegramTopic.id)
            .where(
                TelegramTopic.chat_id == self.chat_id,
                TelegramTopic.conversation_id == Ticket.conversation_id,
                TelegramTopic.ticket_key == Ticket.number,
            )
            .exists()
        )
        reason = escalation.reason_sql()
        async with self.db.transaction() as session:
            missing = (
                await session.execute(
                    select(Ticket.conversation_id, Ticket.number, reason)
                    .join(Client, Client.id == Ticket.client_id)
                    .where(
                        Ticket.status.in_([s.value for s in OPEN_STATUSES]),
                        Ticket.updated_at >= now - CATCH_UP_WINDOW,
                        escalation.escalated_sql(),
                        ~has_topic,
                    )
                    .order_by(Ticket.id)
                )
            ).all()
            for conversation_id, number, why in missing:
                log.warning("reps topic for %s was missing (lost escalation event); opening it", number)
                await ensure_topic(
                    session,
                    chat_id=self.chat_id,
                    conversation_id=conversation_id,
                    ticket_number=number,
                    reason=str(why),
                    now=now,
                )

    async def _open_due_topics(self) -> None:
        now = self.clock.now()
        async with self.db.transaction() as session:
            due = (
                (
                    await session.execute(
                        select(TelegramTopic.id)
                        .where(
                            TelegramTopic.chat_id == self.chat_id,
                            TelegramTopic.status == PENDING,
                            TelegramTopic.next_attempt_at <= now,
                        )
                        .order_by(TelegramTopic.id)
                        .limit(20)
                    )
                )
                .scalars()
                .all()
            )
        for topic_id in due:
            await self._open(topic_id)

    async def _open(self, topic_id: int) -> None:
        now = self.clock.now()
        async with self.db.transaction() as session:
            # The conditional update is the claim; the lease lets another process retry after a crash.
            claimed = await session.execute(
                update(TelegramTopic)
                .where(
                    TelegramTopic.id == topic_id,
                    TelegramTopic.status == PENDING,
                    TelegramTopic.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + LEASE, attempts=TelegramTopic.attempts + 1, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if getattr(claimed, "rowcount", 0) != 1:
                return
            topic = await session.get(TelegramTopic, topic_id)
            assert topic is not None
            name, _, _ = await self.writer.opening(session, topic)
            attempts = topic.attempts
        try:
            # Creating a topic posts a service message: it counts against the group's budget too.
            await self._wait_turn()
            created = await self._call(lambda: self.bot.create_forum_topic(self.chat_id, name))
        except Throttled as wait:
            await self._retry_topic(topic_id, attempts - 1, _seconds(wait), str(wait))
            raise
        except TransientSendError as exc:
            if attempts >= self.max_attempts:
                await self._fail_topic(topic_id, str(exc))
            else:
                await self._retry_topic(topic_id, attempts, backoff(attempts).total_seconds(), str(exc))
            return
        except PermanentSendError as exc:
            # Not a forum, or the bot lacks "manage topics": the README's set-up was skipped. Visible here.
            log.error("reps topic %s not created: %s", topic_id, exc)
            await self._fail_topic(topic_id, str(exc))
            return
        now = self.clock.now()
        async with self.db.transaction() as session:
            topic = await session.get(TelegramTopic, topic_id)
            assert topic is not None
            # The transcript is read again now, so nothing written during the call is missed.
            _, drafts, covered = await self.writer.opening(session, topic)
            topic.thread_id = created.message_thread_id
            topic.name = name
            topic.status = OPEN
            topic.last_error = None
            topic.mirrored_message_id = covered
            topic.updated_at = now
            await supersede_older(session, topic, now)
            await add_posts(session, topic_id, drafts, now)

    async def _retry_topic(self, topic_id: int, attempts: int, seconds: float, error: str) -> None:
        now = self.clock.now()
        async with self.db.transaction() as session:
            await session.execute(
                update(TelegramTopic)
                .where(TelegramTopic.id == topic_id)
                .values(
                    attempts=max(0, attempts),
                    next_attempt_at=now + timedelta(seconds=seconds),
                    last_error=error,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )

    async def _fail_topic(self, topic_id: int, error: str) -> None:
        now = self.clock.now()
        async with self.db.transaction() as session:
            await session.execute(
                update(TelegramTopic)
                .where(TelegramTopic.id == topic_id)
                .values(status=FAILED, last_error=error, updated_at=now)
                .execution_options(synchronize_session=False)
            )

    async def _mirror(self) -> None:
        async with self.db.transaction() as session:
            behind = await topics_behind(session, self.chat_id)
        for topic_id in behind:
            now = self.clock.now()
            async with self.db.transaction() as session:
                topic = await session.get(TelegramTopic, topic_id)
                if topic is None or topic.status != OPEN:
                    continue
                conversation = await session.get(Conversation, topic.conversation_id)
                channel = conversation.channel if conversation else ""
                messages = await unmirrored(session, topic)
                # Events (a WeChat follow, a Telegram /start) are no words of the client's; the cursor passes them.
                said = [m for m in messages if m.type != MessageType.EVENT.value]
                drafts = [d for m in said for d in self.writer.mirror(m, channel, CHANNEL)]
                # Keys (msg:<id>) refuse what another process mirrored at the same moment.
                await add_posts(session, topic_id, drafts, now)
                if messages:
                    topic.mirrored_message_id = max(topic.mirrored_message_id, messages[-1].id)
                    topic.updated_at = now

    async def _send_due_posts(self, sent: list[int]) -> None:
        while heads := await self._heads():
            for post_id, thread_id in heads:
                await self._wait_turn()
                if await self._send_post(post_id, thread_id):
                    sent.append(post_id)

    async def _wait_turn(self) -> None:
        while (wait := self.limiter.acquire(self.chat_id)) > 0:
            if wait > self.max_inline_wait:
                raise Throttled(f"reps group rate limit: wait {wait:.1f}s", retry_after=wait)
            await self.sleep(wait)

    async def _heads(self) -> list[tuple[int, int]]:
        """The oldest unsent post of each open topic, if it is due and unclaimed: (post id, thread id)."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            rows = await session.execute(
                select(TelegramPost, TelegramTopic.thread_id)
                .join(TelegramTopic, TelegramTopic.id == TelegramPost.topic_id)
                .where(
                    TelegramTopic.chat_id == self.chat_id,
                    TelegramTopic.status == OPEN,
                    TelegramPost.status.in_((PENDING, SENDING)),
                )
                .order_by(TelegramPost.id)
                .limit(500)
            )
            heads: dict[int, tuple[TelegramPost, int]] = {}
            for post, thread_id in rows.all():
                if thread_id is not None:
                    heads.setdefault(post.topic_id, (post, thread_id))
        ready = [(p.id, thread) for p, thread in heads.values() if _claimable(p, now)]
        return sorted(ready)

    async def _send_post(self, post_id: int, thread_id: int) -> bool:
        now = self.clock.now()
        async with self.db.transaction() as session:
            claimed = await session.execute(
                update(TelegramPost)
                .where(TelegramPost.id == post_id, _claim_condition(now))
                .values(status=SENDING, lease_until=now + LEASE, attempts=TelegramPost.attempts + 1)
                .returning(TelegramPost.text, TelegramPost.photo, TelegramPost.attempts)
                .execution_options(synchronize_session=False)
            )
            row = claimed.first()
        if row is None:
            return False
        text, photo, attempts = row
        try:
            if photo:
                message = await self._call(
                    lambda: self.bot.send_photo(self.chat_id, photo, caption=text or None, message_thread_id=thread_id)
                )
            else:
                message = await self._call(
                    lambda: self.bot.send_message(self.chat_id, text, message_thread_id=thread_id)
                )
        except Throttled as wait:
            await self._settle(post_id, PENDING, attempts - 1, retry_in=_seconds(wait), error=str(wait))
            raise
        except TransientSendError as exc:
            status = FAILED if attempts >= self.max_attempts else PENDING
            await self._settle(post_id, status, attempts, retry_in=backoff(attempts).total_seconds(), error=str(exc))
            return False
        except PermanentSendError as exc:
            if photo:
                # The photo could not be fetched (an expired link, a file id of another bot): send the text.
                await self._settle(post_id, PENDING, attempts - 1, retry_in=0, error=str(exc), drop_photo=True)
                return False
            log.warning("reps post %s failed: %s", post_id, exc)
            await self._settle(post_id, FAILED, attempts, retry_in=0, error=str(exc))
            return False
        await self._settle(post_id, SENT, attempts, retry_in=0, external_id=str(message.message_id))
        return True

    async def _settle(
        self,
        post_id: int,
        status: str,
        attempts: int,
        *,
        retry_in: float,
        error: str | None = None,
        external_id: str | None = None,
        drop_photo: bool = False,
    ) -> None:
        now = self.clock.now()
        values: dict[str, Any] = {
            "status": status,
            "attempts": max(0, attempts),
            "lease_until": None,
            "next_attempt_at": now + timedelta(seconds=retry_in),
            "last_error": error,
            "external_id": external_id,
            "sent_at": now if status == SENT else None,
        }
        if drop_photo:
            values["photo"] = None
        async with self.db.transaction() as session:
            await session.execute(
                update(TelegramPost)
                .where(TelegramPost.id == post_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    async def _call(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """One Bot API call; a flood-control wait holds the whole group back."""
        return await bot_call(call, on_retry_after=lambda seconds: self.limiter.block(self.chat_id, seconds))


def _seconds(wait: Throttled) -> float:
    return wait.retry_after or 0.0


def _claim_condition(now: datetime) -> Any:
    return or_(
        (TelegramPost.status == PENDING) & (TelegramPost.next_attempt_at <= now),
        (TelegramPost.status == SENDING) & (TelegramPost.lease_until < now),
    )


def _claimable(post: TelegramPost, now: datetime) -> bool:
    if post.status == SENDING:
        return post.lease_until is not None and as_utc(post.lease_until) < now
    return as_utc(post.next_attempt_at) <= now
