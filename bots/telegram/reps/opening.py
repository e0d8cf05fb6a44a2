"""Forum topics opened for escalations, and caught up from the escalation rule when an event was lost."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from bots.telegram.reps.base import CATCH_UP_EVERY, CATCH_UP_WINDOW, LEASE, log, wait_seconds
from bots.telegram.reps.posts import RepsPosts
from bots.telegram.topics import (
    FAILED,
    OPEN,
    PENDING,
    add_posts,
    ensure_topic,
    supersede_older,
)
from core.channel import PermanentSendError, Throttled, TransientSendError
from core.db.models import Client, TelegramTopic, Ticket
from core.leased_queue import exponential
from core.tickets import escalation
from core.tickets.lifecycle import OPEN_STATUSES


class RepsTopics(RepsPosts):
    """Opens a topic per escalated ticket, with its summary and transcript posts."""

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
            await self._retry_topic(topic_id, attempts - 1, wait_seconds(wait), str(wait))
            raise
        except TransientSendError as exc:
            if attempts >= self.max_attempts:
                await self._fail_topic(topic_id, str(exc))
            else:
                await self._retry_topic(topic_id, attempts, exponential(attempts).total_seconds(), str(exc))
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
