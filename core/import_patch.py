"""A library module adjusted right after it runs on its first import, before any other module takes names from it."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable, Sequence
from types import ModuleType


class _Adjusting(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader, adjust: Callable[[ModuleType], None]) -> None:
        self._loader = loader
        self._adjust = adjust

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        self._adjust(module)


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, fullname: str, adjust: Callable[[ModuleType], None]) -> None:
        self.fullname = fullname
        self._adjust = adjust

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.fullname:
            return None
        sys.meta_path.remove(self)  # once: the module's first import
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Adjusting(spec.loader, self._adjust)
        return spec


def after_import(fullname: str, adjust: Callable[[ModuleType], None]) -> bool:
    """Call `adjust(module)` as soon as module `fullname` has run on its first import.

    False (and nothing done) when it is already imported, or its adjustment already waits for that import.
    """
    if fullname in sys.modules or any(isinstance(f, _Finder) and f.fullname == fullname for f in sys.meta_path):
        return False
    sys.meta_path.insert(0, _Finder(fullname, adjust))
    return True
