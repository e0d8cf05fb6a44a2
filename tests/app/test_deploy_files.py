"""deploy/: the environment template names every setting and parses; the units' stop timeout covers the drain."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT, Settings
from handlers.console.settings import ConsoleSettings

DEPLOY = PROJECT_ROOT / "deploy"


def env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile reads them: comments skipped, one pair of outer quotes removed."""
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def test_the_environment_template_lists_every_setting() -> None:
    text = (DEPLOY / "kefu.env").read_text(encoding="utf-8")
    missing = []
    for name, field in Settings.model_fields.items():
        nested = isinstance(field.default_factory, type)
        key = f"KEFU_{name.upper()}{'__' if nested else '='}"
        if key not in text:
            missing.append(key)
    for key in ("KEFU_MEDIA_DIR=", "KEFU_CONSOLE_COOKIE_SECURE=", "KEFU_CONSOLE_URL=", "KEFU_TIMEZONE="):
        if key not in text:
            missing.append(key)
    assert missing == []


def test_the_environment_template_is_a_valid_production_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in env_file(DEPLOY / "kefu.env").items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    settings.check_safe()
    assert settings.env == "production" and settings.redis_url
    assert settings.web_frame_ancestors == "'self'", "systemd removes the outer quotes only"
    assert str(settings.media_dir).startswith("/var/lib/kefu")
    assert ConsoleSettings().cookie_secure is True


@pytest.mark.parametrize("unit", ["kefu-web@.service", "kefu-worker@.service"])
def test_units_stop_with_sigterm_and_wait_for_the_whole_drain(unit: str) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "systemd" / unit)
    service = parser["Service"]
    env = env_file(DEPLOY / "kefu.env")
    drain = float(env["KEFU_PRESTOP_SECONDS"]) + 2 * float(env["KEFU_SHUTDOWN_GRACE_SECONDS"])
    assert service["KillSignal"] == "SIGTERM"
    assert float(service["TimeoutStopSec"]) > drain, "systemd would SIGKILL a process still draining"
    assert service["EnvironmentFile"] == "/etc/kefu/kefu.env"
    role = "web" if "web" in unit else "worker"
    assert re.search(rf"kefu serve --role {role} .*--port %i", service["ExecStart"])
