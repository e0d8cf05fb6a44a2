"""Gives the C heap's free pages back to the system once start-up has settled."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from functools import cache
from typing import Protocol

log = logging.getLogger(__name__)


class _Trim(Protocol):
    def __call__(self, pad: int) -> int: ...


@cache
def _malloc_trim() -> _Trim | None:
    # glibc only: musl and other platforms have no malloc_trim, and there is nothing to do there.
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        trim: _Trim = libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    return trim


def release_free_heap() -> bool:
    """Hand the heap's free pages to the system (glibc's malloc_trim); False where the C library has none.

    Start-up builds and drops many temporary objects (the rule tables and their traditional spellings, the
    entity readers' tables, validators): glibc keeps the pages they leave free inside the heap, so they count
    in the process's resident memory until it is trimmed. Later allocations get their pages back on demand.
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    log.debug("free heap pages released")
    return True
