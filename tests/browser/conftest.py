"""Browser-test fixtures: Debian's Chromium through Playwright, and the real `kefu serve` as a subprocess."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
# A ceiling, not a wait: on a loaded machine a start (imports, migrations check) can take tens of seconds.
HEALTH_TIMEOUT = 60.0
IN_CI = os.environ.get("CI", "").lower() == "true"


def _kefu_command() -> Path | None:
    """The `kefu` entry point of the interpreter running the tests, else the project's virtualenv, else PATH."""
    found = shutil.which("kefu")
    for candidate in (Path(sys.executable).with_name("kefu"), ROOT / ".venv" / "bin" / "kefu", found and Path(found)):
        if candidate and candidate.exists():
            return candidate
    return None


def _unavailable(reason: str) -> None:
    """Skip on a developer machine; in CI a missing browser is a broken pipeline, not a reason to skip."""
    if IN_CI:
        pytest.fail(f"browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install -y chromium fonts-wqy-zenhei)")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    return CHROMIUM


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"kefu serve exited with {proc.returncode} before it was healthy:\n{_log_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as res:
                if res.status == 200:
                    return
                last = f"HTTP {res.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.2)
    pytest.fail(f"kefu serve was not healthy within {HEALTH_TIMEOUT:.0f}s ({last}):\n{_log_tail(log)}")


@pytest.fixture
def kefu_server(chromium_path: Path, tmp_path: Path) -> Iterator[str]:
    """`kefu serve` on a free port with a fresh SQLite database; yields its base URL."""
    kefu = _kefu_command()
    if kefu is None:
        pytest.fail("the kefu command is missing: install the project into the virtualenv (pip install -e '.[dev]')")
    port = _free_port()
    env = dict(os.environ)
    env["KEFU_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'kefu.db'}"
    env["PYTHONUNBUFFERED"] = "1"
    log = tmp_path / "kefu-serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(kefu), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(proc, f"{base}/healthz", log)
        yield base
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


@pytest.fixture
async def browser(chromium_path: Path) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        instance = await pw.chromium.launch(executable_path=str(chromium_path), headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            await instance.close()
