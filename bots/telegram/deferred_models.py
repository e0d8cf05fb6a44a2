"""aiogram's pydantic models built when first used, not all at import: about 100 MiB and 6 s less per process.

aiogram declares its ~440 Telegram types with `defer_build`, then defeats it: `aiogram.types` ends by calling
`model_rebuild` on every one of them with a namespace naming them all, which builds every validator at import.
While installed, that call only remembers the namespace; the first validation of a type (pydantic's own lazy
build) rebuilds it with the remembered namespace, so its forward references resolve exactly as they did.
Its ~170 methods (SendMessage, …) are not declared with `defer_build` and are built as their classes are
defined: once `aiogram.methods.base` has defined their base, TelegramMethod, it is given `defer_build` too, so
they build on first use the same way (1.4 MiB less).
A kefu process uses a few dozen of the types (Update, Message, the keyboards, the methods it calls).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from pydantic import BaseModel

from core.import_patch import after_import

_AIOGRAM = "aiogram."
# The namespace aiogram.types passes to its rebuilds: every type by name, plus typing helpers.
_namespace: dict[str, Any] | None = None
_original = BaseModel.model_rebuild.__func__  # type: ignore[attr-defined]


def _model_rebuild(cls: type[BaseModel], **kwargs: Any) -> bool | None:
    global _namespace
    if not cls.__module__.startswith(_AIOGRAM):
        return _original(cls, **kwargs)  # type: ignore[no-any-return]
    given = kwargs.get("_types_namespace")
    if given is not None and not kwargs.get("force") and not cls.__pydantic_complete__:
        # aiogram.types' import-time loop: remember the namespace, build on first use.
        _namespace = dict(given) if _namespace is None else _namespace
        return None
    if given is None and _namespace is not None:
        kwargs["_types_namespace"] = _namespace
    return _original(cls, **kwargs)  # type: ignore[no-any-return]


def _defer_methods(base: ModuleType) -> None:
    # pydantic reads a new model's config from its bases' `model_config` as the class is defined.
    base.TelegramMethod.model_config["defer_build"] = True


def install() -> None:
    """Defer aiogram's model builds; must run before aiogram is first imported (bots.telegram does it)."""
    BaseModel.model_rebuild = classmethod(_model_rebuild)  # type: ignore[assignment,method-assign,arg-type]
    after_import("aiogram.methods.base", _defer_methods)
