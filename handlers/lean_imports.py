"""Library modules a kefu process never uses, kept from loading: pydantic.v1 for FastAPI, watchfiles for uvicorn."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from core.import_patch import after_import, with_stand_in


def _only_once_v1_is_loaded(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    # A pydantic v1 model class or instance exists only once pydantic.v1 has been imported: until then the
    # answer is False, which is what the check itself would say after importing it.
    def checked(value: Any) -> bool:
        return "pydantic.v1" in sys.modules and check(value)

    return checked


def _adjust(shared: ModuleType) -> None:
    # FastAPI asks of every route's annotations and of every value it encodes; fastapi._compat and the modules
    # importing from it take these names right after this module runs, and annotation_is_pydantic_v1 reads its
    # global.
    for name in ("is_pydantic_v1_model_class", "is_pydantic_v1_model_instance"):
        setattr(shared, name, _only_once_v1_is_loaded(getattr(shared, name)))


def install() -> None:
    """Must run before FastAPI and uvicorn are first imported (the handlers package does it); else it does nothing."""
    # FastAPI imports pydantic.v1 (0.8 MiB) to ask whether a route's types are pydantic v1 models.
    after_import("fastapi._compat.shared", _adjust)
    # uvicorn's package picks its file-watching reloader on import, loading watchfiles (0.7 MiB) for it; `kefu serve`
    # runs uvicorn's Server and never reloads. While that runs, watchfiles is not found, and uvicorn takes its
    # stat-based reloader as on a system without watchfiles.
    with_stand_in("uvicorn.supervisors", "watchfiles", None)
