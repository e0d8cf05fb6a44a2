"""The settings admins edit in the console: each one a document shaped like its YAML file, checked by its loader."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import record
from core.business_hours import BusinessCalendar
from core.clock import Clock
from core.config_store import ConfigWatcher, read_document, write_document
from core.db.models import Department
from core.db.session import Database
from core.dialogue.acts import ActLexicon
from core.engine import Engine
from core.errors import ConfigError, InvalidInput
from core.settings import Settings
from core.texts import Texts
from core.tickets.policies import TicketPolicies
from core.yaml_files import load_file
from handlers.console.canned import CannedReplies

# A saved document larger than this is refused before it is parsed (the texts overrides are the largest).
MAX_DOCUMENT_BYTES = 256 * 1024


class ConfigTarget(Protocol):
    """What the documents are checked against and put in force in: the running kefu (handlers.services builds it)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def db(self) -> Database: ...

    @property
    def texts(self) -> Texts: ...

    @property
    def policies(self) -> TicketPolicies: ...

    @property
    def engine(self) -> Engine: ...

    @property
    def config(self) -> ConfigWatcher: ...

    def use(
        self,
        *,
        policies: TicketPolicies | None = None,
        calendar: BusinessCalendar | None = None,
        canned: CannedReplies | None = None,
    ) -> None: ...


@dataclass(frozen=True)
class Kind:
    """One kind of setting: its YAML file and how a document of it is put in force."""

    name: str
    file: str
    # Checks a body and returns what puts it in force; raises ConfigError or ValueError with the reason.
    build: Callable[[ConfigTarget, dict[str, Any]], Callable[[], None]]


def _routing(services: ConfigTarget, body: dict[str, Any]) -> Callable[[], None]:
    services.policies.with_routing(body)
    # Rebuilt from the policies in force when applied, so an SLA change applied meanwhile is kept.
    return lambda: services.use(policies=services.policies.with_routing(body))


def _sla(services: ConfigTarget, body: dict[str, Any]) -> Callable[[], None]:
    services.policies.with_sla(body)
    return lambda: services.use(policies=services.policies.with_sla(body))


def _business_hours(services: ConfigTarget, body: dict[str, Any]) -> Callable[[], None]:
    calendar = BusinessCalendar.from_mapping(body)
    # A calendar with no open hour would make every deadline computation fail; find out now, not on a ticket.
    calendar.add(services.clock.now(), timedelta(minutes=1))
    return lambda: services.use(calendar=calendar)


def _canned(services: ConfigTarget, body: dict[str, Any]) -> Callable[[], None]:
    canned = CannedReplies.from_mapping(body, services.settings.language)
    return lambda: services.use(canned=canned)


def _texts(services: ConfigTarget, body: dict[str, Any]) -> Callable[[], None]:
    overrides = services.texts.check_overrides(body)
    return lambda: services.texts.use_overrides(overrides)


def _acts(services: ConfigTarget, body: dict[str, Any]) -> Callable[[], None]:
    lexicon = ActLexicon(body, services.settings.dialogue)
    # The engine reads its lexicon at every turn: swapping the whole object is atomic for its readers.
    return lambda: setattr(services.engine, "lexicon", lexicon)


KINDS = {
    kind.name: kind
    for kind in (
        Kind("routing", "departments.yaml", _routing),
        Kind("sla", "sla.yaml", _sla),
        Kind("business_hours", "business_hours.yaml", _business_hours),
        Kind("canned_replies", "canned_replies.yaml", _canned),
        Kind("texts", "", _texts),
        Kind("acts", "acts.yaml", _acts),
    )
}


def kind(name: str) -> Kind:
    found = KINDS.get(name)
    if found is None:
        raise InvalidInput(f"no setting {name!r}; known: {', '.join(KINDS)}")
    return found


def shipped(services: ConfigTarget, name: str) -> dict[str, Any]:
    """The document as config/ ships it, in JSON form (dates as YYYY-MM-DD); texts ship with no overrides."""
    file = kind(name).file
    if not file:
        return {"overrides": {}}
    path: Path = services.settings.config_dir / file
    if not path.exists():
        return {}
    data = load_file(path) or {}
    result: dict[str, Any] = _jsonable(data)
    return result


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def check(services: ConfigTarget, name: str, body: Any) -> Callable[[], None]:
    """Validate `body` with the loader of its kind; InvalidInput (400) with the loader's reason when it fails."""
    if not isinstance(body, dict):
        raise InvalidInput(f"{name}: the document must be a JSON object")
    try:
        return kind(name).build(services, body)
    except (ConfigError, ValueError, TypeError) as exc:
        raise InvalidInput(str(exc)) from None


async def current(services: ConfigTarget, name: str) -> tuple[int, dict[str, Any]]:
    """(revision, body) of the document in the database; (0, shipped) when no admin has saved one yet."""
    kind(name)
    async with services.db.transaction() as session:
        doc = await read_document(session, name)
        if doc is not None:
            return doc.revision, dict(doc.body)
    return 0, shipped(services, name)


async def save(
    services: ConfigTarget, name: str, body: Any, *, user_id: int | None, expected_revision: int | None
) -> int:
    """Check, store under the next revision with an audit entry, and put in force here at once (others poll)."""
    check(services, name, body)
    now = services.clock.now()
    async with services.db.transaction() as session:
        if name == "routing":
            await _departments_exist(session, body)
        doc = await read_document(session, name)
        before = dict(doc.body) if doc is not None else shipped(services, name)
        revision = await write_document(
            session, name, body, user_id=user_id, now=now, expected_revision=expected_revision
        )
        record(
            session,
            user_id,
            "config_saved",
            f"config:{name}",
            now,
            {"revision": revision, "before": before, "after": body},
        )
    # Through the watcher, as in every other process, so this one does not apply the revision a second time.
    await services.config.check()
    return revision


async def _departments_exist(session: AsyncSession, body: dict[str, Any]) -> None:
    codes = {str(d.get("code")) for d in body.get("departments", []) if isinstance(d, dict)}
    known = set((await session.execute(select(Department.code))).scalars())
    missing = sorted(codes - known)
    if missing:
        raise InvalidInput(f"routing names departments that do not exist: {', '.join(missing)}")


def register_appliers(services: ConfigTarget) -> None:
    """Every process puts each saved document in force when its watcher sees a new revision."""
    for name in KINDS:
        services.config.on(name, _applier(services, name))


def _applier(services: ConfigTarget, name: str) -> Any:
    async def apply(body: dict[str, Any]) -> None:
        # Saved documents were checked on save; a check failing here (a newer loader) keeps what runs now.
        kind(name).build(services, body)()

    return apply
