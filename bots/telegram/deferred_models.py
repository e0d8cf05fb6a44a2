"""aiogram's pydantic models built when first used, not all at import: about 100 MiB and 6 s less per process.

aiogram declares its ~440 Telegram types with `defer_build`, then defeats it: `aiogram.types` ends by calling
`model_rebuild` on every one of them with a namespace naming them all, which builds every validator at import.
While installed, that call only remembers the namespace; the first validation of a type (pydantic's own lazy
build) rebuilds it with the remembered namespace, so its forward references resolve exactly as they did.
Its ~170 methods (SendMessage, …) are not declared with `defer_build` and are built as their classes are
defined: once `aiogram.methods.base` has defined their base, TelegramMethod, it is given `defer_build` too, so
they build on first use the same way (1.4 MiB less). Until then each has pydantic's three placeholders (schema,
validator, serializer), which rebuild the class when first used: made here with one small object per placeholder
rather than pydantic's three closures (0.7 MiB less over aiogram's ~600 models), same messages, same rebuild.
A kefu process uses a few dozen of the types (Update, Message, the keyboards, the methods it calls). The
parametrized answers (`Response[Message]`) are kept once made, where pydantic would let each collection free them.
aiogram takes three sentinels (UNSET, UNHANDLED, REJECTED) from unittest.mock, which brings in unittest with it
(0.4 MiB): the two modules doing so get a stand-in of unittest.mock holding sentinels made the same way.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Final

from pydantic import BaseModel
from pydantic._internal import _model_construction
from pydantic._internal._mock_val_ser import MockCoreSchema, MockValSer

from core.import_patch import after_import, with_stand_in

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


_set_model_mocks = _model_construction.set_model_mocks  # type: ignore[attr-defined]
_ALL = "all referenced types"


class _Rebuild:
    """What a placeholder calls on first use: rebuild its class, then hand back the attribute it stands for."""

    __slots__ = ("attribute", "cls")

    def __init__(self, cls: type[BaseModel], attribute: str) -> None:
        self.cls = cls
        self.attribute = attribute

    def __call__(self) -> Any:
        # As pydantic's own: the same call at the same depth below the placeholder.
        if self.cls.model_rebuild(raise_errors=False, _parent_namespace_depth=5) is not False:
            return getattr(self.cls, self.attribute)
        return None


def _set_lean_mocks(cls: type[BaseModel], undefined_name: str = _ALL) -> None:
    if not cls.__module__.startswith(_AIOGRAM) or undefined_name != _ALL:
        _set_model_mocks(cls, undefined_name)
        return
    message = (
        f"`{cls.__name__}` is not fully defined; you should define {undefined_name},"
        f" then call `{cls.__name__}.model_rebuild()`."
    )
    code: Final = "class-not-fully-defined"
    cls.__pydantic_core_schema__ = MockCoreSchema(
        message, code=code, attempt_rebuild=_Rebuild(cls, "__pydantic_core_schema__")
    )
    cls.__pydantic_validator__ = MockValSer(  # type: ignore[assignment]
        message, code=code, val_or_ser="validator", attempt_rebuild=_Rebuild(cls, "__pydantic_validator__")
    )
    cls.__pydantic_serializer__ = MockValSer(  # type: ignore[assignment]
        message, code=code, val_or_ser="serializer", attempt_rebuild=_Rebuild(cls, "__pydantic_serializer__")
    )


def _adjust_methods_base(base: ModuleType) -> None:
    # pydantic reads a new model's config from its bases' `model_config` as the class is defined.
    base.TelegramMethod.model_config["defer_build"] = True
    _pin_parametrized(base.Response)


def _pin_parametrized(generic: type[BaseModel]) -> None:
    """Keep each parametrization of `generic` (`Response[Message]`, …) made, built once for the process.

    aiogram reads every Bot API answer as `Response[method's result type]`, parametrized inside a function; pydantic
    keeps parametrized classes only weakly, so the next garbage collection frees it and the next call makes and
    builds it again: about 0.1 s of CPU for `Response[Message]`, after almost every collection under load. One
    class per result type that kefu calls for (a few dozen at most) stays, as a module-level parametrization would.
    """
    parametrize = generic.__class_getitem__.__func__  # type: ignore[attr-defined]
    made: dict[tuple[type, Any], type[BaseModel]] = {}

    def pinned(cls: type[BaseModel], params: Any) -> type[BaseModel]:
        try:
            return made[cls, params]
        except KeyError:
            result: type[BaseModel] = parametrize(cls, params)
            made[cls, params] = result
            return result
        except TypeError:  # parameters that cannot be a key: made each time, as pydantic would
            return parametrize(cls, params)  # type: ignore[no-any-return]

    generic.__class_getitem__ = classmethod(pinned)  # type: ignore[assignment,method-assign]


class _SentinelObject:
    """One named sentinel, as unittest.mock makes them: compared by identity, shown and pickled by name."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"sentinel.{self.name}"

    def __reduce__(self) -> str:
        return f"sentinel.{self.name}"


class _Sentinels:
    """`sentinel.NAME`: the same object for the same name, as unittest.mock.sentinel."""

    def __init__(self) -> None:
        self._made: dict[str, _SentinelObject] = {}

    def __getattr__(self, name: str) -> _SentinelObject:
        if name.startswith("__"):  # copy and pickle probe dunder names; unittest.mock refuses __bases__ alike
            raise AttributeError(name)
        return self._made.setdefault(name, _SentinelObject(name))

    def __reduce__(self) -> str:
        return "sentinel"


sentinel = _Sentinels()
_MOCK = ModuleType("unittest.mock", "Stand-in holding only `sentinel`, seen by aiogram's modules taking it.")
_MOCK.sentinel = sentinel  # type: ignore[attr-defined]


def install() -> None:
    """Defer aiogram's model builds; must run before aiogram is first imported (bots.telegram does it)."""
    BaseModel.model_rebuild = classmethod(_model_rebuild)  # type: ignore[assignment,method-assign,arg-type]
    _model_construction.set_model_mocks = _set_lean_mocks  # type: ignore[attr-defined]
    after_import("aiogram.methods.base", _adjust_methods_base)
    for module in ("aiogram.types.base", "aiogram.dispatcher.event.bases"):
        with_stand_in(module, "unittest.mock", _MOCK)
