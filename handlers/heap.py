"""Once start-up has settled: free C heap pages go back to the system, long-lived objects leave the collector."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
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


def freeze_long_lived() -> int:
    """Move every object alive now out of the cyclic collector's reach (`gc.freeze`); returns how many.

    For a server once start-up is done: what it built then (rule automata, the learned model, entity tables,
    routes, about 180,000 tracked objects) lives as long as the process, yet each full collection walked all of it
    again, about a tenth of a millisecond per turn on average. Garbage is collected first so none of it is kept.
    Not for a process that starts many apps (tests): cycles among frozen objects are never freed.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
