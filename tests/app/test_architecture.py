"""The dependency rule: core imports neither bots nor handlers; channel packages never import each other; no circles."""

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


def _module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """Our modules `path` imports anywhere in it: at the top, inside functions, and under TYPE_CHECKING alike."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    named: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            # `from package import module` names the module; `from module import thing` the module itself.
            named.update(f"{module}.{a.name}" if f"{module}.{a.name}" in known else module for a in node.names)
    found: set[str] = set()
    for target in named:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)
    return found


def _circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle in `graph` as the modules along it (the first back to the start), or None."""
    done: set[str] = set()
    for start in sorted(graph):
        path: list[str] = []
        on_path: set[str] = set()
        # Depth first with an explicit stack of iterators, so a deep chain cannot reach the recursion limit.
        stack = [(start, iter(sorted(graph[start])))]
        path.append(start)
        on_path.add(start)
        while stack:
            node, targets = stack[-1]
            nxt = next(targets, None)
            if nxt is None:
                stack.pop()
                path.pop()
                on_path.discard(node)
                done.add(node)
            elif nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            elif nxt not in done:
                stack.append((nxt, iter(sorted(graph[nxt]))))
                path.append(nxt)
                on_path.add(nxt)
    return None


def test_imports_form_no_circle() -> None:
    """A reader can start at any module and meet only modules below it, type-only imports included."""
    paths = {_module_name(p): p for package in ("core", "bots", "handlers") for p in _files(package)}
    known = set(paths)
    graph = {name: _imported_modules(name, path, known) for name, path in paths.items()}
    circle = _circle(graph)
    assert circle is None, "import circle: " + " -> ".join(circle or [])


def test_circle_finder_finds_a_circle_and_only_one() -> None:
    assert _circle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert _circle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
