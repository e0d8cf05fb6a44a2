"""Configuration of the Telegram bot, read from KEFU_TELEGRAM_* variables (and .env)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from aiogram import Bot

CHANNEL = "telegram"
DEFAULT_API_BASE = "https://api.telegram.org"
# What Telegram accepts as a webhook's secret_token: 1-256 characters of A-Z, a-z, 0-9, _ and -.
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class TelegramSettings(BaseSettings):
    """KEFU_TELEGRAM_TOKEN, _SECRET, _API_BASE and _REPS_CHAT_ID; the channel is off without a token."""

    model_config = SettingsConfigDict(env_prefix="KEFU_TELEGRAM_", env_file=".env", extra="ignore")

    token: SecretStr = SecretStr("")
    # Telegram sends it back in X-Telegram-Bot-Api-Secret-Token on every webhook call.
    secret: SecretStr = SecretStr("")
    api_base: str = DEFAULT_API_BASE
    # The reps' supergroup with forum topics, one per escalated conversation; off while unset.
    reps_chat_id: int | None = None
    api_timeout_seconds: float = Field(default=10.0, gt=0)
    # The Bot API's getFile serves files up to 20 MB.
    media_max_bytes: int = Field(default=20 * 1024 * 1024, gt=0)

    @field_validator("secret")
    @classmethod
    def _secret_is_what_telegram_accepts(cls, value: SecretStr) -> SecretStr:
        # setWebhook would refuse it anyway; failing at start-up names the variable to fix.
        raw = value.get_secret_value()
        if raw and not _SECRET.match(raw):
            raise ValueError("KEFU_TELEGRAM_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("api_base")
    @classmethod
    def _api_base_without_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def enabled(self) -> bool:
        return bool(self.token.get_secret_value())

    def bot(self) -> Bot:
        """A Bot on the configured API base; plain text by default (see TelegramChannel)."""
        # aiogram (with aiohttp) is loaded only by a process that has a bot: every other one is lighter for it.
        from aiogram import Bot
        from aiogram.client.default import DefaultBotProperties
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer

        session = AiohttpSession(api=TelegramAPIServer.from_base(self.api_base), timeout=self.api_timeout_seconds)
        return Bot(self.token.get_secret_value(), session=session, default=DefaultBotProperties(parse_mode=None))


def telegram_config_problem(settings: TelegramSettings) -> str | None:
    """Why this Telegram configuration cannot work as a web deployment, or None when it can."""
    if settings.enabled and settings.reps_chat_id is not None and not settings.secret.get_secret_value():
        return (
            "KEFU_TELEGRAM_REPS_CHAT_ID is set but KEFU_TELEGRAM_SECRET is not: the /telegram webhook is not "
            "mounted without it, so topics would be opened and reps' replies never arrive. Set KEFU_TELEGRAM_SECRET "
            "(and run `kefu telegram set-webhook`), or unset KEFU_TELEGRAM_REPS_CHAT_ID."
        )
    return None


def default_bot(settings: TelegramSettings | None = None) -> Bot | None:
    """The bot configured in the environment, or None when no token is set."""
    settings = settings or TelegramSettings()
    return settings.bot() if settings.enabled else None
