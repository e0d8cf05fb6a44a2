"""Configuration of WeChat Official Account (公众号) accounts, read from KEFU_WECHAT_* variables."""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError
from core.messages import MessageKind
from core.yaml_files import load_file

CHANNEL = "wechat"
DEFAULT_ACCOUNT = "default"
DEFAULT_API_BASE = "https://api.weixin.qq.com/cgi-bin/"
# An account's name is a path segment (/wechat/<name>) and the outbox's account column.
ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def aes_key(value: SecretStr) -> SecretStr:
    """`value` when it is a 43-character EncodingAESKey (32 bytes in base64); ValueError otherwise.

    A bad key would otherwise surface only as messages that cannot be decrypted, at run time.
    """
    try:
        key = base64.b64decode(value.get_secret_value() + "=", validate=True)
    except binascii.Error:
        raise ValueError("aes_key must be the 43-character EncodingAESKey") from None
    if len(key) != 32:
        raise ValueError("aes_key must be the 43-character EncodingAESKey")
    return value


def with_slash(url: str) -> str:
    """An API base URL ending in "/", so paths join onto it."""
    return url if url.endswith("/") else url + "/"


class WeChatTemplate(BaseModel):
    """A template message (模板消息) sent when the 48-hour window is closed; see bots/wechat/templates.py.

    The template must have the fields first, keyword1 and remark: first gets the text's first line,
    keyword1 the rest, remark this fixed `remark`.
    """

    model_config = ConfigDict(frozen=True)

    template_id: str = Field(min_length=1)
    remark: str = ""


class WeChatAccount(BaseModel):
    """One Official Account: the webhook's token and AES key, and the credentials of its API."""

    model_config = ConfigDict(frozen=True)

    name: str = DEFAULT_ACCOUNT
    token: SecretStr
    app_id: str
    app_secret: SecretStr
    # Set for safe mode (安全模式): then every POST must be encrypted.
    aes_key: SecretStr | None = None
    api_base: str = DEFAULT_API_BASE
    # WeChat waits 5 s for the webhook's answer and retries after that; leave room for the network.
    passive_budget_seconds: float = Field(default=3.5, gt=0)
    # Signed requests older (or newer) than this are replays or a wrong clock.
    max_clock_skew_seconds: int = Field(default=300, gt=0)
    api_timeout_seconds: float = Field(default=10.0, gt=0)
    # Media the client sends are downloaded up to this size (WeChat's own limits are 10 MB and below).
    media_max_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    # Template messages by kind of message (core.messages.MessageKind); "default" stands in for the others.
    templates: dict[str, WeChatTemplate] = Field(default_factory=dict)
    # Customer-service and template sends of this account per second, in this process.
    send_rate_per_second: int = Field(default=20, gt=0)

    @field_validator("name")
    @classmethod
    def _name_is_a_path_segment(cls, value: str) -> str:
        if not ACCOUNT_NAME.match(value):
            raise ValueError("account names are 1-32 letters, digits, '_' or '-'")
        return value

    @field_validator("aes_key")
    @classmethod
    def _aes_key_is_43_chars_of_base64(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        return aes_key(value)

    @field_validator("api_base")
    @classmethod
    def _api_base_ends_with_slash(cls, value: str) -> str:
        return with_slash(value)

    def __hash__(self) -> int:
        # The templates dict is unhashable; an account is identified by its name and app id anyway.
        return hash((self.name, self.app_id))

    @property
    def safe_mode(self) -> bool:
        return self.aes_key is not None and bool(self.aes_key.get_secret_value())

    def template_for(self, kind: str) -> WeChatTemplate | None:
        """The template of this kind of message, else the default one, else None (the reply is parked)."""
        return self.templates.get(kind) or self.templates.get(MessageKind.DEFAULT)


class WeChatEnv(BaseSettings):
    """The default account as KEFU_WECHAT_TOKEN, _APP_ID, _APP_SECRET, _AES_KEY, _API_BASE (and .env).

    KEFU_WECHAT_TEMPLATES is JSON, e.g. {"default": {"template_id": "TPL", "remark": "回复即可继续沟通"}}.
    """

    model_config = SettingsConfigDict(env_prefix="KEFU_WECHAT_", env_file=".env", extra="ignore")

    token: SecretStr = SecretStr("")
    app_id: str = ""
    app_secret: SecretStr = SecretStr("")
    aes_key: SecretStr | None = None
    api_base: str = DEFAULT_API_BASE
    passive_budget_seconds: float = Field(default=3.5, gt=0)
    templates: dict[str, WeChatTemplate] = Field(default_factory=dict)
    send_rate_per_second: int = Field(default=20, gt=0)

    def account(self) -> WeChatAccount | None:
        """The default account, or None when the channel is not configured."""
        if not (self.token.get_secret_value() and self.app_id and self.app_secret.get_secret_value()):
            return None
        aes_key = self.aes_key if self.aes_key is not None and self.aes_key.get_secret_value() else None
        return WeChatAccount(
            name=DEFAULT_ACCOUNT,
            token=self.token,
            app_id=self.app_id,
            app_secret=self.app_secret,
            aes_key=aes_key,
            api_base=self.api_base,
            passive_budget_seconds=self.passive_budget_seconds,
            templates=self.templates,
            send_rate_per_second=self.send_rate_per_second,
        )


def default_account() -> WeChatAccount | None:
    """The account configured in the environment, if any."""
    return WeChatEnv().account()


def config_accounts(config_file: Path) -> list[WeChatAccount]:
    """The further accounts under `wechat: accounts:` in kefu.yaml, each served at /wechat/<name>."""
    if not config_file.is_file():
        return []
    data = load_file(config_file) or {}
    section = data.get("wechat") if isinstance(data, dict) else None
    entries: Any = section.get("accounts") if isinstance(section, dict) else None
    if entries is None:
        return []
    if not isinstance(entries, dict):
        raise ConfigError(f"{config_file}: wechat.accounts must map account names to their settings")
    accounts: list[WeChatAccount] = []
    for name, values in entries.items():
        if str(name) == DEFAULT_ACCOUNT:
            raise ConfigError(f"{config_file}: the default account comes from KEFU_WECHAT_*; name this one otherwise")
        if not isinstance(values, dict):
            raise ConfigError(f"{config_file}: wechat.accounts.{name} must be a mapping")
        try:
            accounts.append(WeChatAccount(**{**values, "name": str(name)}))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"{config_file}: wechat.accounts.{name}: {problems}") from None
    return accounts


def all_accounts(config_dir: Path) -> list[WeChatAccount]:
    """The default account (environment), when configured, then those of config/kefu.yaml."""
    default = default_account()
    return ([default] if default is not None else []) + config_accounts(config_dir / "kefu.yaml")
