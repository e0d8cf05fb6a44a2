"""YAML as kefu reads it: the safe loader, in its C implementation (libyaml) when PyYAML was built with it."""

from __future__ import annotations

import pickle
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

import yaml

# The same safe constructor and resolver as yaml.safe_load, about ten times faster: every process and every
# test reads the keyword rules and the texts at start.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Parsed files by their text, pickled: a start (and every test, hundreds in one process) reads the same config
# files again, and the constructor is Python even with libyaml. Keyed on the text rather than the file's mtime,
# whose granularity (a kernel tick) would miss a rewrite of the same size within it.
_PARSED_MAX = 32


def safe_load(stream: str | bytes | IO[str] | IO[bytes]) -> Any:
    """yaml.safe_load, with libyaml when available."""
    return yaml.load(stream, Loader=_LOADER)


def load_file(path: Path) -> Any:
    """safe_load of the UTF-8 file at `path`, parsed once per process per text; each call gets its own copy."""
    # Unpickling is a fresh copy in C: callers may change what they get without touching the next one's.
    return pickle.loads(_parsed(path.read_text(encoding="utf-8")))


@lru_cache(maxsize=_PARSED_MAX)
def _parsed(text: str) -> bytes:
    return pickle.dumps(safe_load(text), protocol=pickle.HIGHEST_PROTOCOL)
