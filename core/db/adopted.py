"""Rows read without the ORM's loading, placed in a session as the objects a query would have loaded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Column, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.orm.util import identity_key

T = TypeVar("T")


async def loaded(session: AsyncSession, cls: type[T], key: Any) -> T | None:
    """`session.get(cls, key)`, answered from the identity map without a greenlet when the session holds the row."""
    held = session.identity_map.get(identity_key(cls, key))
    if held is not None and not _stale(held):
        return held
    return await session.get(cls, key)


def _stale(held: object) -> bool:
    """Whether an object the session holds must be read again to be used: expired by a commit, or deleted."""
    state = inspect(held)
    return bool(state.expired_attributes or state.deleted or state.was_deleted)


@dataclass(frozen=True, slots=True)
class Adoptable(Generic[T]):
    """A mapped class's columns in the order a statement selects them, with the attribute each one fills."""

    cls: type[T]
    mapper: Mapper[T]
    columns: tuple[Column[Any], ...]
    keys: tuple[str, ...]

    @classmethod
    def of(cls, mapped: type[T]) -> Adoptable[T]:
        mapper = inspect(mapped)
        columns = tuple(mapper.local_table.columns)
        return cls(mapped, mapper, columns, tuple(mapper.get_property_by_column(c).key for c in columns))

    async def placed(self, session: AsyncSession, values: Sequence[Any], *, refresh: bool = False) -> T:
        """The object of a row just read, as an ORM select gives it: the one the session holds (`refresh`: with the
        row's values, as a select with populate_existing gives it), else the row adopted."""
        key = self.mapper.identity_key_from_primary_key((values[0],))
        held = session.identity_map.get(key)
        if held is None:
            return self._adopt(session, values, key)
        if refresh or _stale(held):
            # Read again through the ORM: rare (a second lookup in one transaction, an object expired by a commit).
            again = await session.get(self.cls, values[0], populate_existing=True)
            assert again is not None
            return again
        return held

    def adopt(self, session: AsyncSession, values: Sequence[Any]) -> T:
        """The object of a row just read (its columns in `columns` order), persistent in `session`.

        What `Session.execute` of an ORM select does for a new row (`sqlalchemy.orm.loading`'s `_instance`), without
        its per-execution set-up: the values go into the instance's dict as committed state (a change made later
        has its history, so flushes and `carry_changes` see it), and the state joins the session's identity map.
        The session must not hold the row already (`placed` looks first). No load or attach event is dispatched:
        no model listens to one.
        """
        return self._adopt(session, values, self.mapper.identity_key_from_primary_key((values[0],)))

    def _adopt(self, session: AsyncSession, values: Sequence[Any], key: Any) -> T:
        """`adopt`, with the row's identity key already made (`placed` has looked it up)."""
        instance: T = self.mapper.class_manager.new_instance()
        state = instance_state(instance)
        # Straight into the dict, as the loader populates it: set through the attributes, each value would be
        # recorded as a change to write back.
        state.dict.update(zip(self.keys, values, strict=True))
        state.key = key
        state.identity_token = None
        sync = session.sync_session
        state.session_id = sync.hash_key
        sync.identity_map._add_unpresent(state, key)
        return instance
