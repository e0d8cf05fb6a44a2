"""Configuration of WeChat Official Account (公众号) accounts, read from KEFU_WECHAT_* variables."""

from __future__ import annotations

import base64
import binascii

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

CHANNEL = "wechat"
DEFAULT_ACCOUNT = "default"
DEFAULT_API_BASE = "https://api.weixin.qq.com/cgi-bin/"


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
    # Template messages by kind of message; only "default" is used until messages carry a kind.
    templates: dict[str, WeChatTemplate] = Field(default_factory=dict)

    @field_validator("aes_key")
    @classmethod
    def _aes_key_is_43_chars_of_base64(cls, value: SecretStr | None) -> SecretStr | None:
        # A bad EncodingAESKey would otherwise surface only as undecryptable messages at run time.
        if value is None or not value.get_secret_value():
            return None
        try:
            key = base64.b64decode(value.get_secret_value() + "=", validate=True)
        except binascii.Error:
            raise ValueError("aes_key must be the 43-character EncodingAESKey") from None
        if len(key) != 32:
            raise ValueError("aes_key must be the 43-character EncodingAESKey")
        return value

    @field_validator("api_base")
    @classmethod
    def _api_base_ends_with_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    def __hash__(self) -> int:
        # The templates dict is unhashable; an account is identified by its name and app id anyway.
        return hash((self.name, self.app_id))

    @property
    def safe_mode(self) -> bool:
        return self.aes_key is not None and bool(self.aes_key.get_secret_value())


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
        )


def default_account() -> WeChatAccount | None:
    """The account configured in the environment, if any."""
    return WeChatEnv().account()
