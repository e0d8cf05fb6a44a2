"""Keeps the diagrams in docs/ identical to the ones generated from the code."""

from __future__ import annotations

import re
from pathlib import Path

from core import lifecycle
from core.dialogue import machine
from core.settings import PROJECT_ROOT

DIAGRAMS = {
    PROJECT_ROOT / "docs" / "dialogue.md": machine.mermaid,
    PROJECT_ROOT / "docs" / "tickets.md": lifecycle.mermaid,
}
BLOCK = re.compile(r"```mermaid\n.*?```", re.S)


def regenerate() -> list[Path]:
    """Rewrite the first Mermaid block of each document; returns the files that changed."""
    changed = []
    for path, diagram in DIAGRAMS.items():
        text = path.read_text(encoding="utf-8")
        match = BLOCK.search(text)
        if match is None:
            continue
        updated = text[: match.start()] + f"```mermaid\n{diagram()}```" + text[match.end() :]
        if updated != text:
            path.write_text(updated, encoding="utf-8")
            changed.append(path)
    return changed
