"""The dependency rule: core imports neither bots nor handlers; channel packages never import each other."""

from __future__ import annotations

import ast
from pathlib import Path

from core.settings import PROJECT_ROOT

CHANNELS = ("wechat", "telegram", "web")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _files(package: str) -> list[Path]:
    files = sorted((PROJECT_ROOT / package).rglob("*.py"))
    assert files, package
    return files


def test_core_imports_no_bots_or_handlers() -> None:
    for path in _files("core"):
        bad = {n for n in _imports(path) if n.split(".")[0] in {"bots", "handlers"}}
        assert not bad, f"{path.relative_to(PROJECT_ROOT)} imports {bad}"


def test_bots_import_no_handlers_and_channels_not_each_other() -> None:
    for channel in CHANNELS:
        for path in _files(f"bots/{channel}"):
            names = _imports(path)
            assert not {n for n in names if n.startswith("handlers")}, path
            others = {n for n in names if n.split(".")[:2][-1] in CHANNELS and n.startswith("bots.")}
            others -= {n for n in others if n.startswith(f"bots.{channel}")}
            assert not others, f"{path.relative_to(PROJECT_ROOT)} imports {others}"


def test_sdk_types_stay_out_of_core() -> None:
    for path in _files("core"):
        sdks = {n for n in _imports(path) if n.split(".")[0] in {"aiogram", "wechatpy", "fastapi", "starlette"}}
        assert not sdks, f"{path.relative_to(PROJECT_ROOT)} imports {sdks}"
