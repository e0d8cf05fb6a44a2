"""Persistence of conversations: identities and their conversation rows, locks, and inbound messages."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    LABEL_STYLE_TABLENAME_PLUS_COL,
    Select,
    Table,
    Update,
    bindparam,
    delete,
    exists,
    func,
    insert,
    inspect,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.base import NO_VALUE
from sqlalchemy.orm.util import identity_key

from core.db import direct
from core.db.adopted import Adoptable, loaded
from core.db.models import ChannelIdentity, Client, Conversation, OutboxMessage, Ticket
from core.db.session import carry, execute_carrying
from core.dialogue.model import State
from core.errors import NotFound
from core.messages import Direction, InboundMessage
from core.outbox import INSERT_MESSAGE, MESSAGE_COLUMNS, MESSAGES, PARKED, PENDING, SENDING


class DuplicateMessage(Exception):
    """The external message id was seen before on this channel account."""


# Outbox statuses of replies that have not reached the client yet.
UNSENT = (PENDING, SENDING, PARKED)


# The sender's four rows, read as plain columns and placed in the session (`Adoptable`): an ORM select of four
# entities costs more CPU in SQLAlchemy's per-execution set-up and loading than the rest of its round trip.
_CONVERSATION_ROW = Adoptable.of(Conversation)
_IDENTITY_ROW = Adoptable.of(ChannelIdentity)
_CLIENT_ROW = Adoptable.of(Client)
_KNOWN_ROWS: tuple[Adoptable[Any], ...] = (_CONVERSATION_ROW, _IDENTITY_ROW, _CLIENT_ROW, Adoptable.of(Ticket))
# The flags (unsent, parked) follow the four rows' columns.
_KNOWN_WIDTH = sum(len(rows.columns) for rows in _KNOWN_ROWS)
_KNOWN_SENDER = (
    select(
        *(column for rows in _KNOWN_ROWS for column in rows.columns),
        exists()
        .where(
            OutboxMessage.conversation_id == Conversation.id,
            # Compared one by one, not IN (…): an IN list expands at execution, which a statement run directly cannot.
            or_(*(OutboxMessage.status == status for status in UNSENT)),
        )
        .label("unsent"),
        # Parked rows only wait for a channel's reply window (WeChat's 48 hours); elsewhere there are none, and a
        # reply still on its way (pending, sending) needs no unpark UPDATE.
        exists()
        .where(OutboxMessage.conversation_id == Conversation.id, OutboxMessage.status == PARKED)
        .label("parked"),
    )
    .select_from(Conversation)
    .join(ChannelIdentity, ChannelIdentity.id == Conversation.identity_id)
    .join(Client, Client.id == ChannelIdentity.client_id)
    .outerjoin(Ticket, Ticket.id == Conversation.ticket_id)
    .where(
        ChannelIdentity.channel == bindparam("channel"),
        ChannelIdentity.account == bindparam("account"),
        ChannelIdentity.external_id == bindparam("external_id"),
    )
    # Only the conversation row: FOR UPDATE on the join would also lock the client and the ticket.
    .with_for_update(of=Conversation.__table__)
)
# A known sender's turn on PostgreSQL: the same lookup, and the client's message stored by the same statement (one
# round trip fewer). The message's parameters are named apart from the lookup's (its external id is the message's).
_KNOWN = _KNOWN_SENDER.set_label_style(LABEL_STYLE_TABLENAME_PLUS_COL).cte("known")
_INBOUND_VALUES = tuple(c for c in MESSAGE_COLUMNS if c != "conversation_id")
_STORED = (
    insert(MESSAGES)
    .from_select(
        ["conversation_id", *_INBOUND_VALUES],
        select(_KNOWN.c[0], *(bindparam(f"in_{c}", type_=MESSAGES.c[c].type) for c in _INBOUND_VALUES)),
    )
    .returning(MESSAGES.c.id)
    .cte("stored")
)
_KNOWN_SENDER_STORING = select(*_KNOWN.c, _STORED.c.id).select_from(_KNOWN).join(_STORED, true())


def _insert_values(adoptable: Adoptable[Any], given: tuple[str, ...], prefix: str) -> dict[str, Any]:
    """Bound parameters for a new row's columns but its id and the `given` ones (named `prefix` + column)."""
    return {
        c.name: bindparam(f"{prefix}{c.name}", type_=c.type)
        for c in adoptable.columns
        if not c.primary_key and c.name not in given
    }


def _row_defaults(adoptable: Adoptable[Any], prefix: str) -> dict[str, Any]:
    """What a new row's columns hold unless given, as the ORM would write them: the models' `default=`, else NULL
    where the column takes it; named as `_insert_values` names them."""
    values: dict[str, Any] = {}
    for c in adoptable.columns:
        default: Any = c.default
        if c.primary_key:
            continue
        if default is not None:
            values[f"{prefix}{c.name}"] = default.arg if default.is_scalar else default.arg(None)
        elif c.nullable:
            values[f"{prefix}{c.name}"] = None
    return values


# A first contact on PostgreSQL: the client, the identity, the conversation and the message in one statement, where
# the ORM takes a query, a savepoint, four INSERTs and their flushes. The client is made only while no identity has
# the address (one without a conversation goes the ORM's way); should another transaction make the identity
# meanwhile, ON CONFLICT leaves the rest unmade and the turn goes the ORM's way too, without the client.
_CLIENTS = cast(Table, Client.__table__)
_IDENTITIES = cast(Table, ChannelIdentity.__table__)
_CONVERSATIONS = cast(Table, Conversation.__table__)
_ADDRESS = ("channel", "account", "external_id")
_ADDRESS_TAKEN = exists().where(*(_IDENTITIES.c[n] == bindparam(n, type_=_IDENTITIES.c[n].type) for n in _ADDRESS))
_NEW_CLIENT_VALUES = _insert_values(_CLIENT_ROW, (), "client_")
_NEW_CLIENT = (
    insert(_CLIENTS)
    .from_select(list(_NEW_CLIENT_VALUES), select(*_NEW_CLIENT_VALUES.values()).where(~_ADDRESS_TAKEN))
    .returning(*_CLIENTS.c)
    .cte("new_client")
)
_NEW_IDENTITY_VALUES = _insert_values(_IDENTITY_ROW, ("client_id", *_ADDRESS), "identity_") | {
    n: bindparam(n, type_=_IDENTITIES.c[n].type) for n in _ADDRESS
}
_NEW_IDENTITY = (
    pg_insert(_IDENTITIES)
    .from_select(["client_id", *_NEW_IDENTITY_VALUES], select(_NEW_CLIENT.c.id, *_NEW_IDENTITY_VALUES.values()))
    .on_conflict_do_nothing(index_elements=list(_ADDRESS))
    .returning(*_IDENTITIES.c)
    .cte("new_identity")
)
_NEW_CONVERSATION_VALUES = _insert_values(_CONVERSATION_ROW, ("identity_id", "client_id"), "conversation_")
_NEW_CONVERSATION = (
    insert(_CONVERSATIONS)
    .from_select(
        ["identity_id", "client_id", *_NEW_CONVERSATION_VALUES],
        select(_NEW_IDENTITY.c.id, _NEW_IDENTITY.c.client_id, *_NEW_CONVERSATION_VALUES.values()),
    )
    .returning(*_CONVERSATIONS.c)
    .cte("new_conversation")
)
_NEW_MESSAGE = (
    insert(MESSAGES)
    .from_select(
        ["conversation_id", *_INBOUND_VALUES],
        select(_NEW_CONVERSATION.c.id, *(bindparam(f"in_{c}", type_=MESSAGES.c[c].type) for c in _INBOUND_VALUES)),
    )
    .returning(MESSAGES.c.id)
    .cte("new_message")
)
_FIRST_CONTACT = (
    select(*_NEW_CLIENT.c, *_NEW_IDENTITY.c, *_NEW_CONVERSATION.c, _NEW_MESSAGE.c.id)
    .select_from(_NEW_CLIENT)
    .outerjoin(_NEW_IDENTITY, true())
    .outerjoin(_NEW_CONVERSATION, true())
    .outerjoin(_NEW_MESSAGE, true())
    .set_label_style(LABEL_STYLE_TABLENAME_PLUS_COL)
)
_FIRST_CONTACT_DEFAULTS = (
    _row_defaults(_CLIENT_ROW, "client_")
    | _row_defaults(_IDENTITY_ROW, "identity_")
    | _row_defaults(_CONVERSATION_ROW, "conversation_")
)
# First contacts' lookups, built once like the rest.
_IDENTITY = select(ChannelIdentity).where(
    ChannelIdentity.channel == bindparam("channel"),
    ChannelIdentity.account == bindparam("account"),
    ChannelIdentity.external_id == bindparam("external_id"),
)
_CONVERSATION_OF = select(Conversation.id).where(Conversation.identity_id == bindparam("identity_id"))


def _sender(msg: InboundMessage) -> dict[str, str]:
    """The parameters naming the sender's channel identity (`_KNOWN_SENDER`, `_IDENTITY`)."""
    return {"channel": msg.ref.channel, "account": msg.ref.account, "external_id": msg.ref.external_user_id}


class KnownSender(NamedTuple):
    """A known sender's rows (the conversation locked) and what waits in the conversation's outbox."""

    client: Client
    identity: ChannelIdentity
    conversation: Conversation
    # Replies not sent yet (pending, sending or parked): this turn's go after them.
    unsent: bool
    # Replies parked until the client writes again (a closed reply window): this message unparks them.
    parked: bool


async def lock_known_sender(session: AsyncSession, msg: InboundMessage) -> KnownSender | None:
    """A known sender's client, identity and conversation (locked), in one query; None on first contact.

    The conversation's open ticket comes along into the session, so the turn looks it up without a query.
    The flags say whether replies wait unsent, and parked (so most turns skip the unpark UPDATE).
    """
    rows = await direct.fetch(session, _KNOWN_SENDER, _sender(msg))
    return await _adopt_known(session, rows[0]) if rows else None


async def lock_known_sender_storing(
    session: AsyncSession, msg: InboundMessage, now: datetime, max_chars: int
) -> tuple[KnownSender, int] | None:
    """`lock_known_sender`, and the message stored as `store_inbound` stores it (its id beside the rows).

    On PostgreSQL both are one statement, with the writes the turn carried so far; elsewhere two. None on first
    contact, and then nothing is stored. A repeated external id raises DuplicateMessage.
    """
    if session.get_bind().dialect.name != "postgresql":
        known = await lock_known_sender(session, msg)
        return None if known is None else (known, await store_inbound(session, known[2], msg, now, max_chars))
    row = await _row_storing(session, _KNOWN_SENDER_STORING, _sender(msg), msg, now, max_chars)
    return None if row is None else (await _adopt_known(session, row), int(row[-1]))


async def _row_storing(
    session: AsyncSession,
    statement: Select[Any],
    params: dict[str, Any],
    msg: InboundMessage,
    now: datetime,
    max_chars: int,
) -> Sequence[Any] | None:
    """The row of a statement that also stores the client's message (its `in_` parameters), with the writes carried
    so far; None when it returns none. A repeated external id raises DuplicateMessage."""
    stored = {f"in_{k}": v for k, v in _inbound_row(msg, now, max_chars).items()}
    try:
        rows = await execute_carrying(session, statement, params | stored)
    except IntegrityError:
        raise DuplicateMessage(msg.external_id) from None
    return rows[0] if rows else None


def _split(row: Sequence[Any], adoptables: Sequence[Adoptable[Any]]) -> list[Sequence[Any]]:
    """A result row cut into the values of each adoptable's row, in order (what follows them is left out)."""
    parts = []
    start = 0
    for adoptable in adoptables:
        parts.append(row[start : start + len(adoptable.columns)])
        start += len(adoptable.columns)
    return parts


async def _adopt_known(session: AsyncSession, row: Sequence[Any]) -> KnownSender:
    """The rows of `_KNOWN_SENDER`'s result in the session: the conversation, identity, client and open ticket."""
    found: list[object | None] = []
    for adoptable, values in zip(_KNOWN_ROWS, _split(row, _KNOWN_ROWS), strict=True):
        if values[0] is None:
            found.append(None)  # no open ticket (the outer join's empty side)
        else:
            # Already in the session (a second lookup in one transaction): the row just read wins, as a query with
            # populate_existing would have it.
            found.append(await adoptable.placed(session, values, refresh=True))
    conversation, identity, client, _ticket = found
    return KnownSender(
        cast(Client, client),
        cast(ChannelIdentity, identity),
        cast(Conversation, conversation),
        unsent=bool(row[_KNOWN_WIDTH]),
        parked=bool(row[_KNOWN_WIDTH + 1]),
    )


async def create_first_contact(
    session: AsyncSession, msg: InboundMessage, now: datetime, language: str, max_chars: int
) -> tuple[Client, ChannelIdentity, Conversation, int] | None:
    """A new sender's client, identity and conversation made and his message stored, in one statement (PostgreSQL).

    None where the ORM's way must run (`find_or_create_identity`, `find_or_create_conversation`, `store_inbound`): on
    SQLite, for an e-mail sender (his address may name a client already), and when the address has an identity
    already (one without a conversation, or another transaction's first contact a moment ago). A repeated external
    id raises DuplicateMessage.
    """
    if msg.email or session.get_bind().dialect.name != "postgresql":
        return None
    params = (
        _FIRST_CONTACT_DEFAULTS
        | _sender(msg)
        | {"client_name": msg.display_name or "", "client_language": msg.language, "client_created_at": now}
        | {"identity_display_name": msg.display_name, "identity_created_at": now}
        | {
            "conversation_channel": msg.ref.channel,
            "conversation_ref": msg.ref.to_json(),
            "conversation_state": State.NEW.value,
            "conversation_language": language,
            "conversation_created_at": now,
            "conversation_updated_at": now,
        }
    )
    row = await _row_storing(session, _FIRST_CONTACT, params, msg, now, max_chars)
    if row is None:
        return None
    client_values, identity_values, conversation_values = _split(row, (_CLIENT_ROW, _IDENTITY_ROW, _CONVERSATION_ROW))
    if identity_values[0] is None:
        # Another transaction gave the address an identity meanwhile: its client stands, this one goes.
        await session.execute(delete(Client).where(Client.id == client_values[0]))
        return None
    return (
        _CLIENT_ROW.adopt(session, client_values),
        _IDENTITY_ROW.adopt(session, identity_values),
        _CONVERSATION_ROW.adopt(session, conversation_values),
        int(row[-1]),
    )


async def find_or_create_identity(
    session: AsyncSession, msg: InboundMessage, now: datetime
) -> tuple[Client, ChannelIdentity, bool]:
    """The client and channel identity that sent `msg`, created on first contact (then the flag is True)."""
    params = _sender(msg)
    identity = (await session.execute(_IDENTITY, params)).scalar_one_or_none()
    created = False
    if identity is None:
        try:
            async with session.begin_nested():
                client = await _client_by_email(session, msg.email) if msg.email else None
                if client is None:
                    client = Client(name=msg.display_name or "", language=msg.language, email=msg.email, created_at=now)
                    session.add(client)
                    await session.flush()
                identity = ChannelIdentity(
                    client_id=client.id,
                    channel=msg.ref.channel,
                    account=msg.ref.account,
                    external_id=msg.ref.external_user_id,
                    display_name=msg.display_name,
                    created_at=now,
                )
                session.add(identity)
                await session.flush()
            created = True
        except IntegrityError:
            # Another process created the same identity a moment ago; use theirs.
            identity = (await session.execute(_IDENTITY, params)).scalar_one()
    client_row = await loaded(session, Client, identity.client_id)
    assert client_row is not None
    return client_row, identity, created


async def _client_by_email(session: AsyncSession, address: str) -> Client | None:
    """The client the console records with this e-mail address (the oldest, should two share it)."""
    query = select(Client).where(func.lower(Client.email) == address.lower()).order_by(Client.id).limit(1)
    return (await session.execute(query)).scalar_one_or_none()


async def find_or_create_conversation(
    session: AsyncSession,
    client: Client,
    identity: ChannelIdentity,
    msg: InboundMessage,
    now: datetime,
    language: str,
    *,
    new_identity: bool = False,
) -> tuple[Conversation, bool]:
    """The identity's conversation, created on first contact (then the flag is True), locked for this transaction.

    `new_identity`: the identity was created in this transaction, so it has no conversation yet.
    """
    params = {"identity_id": identity.id}
    conversation_id = None if new_identity else (await session.execute(_CONVERSATION_OF, params)).scalar_one_or_none()
    if conversation_id is None:
        row = Conversation(
            identity_id=identity.id,
            client_id=client.id,
            channel=msg.ref.channel,
            ref=msg.ref.to_json(),
            state=State.NEW.value,
            slots={},
            context={},
            language=language,
            created_at=now,
            updated_at=now,
        )
        if new_identity:
            # No other transaction sees an identity this one created, so none can have given it a conversation:
            # the insert cannot collide and needs no savepoint (two round trips fewer on every first contact).
            session.add(row)
            await session.flush()
            return row, True
        try:
            async with session.begin_nested():
                session.add(row)
                await session.flush()
            # Inserted by this transaction: no other can see the row, let alone lock it, before it commits.
            return row, True
        except IntegrityError:
            conversation_id = (await session.execute(_CONVERSATION_OF, params)).scalar_one()
    conversation = await locked_conversation(session, conversation_id)
    conversation.ref = msg.ref.to_json()
    return conversation, False


async def locked_conversation(session: AsyncSession, conversation_id: int) -> Conversation:
    """The conversation row, locked for this transaction."""
    # FOR UPDATE serializes turns of one conversation across processes on PostgreSQL;
    # SQLite's BEGIN IMMEDIATE already serializes every writer.
    conversation = (
        await session.execute(
            select(Conversation)
            .where(Conversation.id == conversation_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if conversation is None:
        raise NotFound(f"conversation {conversation_id} does not exist")
    return conversation


# Raw payloads (an unknown WeChat message's XML, say) are kept for inspection up to this size, as JSON text.
MAX_PAYLOAD_CHARS = 16_384


def bounded(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload, or a note of its size when its JSON is longer than MAX_PAYLOAD_CHARS."""
    size = len(json.dumps(payload, ensure_ascii=False, default=str))
    if size <= MAX_PAYLOAD_CHARS:
        return payload
    return {"omitted_chars": size, "keys": sorted(payload)[:20]}


def inbound_payload(msg: InboundMessage) -> dict[str, Any]:
    """The payload an inbound message is stored with (raw parts bounded; attachments and buttons always kept)."""
    payload: dict[str, Any] = bounded(dict(msg.payload))
    if msg.attachments:
        payload["attachments"] = [a.to_json() for a in msg.attachments]
    if msg.button_id:
        payload["button_id"] = msg.button_id
    return payload


# Explicit parameters, named apart from the statement it may ride in (`carry`).
_RECORD_CLASSIFIED = (
    MESSAGES.update()
    .where(MESSAGES.c.id == bindparam("classified_id", type_=MESSAGES.c.id.type))
    .values(payload=bindparam("classified_payload", type_=MESSAGES.c.payload.type))
)


async def record_classified(
    session: AsyncSession, message_id: int, msg: InboundMessage, classified: dict[str, Any]
) -> None:
    """Add the classifier's verdict to a stored inbound message, on the turns that classify only.

    Nothing in the turn reads the payload back: on PostgreSQL the UPDATE rides with the turn's reply (`carry`).
    """
    payload = {**inbound_payload(msg), "classified": classified}
    await carry(session, _RECORD_CLASSIFIED, {"classified_id": message_id, "classified_payload": payload})


async def store_inbound(
    session: AsyncSession, conversation: Conversation, msg: InboundMessage, now: datetime, max_chars: int
) -> int:
    """Store the message (text cut at `max_chars`) and return its id; a repeated external id raises DuplicateMessage.

    The unique constraint decides. No savepoint: a duplicate ends the whole turn, whose transaction is
    rolled back anyway.
    """
    row = {"conversation_id": conversation.id, **_inbound_row(msg, now, max_chars)}
    try:
        # What the turn carried so far (its reply window) rides in the same statement.
        return int((await execute_carrying(session, INSERT_MESSAGE, row))[0][0])
    except IntegrityError:
        raise DuplicateMessage(msg.external_id) from None


def _inbound_row(msg: InboundMessage, now: datetime, max_chars: int) -> dict[str, Any]:
    """An inbound message's row but its conversation (the text cut at `max_chars`, its full length noted)."""
    payload = inbound_payload(msg)
    if len(msg.text) > max_chars:
        payload["text_chars"] = len(msg.text)
    return {
        "direction": Direction.INBOUND.value,
        "channel": msg.ref.channel,
        "account": msg.ref.account,
        "external_id": msg.external_id,
        "type": msg.type.value,
        "text": msg.text[:max_chars],
        "payload": payload,
        "author_user_id": None,
        "created_at": now,
    }


# One UPDATE per set of changed columns, built once: a turn changes the same few columns again and again.
# Its parameters are named apart from every column: a statement carrying it takes columns from their names.
_UPDATES: dict[frozenset[str], Update] = {}
# The mapped attributes are the table's columns, by the same names.
_COLUMN_KEYS = frozenset(_CONVERSATIONS.c.keys())


def _update_of(columns: frozenset[str]) -> Update:
    statement = _UPDATES.get(columns)
    if statement is None:
        c = _CONVERSATIONS.c
        values = {name: bindparam(f"conv_{name}", type_=c[name].type) for name in sorted(columns)}
        statement = _UPDATES[columns] = (
            _CONVERSATIONS.update().where(c.id == bindparam("conv_key", type_=c.id.type)).values(values)
        )
    return statement


async def carry_changes(session: AsyncSession, conversation_id: int) -> None:
    """Write the turn's changes to its conversation as a carried UPDATE (`carry`), not in the ORM's flush.

    On PostgreSQL the UPDATE rides with the turn's reply instead of a round trip of its own. The conversation
    leaves the session first: nothing in the turn reads it after this, and no flush may write it again.
    """
    # The session holds a changed row strongly; one that is gone from the map has nothing to write.
    conversation = session.identity_map.get(identity_key(Conversation, conversation_id))
    if conversation is None:
        return
    state = inspect(conversation)
    if not state.persistent or not state.modified:
        return
    params: dict[str, Any] = {}
    # Only attributes set since the row was loaded have a history: the ones the ORM's flush would look at. Their
    # value counts as changed as the ORM's own history has it (`History.from_scalar_attribute`): set, and not
    # equal to the value loaded by the attribute's comparison; read here without building a History per column.
    committed, current_values, attributes = state.committed_state, state.dict, state.manager
    for key in _COLUMN_KEYS.intersection(committed):
        current = current_values.get(key, NO_VALUE)
        if current is not NO_VALUE and attributes[key].impl.is_equal(current, committed[key]) is not True:
            params[f"conv_{key}"] = current
    session.expunge(conversation)
    if params:
        columns = frozenset(name[len("conv_") :] for name in params)
        await carry(session, _update_of(columns), {"conv_key": conversation_id, **params})
