"""A library module adjusted right after it runs on its first import, before any other module takes names from it."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from types import ModuleType


class _Adjusting(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader, finder: _Finder) -> None:
        self._loader = loader
        self._finder = finder

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        with self._finder.around():
            self._loader.exec_module(module)
        self._finder.adjust(module)


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(
        self,
        fullname: str,
        adjust: Callable[[ModuleType], None],
        around: Callable[[], AbstractContextManager[None]] = nullcontext,
    ) -> None:
        self.fullname = fullname
        self.adjust = adjust
        self.around = around

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.fullname:
            return None
        sys.meta_path.remove(self)  # once: the module's first import
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Adjusting(spec.loader, self)
        return spec


def _waits(fullname: str) -> bool:
    return fullname in sys.modules or any(isinstance(f, _Finder) and f.fullname == fullname for f in sys.meta_path)


def after_import(fullname: str, adjust: Callable[[ModuleType], None]) -> bool:
    """Call `adjust(module)` as soon as module `fullname` has run on its first import.

    False (and nothing done) when it is already imported, or its adjustment already waits for that import.
    """
    if _waits(fullname):
        return False
    sys.meta_path.insert(0, _Finder(fullname, adjust))
    return True


def with_stand_in(fullname: str, name: str, stand_in: ModuleType | None) -> bool:
    """While module `fullname` runs on its first import, an import of module `name` gets `stand_in`.

    None: the import fails with ImportError, as for a module not installed. Only while it runs, and only if `name`
    is not imported by then: every other importer, before and after, gets the real module. False (and nothing done)
    when `fullname` is already imported or waits for an adjustment.
    """

    @contextmanager
    def standing_in() -> Iterator[None]:
        if name in sys.modules:
            yield
            return
        sys.modules[name] = stand_in  # type: ignore[assignment]  # None there: "not found", by Python's own rule
        try:
            yield
        finally:
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]

    if _waits(fullname):
        return False
    sys.meta_path.insert(0, _Finder(fullname, lambda module: None, standing_in))
    return True
