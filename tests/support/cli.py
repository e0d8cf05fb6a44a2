"""The `kefu` command of this environment, for tests that run it as a process."""

from __future__ import annotations

import sys
from pathlib import Path

KEFU = Path(sys.executable).parent / "kefu"
