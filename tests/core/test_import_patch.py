"""A module adjusted right after its first import runs, before the importer takes names from it."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

from core.import_patch import after_import, with_stand_in


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


def test_a_stand_in_is_seen_only_by_the_module_while_it_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "kefu_probe_real.py").write_text("WHO = 'real'\n")
    (tmp_path / "kefu_probe_user.py").write_text("from kefu_probe_real import WHO\n")
    gone = "try:\n    import kefu_probe_real\nexcept ImportError:\n    GONE = True\n"
    (tmp_path / "kefu_probe_gone.py").write_text(gone)
    monkeypatch.syspath_prepend(str(tmp_path))
    stand_in = ModuleType("kefu_probe_real")
    stand_in.WHO = "stand-in"  # type: ignore[attr-defined]
    names = ("kefu_probe_real", "kefu_probe_user", "kefu_probe_gone")
    try:
        assert with_stand_in("kefu_probe_user", "kefu_probe_real", stand_in)
        assert with_stand_in("kefu_probe_gone", "kefu_probe_real", None)
        import kefu_probe_gone  # type: ignore[import-not-found]
        import kefu_probe_user  # type: ignore[import-not-found]

        assert kefu_probe_gone.GONE  # None: as if not installed
        assert kefu_probe_user.WHO == "stand-in"
        assert "kefu_probe_real" not in sys.modules  # gone once the module has run
        from kefu_probe_real import WHO  # type: ignore[import-not-found]

        assert WHO == "real"
        assert not with_stand_in("kefu_probe_user", "kefu_probe_real", stand_in)  # imported: too late
    finally:
        for name in names:
            sys.modules.pop(name, None)


def test_a_module_imported_already_is_not_stood_in_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "kefu_probe_real2.py").write_text("WHO = 'real'\n")
    (tmp_path / "kefu_probe_user2.py").write_text("from kefu_probe_real2 import WHO\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        import kefu_probe_real2  # type: ignore[import-not-found]  # noqa: F401

        assert with_stand_in("kefu_probe_user2", "kefu_probe_real2", None)
        import kefu_probe_user2  # type: ignore[import-not-found]

        assert kefu_probe_user2.WHO == "real"
        assert "kefu_probe_real2" in sys.modules
    finally:
        for name in ("kefu_probe_real2", "kefu_probe_user2"):
            sys.modules.pop(name, None)
