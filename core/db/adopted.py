"""Rows read without the ORM's loading, placed in a session as the objects a query would have loaded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Column, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper, make_transient_to_detached
from sqlalchemy.orm.util import identity_key

T = TypeVar("T")


async def loaded(session: AsyncSession, cls: type[T], key: Any) -> T | None:
    """`session.get(cls, key)`, answered from the identity map without a greenlet when the session holds the row."""
    held = session.identity_map.get(identity_key(cls, key))
    if held is not None:
        state = inspect(held)
        if not state.expired_attributes and not state.deleted and not state.was_deleted:
            return held
    return await session.get(cls, key)


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

    def held(self, session: AsyncSession, values: Sequence[Any]) -> bool:
        """Whether the session already holds the object of this row (whose primary key is its first column)."""
        return self.mapper.identity_key_from_primary_key((values[0],)) in session.identity_map

    def adopt(self, session: AsyncSession, values: Sequence[Any]) -> T:
        """The object of a row just read (its columns in `columns` order), persistent in `session`.

        What `Session.execute` of an ORM select does for a loaded row, without its per-execution set-up: the
        instance's attributes hold the row's values as committed state (a change made later has its history,
        so flushes and `carry_changes` see it), and the identity map holds the instance.
        """
        instance: T = self.mapper.class_manager.new_instance()
        # The values go straight into the instance's dict, as the ORM's loader puts them: setting them through the
        # attributes would record each as a change that `make_transient_to_detached` then has to discard again.
        vars(instance).update(zip(self.keys, values, strict=True))
        make_transient_to_detached(instance)
        session.add(instance)
        return instance
