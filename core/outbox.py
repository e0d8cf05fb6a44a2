"""The outbox: every reply is a row first, then a send; delivered in order per conversation, never lost.

One module because claiming, sending, settling and the first-response record share one row's life and
its invariants (in order per conversation, at-least-once); splitting them would scatter those rules.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Insert, Table, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import live
from core.channel import (
    ChannelRegistry,
    PermanentSendError,
    RecipientGone,
    SendResult,
    Throttled,
    TransientSendError,
    WindowClosed,
)
from core.clock import Clock
from core.db.models import ChannelIdentity, Conversation, Message, OutboxMessage, Ticket, TicketEvent
from core.db.session import UNWRITTEN, Database, execute_carrying
from core.leased_queue import LeasedQueue, Verdict
from core.messages import ConversationRef, MessageKind, OutboundMessage

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED, PARKED = "pending", "sending", "sent", "failed", "window_closed"
# Rows the client has not received yet but still may.
UNDELIVERED = (PENDING, SENDING, PARKED)
# The external id of rows that went out inside a webhook's response (a WeChat passive reply).
IN_RESPONSE = "in-response"
# The reason given to replies too old to send (see OutboxDispatcher.expire_stale).
STALE = "stale"
LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 8


def leased(max_attempts: int = MAX_ATTEMPTS) -> LeasedQueue:
    """The outbox as a leased queue: due at next_attempt_at, claimed as "sending", exponential backoff."""
    o = OutboxMessage
    return LeasedQueue(o.id, o.status, o.attempts, o.lease_until, o.next_attempt_at, LEASE, max_attempts)


OUTGOING = UNWRITTEN


@dataclass(slots=True)
class Outgoing:
    """A reply queued in a transaction, written (transcript message and outbox row) when the turn ends."""

    conversation_id: int
    ref: ConversationRef
    message: OutboundMessage
    now: datetime
    author_user_id: int | None = None
    in_reply_to: int | None = None
    outbox_id: int | None = None
    message_id: int | None = None
    # Held rows are invisible to the dispatcher until then (a webhook may answer them in its own response).
    hold_until: datetime | None = None
    # Carried by the webhook's own response (a passive reply): written as sent, never claimed.
    answered: bool = False
    # Written already claimed (sending, under this process's lease) for the turn's caller to send right after
    # the commit, without a claim of its own; only a conversation's first unsent row may be (write_queued).
    claimed: bool = False

    def claim(self) -> _Claim | None:
        """The lease this row was written under, once written with `claimed`."""
        if not self.claimed or self.outbox_id is None:
            return None
        return _Claim(self.outbox_id, self.conversation_id, self.ref, self.message, 1, self.message_id)


# Core statements on the tables, built once: most turns write one reply, and the ORM's bulk-insert
# machinery costs more than the insert itself.
MESSAGES = cast(Table, Message.__table__)
# What a message row is written with (the id comes from the database).
MESSAGE_COLUMNS = (
    "conversation_id",
    "direction",
    "channel",
    "account",
    "external_id",
    "type",
    "text",
    "payload",
    "author_user_id",
    "created_at",
)
_OUTBOX = cast(Table, OutboxMessage.__table__)
# What an outbox row is written with (`_outbox_row`).
_OUTBOX_COLUMNS = (
    "conversation_id",
    "message_id",
    "in_reply_to",
    "channel",
    "ref",
    "payload",
    "status",
    "attempts",
    "next_attempt_at",
    "lease_until",
    "created_at",
    "sent_at",
    "external_id",
)


def _inserting(table: Table, columns: tuple[str, ...]) -> Insert:
    """One row's INSERT … RETURNING id, its parameters named for the columns (it may carry writes: `carry`)."""
    return insert(table).values({c: bindparam(c, type_=table.c[c].type) for c in columns}).returning(table.c.id)


INSERT_MESSAGE = _inserting(MESSAGES, MESSAGE_COLUMNS)
_INSERT_MESSAGES_MANY = insert(MESSAGES).returning(MESSAGES.c.id, sort_by_parameter_order=True)
_INSERT_OUTBOX = _inserting(_OUTBOX, _OUTBOX_COLUMNS)
_INSERT_OUTBOX_MANY = insert(_OUTBOX).returning(_OUTBOX.c.id, sort_by_parameter_order=True)


async def _insert_returning_ids(
    session: AsyncSession, one: Insert, many: Insert, rows: list[dict[str, Any]]
) -> list[int]:
    """The new rows' ids in the order of `rows`: one plain INSERT for one row, one batched INSERT for more."""
    if len(rows) == 1:
        # The turn's carried writes go with it.
        return [int((await execute_carrying(session, one, rows[0]))[0][0])]
    return [int(i) for i in (await session.execute(many, rows)).scalars().all()]


def _outbox_row(o: Outgoing, message_id: int) -> dict[str, Any]:
    return {
        "conversation_id": o.conversation_id,
        "message_id": message_id,
        "in_reply_to": o.in_reply_to,
        "channel": o.ref.channel,
        "ref": o.ref.to_json(),
        "payload": o.message.to_json(),
        "status": SENT if o.answered else SENDING if o.claimed else PENDING,
        "attempts": 1 if o.answered or o.claimed else 0,
        "next_attempt_at": o.hold_until or o.now,
        "lease_until": o.now + LEASE if o.claimed else None,
        "created_at": o.now,
        "sent_at": o.now if o.answered else None,
        "external_id": IN_RESPONSE if o.answered else None,
    }


def _insert_reply() -> Insert:
    """One reply's message and its outbox row in one statement (PostgreSQL: an INSERT inside a WITH)."""
    outbox_columns = [c for c in _OUTBOX_COLUMNS if c != "message_id"]
    message = (
        insert(MESSAGES)
        .values({c: bindparam(f"m_{c}", type_=MESSAGES.c[c].type) for c in MESSAGE_COLUMNS})
        .returning(MESSAGES.c.id)
        .cte("reply_message")
    )
    values = select(*[bindparam(f"o_{c}", type_=_OUTBOX.c[c].type) for c in outbox_columns], message.c.id)
    return (
        insert(_OUTBOX)
        .from_select([*outbox_columns, "message_id"], values)
        .returning(_OUTBOX.c.id, _OUTBOX.c.message_id)
    )


_INSERT_REPLY = _insert_reply()


def queue(session: AsyncSession, outgoing: Outgoing) -> Outgoing:
    """Queue a reply in the caller's transaction; `write_queued` must run before it commits."""
    session.info.setdefault(OUTGOING, []).append(outgoing)
    return outgoing


async def write_queued(session: AsyncSession) -> None:
    """Insert every queued reply's message and outbox row with two statements, whatever their number (one for one)."""
    pending: list[Outgoing] = session.info.pop(OUTGOING, [])
    if not pending:
        return
    firsts: set[int] = set()
    for o in pending:
        # Order per conversation: a row queued behind another of the same turn is claimed when that one is sent.
        o.claimed = o.claimed and not o.answered and o.hold_until is None and o.conversation_id not in firsts
        firsts.add(o.conversation_id)
    messages = [
        {
            "conversation_id": o.conversation_id,
            "direction": "out",
            "channel": o.ref.channel,
            "account": o.ref.account,
            "external_id": None,
            "type": "text",
            "text": o.message.text,
            "payload": {"buttons": [b.to_json() for b in o.message.buttons]},
            "author_user_id": o.author_user_id,
            "created_at": o.now,
        }
        for o in pending
    ]
    if len(pending) == 1 and session.get_bind().dialect.name == "postgresql":
        # Most turns write one reply: on PostgreSQL its message and outbox row go in one statement.
        row = {f"o_{k}": v for k, v in _outbox_row(pending[0], 0).items() if k != "message_id"}
        params = {f"m_{k}": v for k, v in messages[0].items()} | row
        # The turn's carried writes (its timers) ride in the same statement.
        written = (await execute_carrying(session, _INSERT_REPLY, params))[0]
        outbox_ids, message_ids = [int(written[0])], [int(written[1])]
    else:
        message_ids = await _insert_returning_ids(session, INSERT_MESSAGE, _INSERT_MESSAGES_MANY, messages)
        rows = [_outbox_row(o, message_id) for o, message_id in zip(pending, message_ids, strict=True)]
        outbox_ids = await _insert_returning_ids(session, _INSERT_OUTBOX, _INSERT_OUTBOX_MANY, rows)
    for o, outbox_id, message_id in zip(pending, outbox_ids, message_ids, strict=True):
        o.outbox_id, o.message_id = outbox_id, message_id
        data = {
            "message_id": message_id,
            "direction": "out",
            "channel": o.ref.channel,
            "type": "text",
            "text": o.message.text,
            "author_user_id": o.author_user_id,
        }
        live.stage(session, live.LiveEvent("message", o.conversation_id, None, data, o.now))


DELIVERED = "delivered"


def delivered(conversation_id: int, ref: ConversationRef, outbox_id: int, now: datetime) -> live.LiveEvent:
    """The live event saying a reply is recorded as sent, addressed by channel and the client's id there."""
    data = {"channel": ref.channel, "external_user_id": ref.external_user_id, "outbox_id": outbox_id}
    return live.LiveEvent(DELIVERED, conversation_id, None, data, now)


@dataclass(frozen=True, slots=True)
class _Claim:
    """A row this worker holds the lease of."""

    row_id: int
    conversation_id: int
    ref: ConversationRef
    message: OutboundMessage
    attempts: int
    message_id: int | None = None


class OutboxDispatcher:
    """Claims outbox rows atomically and sends them through their channels, many conversations at a time."""

    def __init__(
        self,
        db: Database,
        registry: ChannelRegistry,
        clock: Clock,
        max_attempts: int = MAX_ATTEMPTS,
        concurrency: int = 16,
    ) -> None:
        self.db = db
        self.registry = registry
        self.clock = clock
        self.queue = leased(max_attempts)
        # Built once: every send's result goes through it.
        self._settle_each = self.queue.settle_each()
        self.concurrency = concurrency

    async def deliver_due(self, limit: int = 200) -> int:
        """Deliver what is due across all conversations (start-up recovery and the periodic sweep)."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            rows = await session.execute(
                select(OutboxMessage.conversation_id)
                .where(self.queue.claimable(now))
                .order_by(OutboxMessage.id)
                .limit(limit)
            )
            conversations = list(dict.fromkeys(rows.scalars()))
        return await self.deliver_many(conversations) if conversations else 0

    async def expire_stale(self, cutoff: timedelta) -> int:
        """Unsent replies written longer than `cutoff` ago are not sent blindly: failed, with the reason.

        After a restore from an older backup (or a long outage) the outbox holds replies to conversations
        that have since moved on; a person decides what to resend. Parked rows wait for the client and stay.
        """
        now = self.clock.now()
        async with self.db.transaction() as session:
            result = await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status.in_((PENDING, SENDING)), OutboxMessage.created_at < now - cutoff)
                .values(status=FAILED, lease_until=None, last_error=f"{STALE}: written more than {cutoff} ago")
                .execution_options(synchronize_session=False)
            )
        expired = cast(CursorResult[Any], result).rowcount
        if expired:
            log.warning("%s unsent replies older than %s not sent (restored backup or long outage)", expired, cutoff)
        return expired

    async def answered_in_response(self, outbox_ids: list[int]) -> bool:
        """Mark held rows as sent because the webhook's own response carried them (WeChat's passive reply).

        True only if every row was still unclaimed; otherwise nothing changes and the dispatcher sends them.
        """
        if not outbox_ids:
            return True
        now = self.clock.now()
        async with self.db.transaction() as session:
            result = await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(outbox_ids), OutboxMessage.status == PENDING)
                .values(
                    status=SENT,
                    sent_at=now,
                    attempts=OutboxMessage.attempts + 1,
                    last_error=None,
                    external_id=IN_RESPONSE,
                )
                .execution_options(synchronize_session=False)
            )
            if cast(CursorResult[Any], result).rowcount != len(outbox_ids):
                await session.rollback()
                return False
        return True

    async def resend(self, outbox_ids: list[int]) -> None:
        """Rows written as answered in a response that never went out (the request was cancelled): send them."""
        if not outbox_ids:
            return
        now = self.clock.now()
        async with self.db.transaction() as session:
            conversations = (
                (
                    await session.execute(
                        update(OutboxMessage)
                        .where(OutboxMessage.id.in_(outbox_ids), OutboxMessage.status == SENT)
                        .values(status=PENDING, sent_at=None, attempts=0, next_attempt_at=now, external_id=None)
                        .returning(OutboxMessage.conversation_id)
                        .execution_options(synchronize_session=False)
                    )
                )
                .scalars()
                .all()
            )
        await self.deliver_many(list(dict.fromkeys(conversations)))

    async def replies_for_retry(
        self, channel: str, account: str, external_id: str, *, max_text: int
    ) -> list[OutboundMessage]:
        """What a webhook's retry of an already stored client message should carry in its own response.

        A network that retries a webhook (WeChat, after 5 s without an answer) never got the first response.
        If that response carried the replies, or they are still held for it, the retry carries them now; if
        they already went out another way (customer-service messages), the retry carries nothing.
        """
        async with self.db.transaction() as session:
            inbound = (
                await session.execute(
                    select(Message.id).where(
                        Message.channel == channel, Message.account == account, Message.external_id == external_id
                    )
                )
            ).scalar_one_or_none()
            if inbound is None:
                return []
            rows = list(
                (
                    await session.execute(
                        select(OutboxMessage).where(OutboxMessage.in_reply_to == inbound).order_by(OutboxMessage.id)
                    )
                ).scalars()
            )
        if not rows:
            return []
        messages = [OutboundMessage.from_json(r.payload) for r in rows]
        if all(r.status == SENT and r.external_id == IN_RESPONSE for r in rows):
            return messages
        fits = len("\n".join(m.text for m in messages if m.text)) <= max_text
        held = all(r.status == PENDING for r in rows)
        if fits and held and await self.answered_in_response([r.id for r in rows]):
            return messages
        return []

    async def send_held_now(self, outbox_ids: list[int]) -> None:
        """Make held rows due now (the webhook could not answer in time) and deliver them."""
        if not outbox_ids:
            return
        now = self.clock.now()
        async with self.db.transaction() as session:
            conversations = (
                (
                    await session.execute(
                        update(OutboxMessage)
                        .where(OutboxMessage.id.in_(outbox_ids), OutboxMessage.status == PENDING)
                        .values(next_attempt_at=now)
                        .returning(OutboxMessage.conversation_id)
                        .execution_options(synchronize_session=False)
                    )
                )
                .scalars()
                .all()
            )
        await self.deliver_many(list(dict.fromkeys(conversations)))

    async def deliver_conversation(self, conversation_id: int) -> int:
        return await self.deliver_many([conversation_id])

    async def deliver_many(self, conversation_ids: list[int]) -> int:
        """Send each conversation's rows in id order; a conversation stops at its first row that must wait.

        Each send's result is recorded as soon as its call returns, not when the slowest send of a batch does:
        a crash then repeats only the sends that were on the wire. Results that return while the previous ones
        are being written are written together, so a busy sweep still takes few transactions.
        """
        return await self._deliver(await self._settle_and_claim(conversation_ids, []))

    async def deliver_turn(self, conversation_id: int, outgoing: list[Outgoing]) -> int:
        """Deliver a turn's replies after its commit: rows it wrote claimed go without a claim of their own."""
        claims = [c for c in (o.claim() for o in outgoing) if c is not None]
        if not claims:
            return await self.deliver_many([conversation_id])
        return await self._deliver(await self._renewed(claims, outgoing[0].now))

    async def _renewed(self, claims: list[_Claim], claimed_at: datetime) -> list[_Claim]:
        """The claims still ours: a lease half gone (the send waited for a slot) is extended first, if unexpired."""
        now = self.clock.now()
        if now < claimed_at + LEASE / 2:
            return claims
        async with self.db.transaction() as session:
            kept = await session.execute(
                self.queue.renew([(c.row_id, c.attempts) for c in claims], now).returning(OutboxMessage.id)
            )
            ours = set(kept.scalars())
        return [c for c in claims if c.row_id in ours]

    async def _deliver(self, claims: list[_Claim]) -> int:
        sent = 0
        gate = asyncio.Semaphore(self.concurrency)
        sending = {asyncio.create_task(self._send(claim, gate)) for claim in claims}
        try:
            while sending:
                done, sending = await asyncio.wait(sending, return_when=asyncio.FIRST_COMPLETED)
                outcomes = [task.result() for task in done]
                sent += sum(1 for o in outcomes if o.status == SENT)
                # A conversation whose head must wait (backoff) is done for now; the others go on.
                moving = [o.claim.conversation_id for o in outcomes if o.status in (SENT, FAILED, PARKED)]
                claims = await self._settle_and_claim(moving, outcomes)
                sending |= {asyncio.create_task(self._send(claim, gate)) for claim in claims}
        finally:
            # Cancelled (shutdown): sends still on the wire keep their lease and go again after it.
            for task in sending:
                task.cancel()
            if sending:
                await asyncio.gather(*sending, return_exceptions=True)
        return sent

    async def _send(self, claim: _Claim, gate: asyncio.Semaphore) -> _Outcome:
        async with gate:
            try:
                result = await self.registry.get(claim.ref.channel).send(claim.ref, claim.message)
            except Throttled as exc:
                # Being asked to slow down is not a failure: the attempt is given back.
                verdict = self.queue.given_back(claim.attempts, str(exc), self.clock.now(), exc.retry_after or 1.0)
                return _Outcome(claim, verdict)
            except TransientSendError as exc:
                return self._transient(claim, str(exc), exc.retry_after)
            except WindowClosed as exc:
                return _Outcome(claim, Verdict(PARKED, claim.attempts, error=str(exc)))
            except RecipientGone as exc:
                log.warning(
                    "outbox row %s (%s) not delivered, recipient gone: %s", claim.row_id, claim.ref.channel, exc
                )
                return _Outcome(claim, Verdict(FAILED, claim.attempts, error=str(exc)), gone=True)
            except PermanentSendError as exc:
                # Given up for good: the log says so, not only the row and the console.
                log.warning("outbox row %s (%s) refused for good: %s", claim.row_id, claim.ref.channel, exc)
                return _Outcome(claim, Verdict(FAILED, claim.attempts, error=str(exc)))
            except Exception as exc:
                # An adapter bug must not kill the dispatcher; treat it as transient and keep the reason.
                log.exception("outbox send of row %s failed", claim.row_id)
                return self._transient(claim, f"{type(exc).__name__}: {exc}", None)
            return _Outcome(claim, self.queue.succeeded(claim.attempts), result=result)

    def _transient(self, claim: _Claim, error: str, retry_after: float | None) -> _Outcome:
        verdict = self.queue.failed_attempt(claim.attempts, error, self.clock.now(), retry_after=retry_after)
        if verdict.status == FAILED:
            log.warning("outbox row %s failed after %s attempts: %s", claim.row_id, claim.attempts, error)
        return _Outcome(claim, verdict)

    async def _settle_and_claim(self, conversation_ids: list[int], outcomes: list[_Outcome]) -> list[_Claim]:
        """Record the outcomes of the last sends, then claim each conversation's next row.

        The results commit first, in their own urgent transaction: until then a crash repeats the sends, so
        they neither wait behind turns for a place nor for the next rows' claim.
        """
        if outcomes:
            await self._settle(outcomes)
        if not conversation_ids:
            return []
        return await self._claim_heads(conversation_ids)

    async def _settle(self, outcomes: list[_Outcome]) -> None:
        now = self.clock.now()
        # One executemany; a claim taken over meanwhile (its lease ran out) is not ours to settle.
        results = [
            self.queue.values(o.verdict)
            | {
                "claimed_id": o.claim.row_id,
                "claimed_attempts": o.claim.attempts,
                "sent_at": now if o.status == SENT else None,
                "external_id": o.result.external_id if o.result else None,
                "next_attempt_at": o.verdict.retry_at or now,
            }
            for o in outcomes
        ]
        announced = [
            delivered(o.claim.conversation_id, o.claim.ref, o.claim.row_id, now)
            for o in outcomes
            if o.status == SENT and o.result is not None and o.result.announce
        ]
        sent = [o.claim for o in outcomes if o.status == SENT]
        gone = [o.claim.conversation_id for o in outcomes if o.gone]
        if not gone and not any(_stops_first_response_clock(c) for c in sent):
            # Only the rows' results, each standing alone: written without a transaction around them.
            await self.db.execute_alone(self._settle_each, results, urgent=True)
            if announced:
                await self.db.live.publish_all(announced)
            return
        async with self.db.transaction(urgent=True) as session:
            await session.execute(self._settle_each, results)
            # What follows records what this send did, whoever holds the row now.
            await _first_responses(session, sent, now)
            for event in announced:
                # Published once this transaction has committed: the reader then finds the row sent.
                live.stage(session, event)
            if gone:
                # No endless retries toward a client who blocked us: the identity is unreachable until it writes.
                identities = select(Conversation.identity_id).where(Conversation.id.in_(gone))
                await session.execute(
                    update(ChannelIdentity)
                    .where(ChannelIdentity.id.in_(identities.scalar_subquery()))
                    .values(reachable=False)
                    .execution_options(synchronize_session=False)
                )

    async def _claim_heads(self, conversation_ids: list[int]) -> list[_Claim]:
        """Claim each conversation's oldest unsent row, if it may go now: one UPDATE … RETURNING.

        Only a conversation's oldest unsent row may go, so order holds per conversation: a head that must wait
        (its backoff, another worker's lease) holds back the rows behind it. The claim takes only rows still
        claimable, so one another worker took meanwhile is skipped.
        """
        now = self.clock.now()
        heads = (
            select(func.min(OutboxMessage.id))
            .where(OutboxMessage.conversation_id.in_(conversation_ids))
            .where(OutboxMessage.status.in_((PENDING, SENDING)))
            .group_by(OutboxMessage.conversation_id)
        )
        claim = self.queue.claim(now, OutboxMessage.id.in_(heads)).returning(
            OutboxMessage.id,
            OutboxMessage.conversation_id,
            OutboxMessage.ref,
            OutboxMessage.payload,
            OutboxMessage.attempts,
            OutboxMessage.message_id,
        )
        claimed = await self.db.execute_alone(claim)
        claims = [
            _Claim(row_id, conversation_id, ConversationRef.from_json(ref), OutboundMessage.from_json(payload),
                   attempts, message_id)
            for row_id, conversation_id, ref, payload, attempts, message_id in claimed
        ]  # fmt: skip
        # RETURNING gives no order; the conversations' sends start in the order of their rows.
        return sorted(claims, key=lambda c: c.row_id)


def _stops_first_response_clock(sent: _Claim) -> bool:
    """A rep's reply that reached the client stops its ticket's first-response clock (once, at delivery)."""
    return sent.message.kind == MessageKind.REP_REPLY.value


async def _first_responses(session: AsyncSession, sent: list[_Claim], now: datetime) -> None:
    """Stop the first-response clock of the tickets whose rep's reply was among `sent`."""
    replies = {c.conversation_id: c.message_id for c in sent if _stops_first_response_clock(c)}
    if not replies:
        return
    rows = await session.execute(
        select(Ticket, Message.author_user_id)
        .join(Conversation, Conversation.ticket_id == Ticket.id)
        .join(Message, Message.id.in_(list(replies.values())) & (Message.conversation_id == Conversation.id))
        .where(Conversation.id.in_(list(replies)), Ticket.first_response_at.is_(None))
    )
    for ticket, author in rows:
        ticket.first_response_at = now
        ticket.updated_at = now
        actor = f"user:{author}" if author is not None else "bot"
        session.add(
            TicketEvent(
                ticket_id=ticket.id,
                actor=actor,
                kind="first_response",
                before=ticket.status,
                after=ticket.status,
                data={},
                created_at=now,
            )
        )


@dataclass(frozen=True, slots=True)
class _Outcome:
    """How one send ended: sent, failed for good, parked, or pending again until the verdict's retry_at."""

    claim: _Claim
    verdict: Verdict
    result: SendResult | None = None
    gone: bool = False

    @property
    def status(self) -> str:
        return self.verdict.status


async def unpark(session: AsyncSession, conversation_id: int, now: datetime) -> int:
    """The client wrote again, so the reply window is open: parked rows become due, oldest first."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.conversation_id == conversation_id, OutboxMessage.status == PARKED)
        .values(status=PENDING, next_attempt_at=now, last_error=None)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount
