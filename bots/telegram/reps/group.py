"""The reps' group: what the rest of kefu calls (escalations, live events, topics, updates) and the delivery loop."""

from __future__ import annotations

from sqlalchemy import delete, update

from bots.telegram.reps.base import log, wait_seconds
from bots.telegram.reps.mirror import RepsMirror
from bots.telegram.reps.opening import RepsTopics
from bots.telegram.topics import (
    PENDING,
    SENT,
    WAITING,
    PostDraft,
    add_posts,
    ensure_topic,
    latest_topic,
    split_post,
    topic_at,
)
from core.channel import PermanentSendError, Throttled, TransientSendError
from core.db.models import TelegramPost, TelegramTopic
from core.live import LiveEvent
from core.tickets import escalation


class RepsGroup(RepsTopics, RepsMirror):
    """Topics and posts of one reps' supergroup."""

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
                    .values(status=WAITING)
                    .execution_options(synchronize_session=False)
                )
        return bool(added)

    async def finish_update(self, topic_id: int, key: str, answer: str | None) -> None:
        """Queue the answer to the rep's update (or keep the marker silent when there is none)."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            await session.execute(
                update(TelegramPost)
                .where(TelegramPost.topic_id == topic_id, TelegramPost.key == key, TelegramPost.status == WAITING)
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
                    TelegramPost.topic_id == topic_id, TelegramPost.key == key, TelegramPost.status == WAITING
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
            log.debug("reps group: topics wait %.1fs", wait_seconds(wait))
        await self._mirror()
        sent: list[int] = []
        try:
            await self._send_due_posts(sent)
        except Throttled as wait:
            log.debug("reps group: posts wait %.1fs", wait_seconds(wait))
        return len(sent)
