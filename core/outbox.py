"""The outbox: every reply is a row first, then a send; delivered in order per conversation, never lost."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.channel import ChannelRegistry, PermanentSendError, SendResult, TransientSendError
from core.clock import Clock, as_utc
from core.db.models import OutboxMessage
from core.db.session import Database
from core.messages import ConversationRef, OutboundMessage

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
LEASE = timedelta(seconds=60)


def backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    """Exponential backoff capped at 10 minutes; the network's own retry_after wins when it is longer."""
    delay = min(600.0, 2.0 ** max(0, attempts - 1))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return timedelta(seconds=delay)


def enqueue(
    session: AsyncSession,
    *,
    conversation_id: int,
    message_id: int | None,
    ref: ConversationRef,
    message: OutboundMessage,
    now: datetime,
) -> OutboxMessage:
    """Add an outbox row to the caller's transaction."""
    row = OutboxMessage(
        conversation_id=conversation_id,
        message_id=message_id,
        channel=ref.channel,
        ref=ref.to_json(),
        payload=message.to_json(),
        status=PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    return row


@dataclass(frozen=True, slots=True)
class _Settled:
    """How the last send of a row ended."""

    row_id: int
    status: str
    result: SendResult | None = None
    error: str | None = None


class OutboxDispatcher:
    """Claims outbox rows atomically and sends them through their channels."""

    def __init__(self, db: Database, registry: ChannelRegistry, clock: Clock, max_attempts: int = 8) -> None:
        self.db = db
        self.registry = registry
        self.clock = clock
        self.max_attempts = max_attempts

    async def deliver_due(self, limit: int = 100) -> int:
        """Deliver what is due across all conversations (start-up recovery and the periodic sweep)."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            rows = await session.execute(
                select(OutboxMessage.conversation_id)
                .where(
                    or_(
                        (OutboxMessage.status == PENDING) & (OutboxMessage.next_attempt_at <= now),
                        (OutboxMessage.status == SENDING) & (OutboxMessage.lease_until < now),
                    )
                )
                .order_by(OutboxMessage.id)
                .limit(limit)
            )
            conversations = list(dict.fromkeys(rows.scalars()))
        sent = 0
        for conversation_id in conversations:
            sent += await self.deliver_conversation(conversation_id)
        return sent

    async def deliver_conversation(self, conversation_id: int) -> int:
        """Send this conversation's rows in id order; stop at the first one that must wait."""
        sent = 0
        claimed = await self._settle_and_claim(conversation_id, None)
        while claimed is not None:
            row_id, ref, message, attempts = claimed
            try:
                channel = self.registry.get(ref.channel)
                result = await channel.send(ref, message)
            except TransientSendError as exc:
                await self._retry_later(row_id, attempts, str(exc), exc.retry_after)
                return sent
            except PermanentSendError as exc:
                claimed = await self._settle_and_claim(conversation_id, _Settled(row_id, FAILED, error=str(exc)))
                continue
            except Exception as exc:
                # An adapter bug must not kill the dispatcher; treat it as transient and keep the reason.
                log.exception("outbox send of row %s failed", row_id)
                await self._retry_later(row_id, attempts, f"{type(exc).__name__}: {exc}", None)
                return sent
            sent += 1
            claimed = await self._settle_and_claim(conversation_id, _Settled(row_id, SENT, result=result))
        return sent

    async def _settle_and_claim(
        self, conversation_id: int, settled: _Settled | None
    ) -> tuple[int, ConversationRef, OutboundMessage, int] | None:
        """Record the outcome of the last send and claim the next row, in one transaction."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            if settled is not None:
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == settled.row_id)
                    .values(
                        status=settled.status,
                        lease_until=None,
                        sent_at=now if settled.status == SENT else None,
                        external_id=settled.result.external_id if settled.result else None,
                        last_error=settled.error,
                    )
                )
            head = (
                await session.execute(
                    select(OutboxMessage)
                    .where(OutboxMessage.conversation_id == conversation_id)
                    .where(OutboxMessage.status.in_((PENDING, SENDING)))
                    .order_by(OutboxMessage.id)
                    .limit(1)
                )
            ).scalar_one_or_none()
            if head is None:
                return None
            if head.status == SENDING and head.lease_until and as_utc(head.lease_until) >= now:
                return None  # another worker holds it
            if head.status == PENDING and as_utc(head.next_attempt_at) > now:
                return None  # backing off; later rows wait so order is kept
            # The conditional UPDATE is the claim: of two workers, exactly one sees rowcount 1.
            attempts = head.attempts + 1
            claim = (
                update(OutboxMessage)
                .where(OutboxMessage.id == head.id)
                .where(OutboxMessage.status == head.status)
                .where(OutboxMessage.attempts == head.attempts)
                .values(status=SENDING, lease_until=now + LEASE, attempts=attempts)
                .execution_options(synchronize_session=False)
            )
            if getattr(await session.execute(claim), "rowcount", 0) != 1:
                return None
            return head.id, ConversationRef.from_json(head.ref), OutboundMessage.from_json(head.payload), attempts

    async def _retry_later(self, row_id: int, attempts: int, error: str, retry_after: float | None) -> None:
        if attempts >= self.max_attempts:
            log.warning("outbox row %s failed after %s attempts: %s", row_id, attempts, error)
            async with self.db.transaction() as session:
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == row_id)
                    .values(status=FAILED, lease_until=None, last_error=error)
                )
            return
        now = self.clock.now()
        async with self.db.transaction() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id)
                .values(
                    status=PENDING,
                    lease_until=None,
                    next_attempt_at=now + backoff(attempts, retry_after),
                    last_error=error,
                )
            )
