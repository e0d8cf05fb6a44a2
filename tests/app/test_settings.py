"""Settings: precedence of environment over config/kefu.yaml, and production's refusal of default secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import UnsafeSettings
from core.settings import Settings


def test_yaml_defaults_and_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "kefu.yaml").write_text("max_message_chars: 1234\ndialogue:\n  idle_reminder_minutes: 7\n")
    monkeypatch.setenv("KEFU_CONFIG_DIR", str(tmp_path))
    assert Settings().max_message_chars == 1234
    assert Settings().dialogue.idle_reminder_minutes == 7
    monkeypatch.setenv("KEFU_MAX_MESSAGE_CHARS", "99")
    monkeypatch.setenv("KEFU_DIALOGUE__IDLE_REMINDER_MINUTES", "3")
    assert Settings().max_message_chars == 99
    assert Settings().dialogue.idle_reminder_minutes == 3


def test_shipped_config_loads() -> None:
    settings = Settings()
    assert settings.language == "zh"
    assert "转人工" in settings.dialogue.handoff_exact
    assert settings.database_url.startswith("sqlite+aiosqlite:///")


def test_production_refuses_default_secret() -> None:
    with pytest.raises(UnsafeSettings):
        Settings(env="production").check_safe()
    with pytest.raises(UnsafeSettings):
        Settings(env="production", secret_key="short").check_safe()
    Settings(env="production", secret_key="x" * 40, metrics_token="m" * 24).check_safe()
    Settings(env="development").check_safe()


def test_production_refuses_to_start_with_open_metrics() -> None:
    with pytest.raises(UnsafeSettings, match="KEFU_METRICS_TOKEN"):
        Settings(env="production", secret_key="x" * 40).check_safe()
    with pytest.raises(UnsafeSettings, match="KEFU_METRICS_TOKEN"):
        Settings(env="production", secret_key="x" * 40, metrics_token="").check_safe()


def test_production_app_does_not_start_with_default_secret() -> None:
    from handlers.app import create_app

    with pytest.raises(UnsafeSettings):
        create_app(Settings(env="production"))
