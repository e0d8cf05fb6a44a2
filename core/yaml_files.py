"""YAML as kefu reads it: the safe loader, in its C implementation (libyaml) when PyYAML was built with it."""

from __future__ import annotations

from typing import IO, Any

import yaml

# The same safe constructor and resolver as yaml.safe_load, about ten times faster: every process and every
# test reads the keyword rules and the texts at start.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(stream: str | bytes | IO[str] | IO[bytes]) -> Any:
    """yaml.safe_load, with libyaml when available."""
    return yaml.load(stream, Loader=_LOADER)
