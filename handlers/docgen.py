"""Keeps the diagrams in docs/ identical to the ones generated from the code."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from core.dialogue import machine
from core.settings import PROJECT_ROOT
from core.tickets import lifecycle

DIAGRAMS: dict[str, Callable[[], str]] = {
    "dialogue": machine.mermaid,
    "tickets": lifecycle.mermaid,
}
DOCUMENTS = tuple(PROJECT_ROOT / "docs" / name for name in ("dialogue.md", "tickets.md", "architecture.md"))
# A generated block is a Mermaid block right after its marker; unmarked blocks are written by hand.
BLOCK = re.compile(r"<!-- generated: (?P<name>[\w-]+) -->\n```mermaid\n.*?```", re.S)


class UnknownDiagram(ValueError):
    """A marker names a diagram no generator produces."""


def marked(text: str) -> list[str]:
    """The names of the generated blocks of a document, in order."""
    return [match["name"] for match in BLOCK.finditer(text)]


def render(text: str) -> str:
    """The document with every marked block replaced by its freshly generated diagram."""

    def fresh(match: re.Match[str]) -> str:
        diagram = DIAGRAMS.get(match["name"])
        if diagram is None:
            raise UnknownDiagram(f"no generated diagram is called {match['name']!r}; known: {sorted(DIAGRAMS)}")
        return f"<!-- generated: {match['name']} -->\n```mermaid\n{diagram()}```"

    return BLOCK.sub(fresh, text)


def regenerate(documents: tuple[Path, ...] = DOCUMENTS) -> list[Path]:
    """Rewrite the marked Mermaid blocks of each document; returns the files that changed."""
    changed = []
    for path in documents:
        text = path.read_text(encoding="utf-8")
        updated = render(text)
        if updated != text:
            path.write_text(updated, encoding="utf-8")
            changed.append(path)
    return changed
