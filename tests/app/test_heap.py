"""Freed heap pages go back to the system when start-up is done (handlers.heap)."""

from __future__ import annotations

import json
import subprocess
import sys

from core.settings import PROJECT_ROOT

# 40 MiB in 4 KiB blocks (malloc's heap, not Python's small-object arenas nor mmap), all freed but the last,
# which keeps the freed pages inside the heap where only a trim returns them.
FREED_IN_THE_HEAP = """
import json
from pathlib import Path
from handlers.heap import release_free_heap

def rss_mib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

blocks = [bytearray(4000) for _ in range(10_000)]
pinned = blocks[-1]
del blocks
before = rss_mib()
released = release_free_heap()
print(json.dumps({"released": released, "dropped_mib": before - rss_mib()}))
"""


def test_the_pages_a_start_up_freed_leave_the_process() -> None:
    out = subprocess.run(
        [sys.executable, "-c", FREED_IN_THE_HEAP], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["released"] is True
    # Nearly all of the 39 MiB freed; a few MiB of slack for the allocator's own bookkeeping.
    assert result["dropped_mib"] > 30, result


# A cycle dropped before the freeze is collected, not frozen; an object alive then is frozen and no longer tracked.
FROZEN = """
import gc
import json
import weakref
from handlers.heap import freeze_long_lived

class Node:
    pass

kept, dropped = Node(), Node()
dropped.self = dropped
freed = []
weakref.finalize(dropped, freed.append, True)
del dropped
gc.disable()  # only the freeze's own collection may free the cycle
count = freeze_long_lived()
tracked = any(o is kept for o in gc.get_objects())
print(json.dumps({"count": count, "freed": bool(freed), "kept_tracked": tracked}))
"""


def test_what_start_up_leaves_alive_leaves_the_collector_and_its_garbage_is_freed_first() -> None:
    out = subprocess.run([sys.executable, "-c", FROZEN], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"count": result["count"], "freed": True, "kept_tracked": False}
    assert result["count"] > 1000
