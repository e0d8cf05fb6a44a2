"""Labelled messages for training: the shared corpus, the project's agency messages, extra written examples."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.dialogue.forms import CATEGORIES
from core.errors import ConfigError
from core.settings import PROJECT_ROOT

# Where the shared corpus lives on a development machine: in `shared/` beside the checkout, or beside the folder
# that holds it; `kefu classifier train --corpus` names another.
_CORPUS_PLACES = [root / "shared" / "data" / "classifier" / "corpus.tsv.gz" for root in PROJECT_ROOT.parents[:2]]
DEFAULT_CORPUS = next((path for path in _CORPUS_PLACES if path.exists()), _CORPUS_PLACES[0])
EVAL_SET = PROJECT_ROOT / "tests" / "data" / "eval" / "messages.jsonl"
EXAMPLES = PROJECT_ROOT / "config" / "classifier" / "examples.jsonl"
AGENCY = "agency"


@dataclass(frozen=True, slots=True)
class Labelled:
    """One training message: its text, its category and where it came from."""

    text: str
    label: str
    source: str


def read_corpus(path: Path) -> list[Labelled]:
    """The shared corpus: tab-separated text, label, source (gzipped when the name ends in .gz)."""
    opener = gzip.open if path.suffix == ".gz" else open
    rows: list[Labelled] = []
    with opener(path, "rt", encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3 or parts[1] not in CATEGORIES or not parts[0].strip():
                raise ConfigError(f"{path.name}:{number}: expected text, category and source")
            rows.append(Labelled(parts[0], parts[1], parts[2]))
    return rows


def read_jsonl(path: Path, source: str, splits: Iterable[str] | None = None) -> list[Labelled]:
    """Messages of a JSONL file with text and label (and split: only those in `splits` when given)."""
    wanted = set(splits) if splits is not None else None
    rows: list[Labelled] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            raw = json.loads(line)
            if raw.get("label") not in CATEGORIES or not str(raw.get("text") or "").strip():
                raise ConfigError(f"{path.name}:{number}: expected text and a known label")
            if wanted is not None and raw.get("split") not in wanted:
                continue
            rows.append(Labelled(str(raw["text"]), str(raw["label"]), source))
    return rows


def starter_data(corpus: Path | None = DEFAULT_CORPUS) -> list[Labelled]:
    """The starter model's training set: the shared corpus (when given), the agency dev messages, extra examples."""
    rows = read_corpus(corpus) if corpus is not None else []
    rows += read_jsonl(EVAL_SET, AGENCY, splits=("dev",))
    rows += read_jsonl(EXAMPLES, AGENCY)
    return dedupe(rows)


def dedupe(rows: Sequence[Labelled]) -> list[Labelled]:
    """The first row of each text: the same message twice would sit in both sides of a fold."""
    seen: set[str] = set()
    out = []
    for row in rows:
        if row.text not in seen:
            seen.add(row.text)
            out.append(row)
    return out
