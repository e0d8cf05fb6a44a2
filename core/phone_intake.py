"""Calls logged by reps: the client found or created, the bot's details form checked, a ticket on channel "phone"."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import outbox
from core.db.models import ChannelIdentity, Client, Conversation, Ticket
from core.dialogue.forms import CATEGORIES, Forms, normalize_phone, validate
from core.dialogue.model import State
from core.errors import KefuError, NotFound
from core.messages import ConversationRef, OutboundMessage
from core.outbox import Outgoing
from core.texts import Texts
from core.tickets.desk import TicketDesk

PHONE = "phone"
MAX_NOTES = 4000


class CallNotValid(KefuError):
    """The call's form has problems: text keys by field ("form.required", "form.bad_phone", …)."""

    status_code = 422

    def __init__(self, problems: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = dict(problems)


@dataclass(frozen=True, slots=True)
class NewClient:
    """A caller the console does not know yet."""

    name: str
    company: str = ""
    phone: str = ""


@dataclass(frozen=True, slots=True)
class Call:
    """What the rep typed while on the phone."""

    category: str
    details: Mapping[str, str]
    notes: str = ""
    client_id: int | None = None
    new_client: NewClient | None = None


@dataclass(slots=True)
class Recorded:
    """The ticket made of the call, and where (if anywhere) the client was told its number."""

    ticket: Ticket
    told_on: str | None = None
    outgoing: list[Outgoing] = field(default_factory=list)


def check_details(forms: Forms, category: str, details: Mapping[str, str], skip_words: Iterable[str]) -> dict[str, str]:
    """The form's details as the bot would store them; CallNotValid naming each field that is wrong."""
    if category not in CATEGORIES:
        raise CallNotValid({"category": "phone.bad_category"})
    specs = forms.slots(category)
    known = {spec.name for spec in specs}
    problems = {name: "phone.unknown_field" for name in details if name not in known}
    skip = {w.lower() for w in skip_words}
    clean: dict[str, str] = {}
    for spec in specs:
        answer = str(details.get(spec.name, "") or "").strip()
        if not answer and not spec.required:
            continue
        checked = validate(spec, answer, skip)
        if checked.error is not None:
            problems[spec.name] = checked.error
        elif checked.value:
            clean[spec.name] = checked.value
    if problems:
        raise CallNotValid(problems)
    return clean


async def _client(session: AsyncSession, call: Call, now: datetime) -> Client:
    if call.client_id is not None:
        client = await session.get(Client, call.client_id)
        if client is None:
            raise NotFound(f"client {call.client_id} does not exist")
        return client
    new = call.new_client
    if new is None or not new.name.strip():
        raise CallNotValid({"client": "form.required"})
    phone = normalize_phone(new.phone) if new.phone.strip() else None
    if new.phone.strip() and phone is None:
        raise CallNotValid({"client.phone": "form.bad_phone"})
    client = Client(name=new.name.strip()[:128], company=new.company.strip()[:200], phone=phone, created_at=now)
    session.add(client)
    await session.flush()
    return client


async def _phone_conversation(session: AsyncSession, client: Client, language: str, now: datetime) -> Conversation:
    """The client's "phone" conversation: one per client, like one per WeChat follower."""
    ref = ConversationRef(channel=PHONE, external_user_id=f"client:{client.id}")
    query = select(ChannelIdentity).where(
        ChannelIdentity.channel == PHONE,
        ChannelIdentity.account == ref.account,
        ChannelIdentity.external_id == ref.external_user_id,
    )
    identity = (await session.execute(query)).scalar_one_or_none()
    if identity is None:
        try:
            async with session.begin_nested():
                identity = ChannelIdentity(
                    client_id=client.id,
                    channel=PHONE,
                    account=ref.account,
                    external_id=ref.external_user_id,
                    display_name=client.name or None,
                    # Nothing can be sent on a phone line: follow-ups go where the client writes, or to the rep.
                    reachable=False,
                    created_at=now,
                )
                session.add(identity)
                await session.flush()
        except IntegrityError:
            identity = (await session.execute(query)).scalar_one()
    conversation = (
        await session.execute(select(Conversation).where(Conversation.identity_id == identity.id).with_for_update())
    ).scalar_one_or_none()
    if conversation is None:
        conversation = Conversation(
            identity_id=identity.id,
            client_id=client.id,
            channel=PHONE,
            ref=ref.to_json(),
            state=State.TICKET_OPEN.value,
            slots={},
            context={},
            language=client.language or language,
            created_at=now,
            updated_at=now,
        )
        session.add(conversation)
        await session.flush()
    return conversation


async def _written_conversation(session: AsyncSession, client_id: int) -> Conversation | None:
    """The conversation the client last wrote in on a channel kefu can write to, if any."""
    query = (
        select(Conversation)
        .join(ChannelIdentity, ChannelIdentity.id == Conversation.identity_id)
        .where(
            Conversation.client_id == client_id,
            Conversation.channel != PHONE,
            ChannelIdentity.reachable.is_(True),
        )
        .order_by(Conversation.last_inbound_at.desc().nulls_last(), Conversation.id.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def record_call(
    session: AsyncSession,
    call: Call,
    *,
    rep_id: int,
    forms: Forms,
    desk: TicketDesk,
    texts: Texts,
    skip_words: Iterable[str],
    language: str,
    now: datetime,
) -> Recorded:
    """Steps 1 and 2 for a call, in the caller's transaction: routed, prioritised and on the SLA clock like any ticket.

    The rep spoke to the client, so the first response is given; the call notes are the ticket's first note.
    When the client writes to kefu on some channel, the ticket number is queued to them there.
    """
    details = check_details(forms, call.category, call.details, skip_words)
    if len(call.notes) > MAX_NOTES:
        raise CallNotValid({"notes": "phone.notes_too_long"})
    client = await _client(session, call, now)
    conversation = await _phone_conversation(session, client, language, now)
    ticket = await desk.open(
        session, conversation, client, call.category, details, handoff=False, now=now, classification={"picked": True}
    )
    conversation.ticket_id = ticket.id
    conversation.holder_user_id = rep_id
    conversation.updated_at = now
    ticket.first_response_at = now
    actor = f"user:{rep_id}"
    await desk.record(session, ticket, "call_logged", actor, now, {"user_id": rep_id, "notes": call.notes.strip()})
    recorded = Recorded(ticket)
    written = await _written_conversation(session, client.id)
    if written is not None:
        text = texts.get("phone.ticket_registered", written.language, ticket_no=ticket.number)
        message = OutboundMessage(text)
        ref = ConversationRef.from_json(written.ref)
        recorded.outgoing.append(outbox.queue(session, Outgoing(written.id, ref, message, now)))
        recorded.told_on = written.channel
        await outbox.write_queued(session)
    return recorded
