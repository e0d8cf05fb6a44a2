"""The documents stay true to the code: generated diagrams current, every path they name present."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.dialogue import machine
from core.settings import PROJECT_ROOT
from core.tickets import lifecycle
from handlers.docgen import DOCUMENTS, UnknownDiagram, marked, regenerate, render

ARCHITECTURE = PROJECT_ROOT / "docs" / "architecture.md"
# A path in backquotes: it starts at one of the repository's top folders or is a top-level file.
TOP = "core|bots|config|handlers|docs|tests|bench|deploy"
PATH = re.compile(rf"`((?:{TOP})/[^`\s]*|[\w.-]+\.(?:md|toml|lock))`")


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_architecture_shows_both_generated_diagrams_as_the_code_makes_them() -> None:
    text = _read(ARCHITECTURE)
    assert marked(text) == ["dialogue", "tickets"]
    assert f"<!-- generated: dialogue -->\n```mermaid\n{machine.mermaid()}```" in text
    assert f"<!-- generated: tickets -->\n```mermaid\n{lifecycle.mermaid()}```" in text


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_every_generated_block_is_current(path: Path) -> None:
    text = _read(path)
    assert marked(text), f"{path.name} has no generated block"
    assert render(text) == text, f"{path.name} is out of date: run `kefu docs`"


def test_every_path_the_architecture_names_exists() -> None:
    paths = PATH.findall(_read(ARCHITECTURE))
    assert len(paths) > 30, paths
    missing = [p for p in paths if not any(PROJECT_ROOT.glob(p.rstrip("/")))]
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_regenerate_rewrites_every_marked_block_and_leaves_the_rest(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    hand_drawn = "```mermaid\nflowchart LR\n  a --> b\n```"
    stale = "```mermaid\nstateDiagram-v2\n    old --> older\n```"
    doc.write_text(
        f"{hand_drawn}\n\n<!-- generated: tickets -->\n{stale}\n\ntext\n\n<!-- generated: dialogue -->\n{stale}\n",
        encoding="utf-8",
    )
    assert regenerate((doc,)) == [doc]
    text = _read(doc)
    assert text.startswith(hand_drawn)
    assert f"<!-- generated: tickets -->\n```mermaid\n{lifecycle.mermaid()}```\n\ntext\n" in text
    assert text.endswith(f"<!-- generated: dialogue -->\n```mermaid\n{machine.mermaid()}```\n")
    assert regenerate((doc,)) == []


def test_a_marker_naming_no_diagram_is_refused() -> None:
    with pytest.raises(UnknownDiagram):
        render("<!-- generated: dialog -->\n```mermaid\nstateDiagram-v2\n```\n")
