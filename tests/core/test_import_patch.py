"""A module adjusted right after its first import runs, before the importer takes names from it."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

from core.import_patch import after_import


def test_the_adjustment_runs_once_after_the_module_and_before_names_are_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "kefu_probe_lib.py").write_text("VALUE = 1\nDOUBLE = VALUE * 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    seen: list[int] = []

    def adjust(module: ModuleType) -> None:
        seen.append(module.DOUBLE)  # the module has run
        module.VALUE = 10

    try:
        assert after_import("kefu_probe_lib", adjust)
        assert not after_import("kefu_probe_lib", adjust)  # one waits already
        from kefu_probe_lib import VALUE  # type: ignore[import-not-found]

        assert (VALUE, seen) == (10, [2])
        assert not after_import("kefu_probe_lib", adjust)  # imported: too late
        assert "kefu_probe_lib" not in {getattr(f, "fullname", None) for f in sys.meta_path}
    finally:
        sys.modules.pop("kefu_probe_lib", None)
