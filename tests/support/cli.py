"""The `kefu` command for tests: run in this process through its Typer app, or as the console script installed here."""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from core.settings import PROJECT_ROOT
from handlers.cli import app

KEFU = Path(sys.executable).parent / "kefu"


@dataclass(frozen=True)
class Ran:
    """What one `kefu` command did, under the names subprocess.CompletedProcess gives them."""

    returncode: int
    stdout: str
    stderr: str


def run_kefu(*args: str, env: Mapping[str, str | None] | None = None, stdin: str = "", cwd: Path = PROJECT_ROOT) -> Ran:
    """`kefu ARGS` in this process, with `env` over the environment for the call (None unsets a variable).

    The same command line, stdin, working directory and environment as the console script's, without a second
    of interpreter start and imports per call.
    """
    with contextlib.chdir(cwd):
        result = CliRunner().invoke(app, list(args), input=stdin, env=dict(env or {}), prog_name="kefu")
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # The process would have printed its traceback and exited 1; CliRunner keeps the exception instead.
        stderr += "".join(traceback.format_exception(result.exception))
    return Ran(result.exit_code, result.stdout, stderr)
