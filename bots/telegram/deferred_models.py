"""aiogram's pydantic models built when first used, not all at import: about 100 MiB and 6 s less per process.

aiogram declares its ~440 Telegram types with `defer_build`, then defeats it: `aiogram.types` ends by calling
`model_rebuild` on every one of them with a namespace naming them all, which builds every validator at import.
While installed, that call only remembers the namespace; the first validation of a type (pydantic's own lazy
build) rebuilds it with the remembered namespace, so its forward references resolve exactly as they did.
A kefu process uses a few dozen of the types (Update, Message, the keyboards, the methods it calls).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

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


def install() -> None:
    """Defer aiogram's model builds; must run before aiogram is first imported (bots.telegram does it)."""
    BaseModel.model_rebuild = classmethod(_model_rebuild)  # type: ignore[assignment,method-assign,arg-type]
