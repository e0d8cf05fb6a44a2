"""Entry points: the composition root, HTTP routes beyond the channels, scheduled jobs and the CLI."""

from handlers.lean_imports import install as _leave_unused_modules

_leave_unused_modules()
