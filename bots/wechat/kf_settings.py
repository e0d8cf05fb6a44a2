"""Configuration of WeCom 微信客服 (kf), read from KEFU_WECOM_* variables."""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bots.wechat.settings import aes_key, with_slash

CHANNEL = "wecom"
DEFAULT_API_BASE = "https://qyapi.weixin.qq.com/cgi-bin/"


class RepMode(enum.StrEnum):
    """Where kefu's reps answer WeCom clients."""

    # From kefu's console (or the reps' Telegram group): the WeCom session stays with the API (state 1).
    CONSOLE = "console"
    # As WeCom 接待人员 from WeCom's own client: a claim hands the session over (state 3) and kefu stops sending.
    WECOM = "wecom"


class WeComKfAccount(BaseModel):
    """One WeCom corp's kf app: the callback's token and AES key, and the credentials of its API."""

    model_config = ConfigDict(frozen=True)

    corp_id: str
    secret: SecretStr
    token: SecretStr
    # WeCom encrypts every callback, so the key is required (unlike the Official Account's plaintext mode).
    aes_key: SecretStr
    api_base: str = DEFAULT_API_BASE
    # Signed callbacks older (or newer) than this are replays or a wrong clock.
    max_clock_skew_seconds: int = Field(default=300, gt=0)
    api_timeout_seconds: float = Field(default=10.0, gt=0)
    # Who serves the client in WeCom when a kefu rep claims the conversation: the rep's kefu username
    # mapped to their WeCom userid, else `default_servicer`; with neither, the session goes to the waiting pool.
    servicers: dict[str, str] = Field(default_factory=dict)
    default_servicer: str | None = None
    rep_mode: RepMode = RepMode.CONSOLE

    @field_validator("aes_key")
    @classmethod
    def _aes_key_is_43_chars_of_base64(cls, value: SecretStr) -> SecretStr:
        return aes_key(value)

    @field_validator("api_base")
    @classmethod
    def _api_base_ends_with_slash(cls, value: str) -> str:
        return with_slash(value)

    def servicer_for(self, username: str) -> str | None:
        """The WeCom userid that serves the clients a kefu rep claims."""
        return self.servicers.get(username) or self.default_servicer or None


class WeComKfEnv(BaseSettings):
    """The kf app as KEFU_WECOM_CORP_ID, _SECRET, _TOKEN, _AES_KEY, _API_BASE, _REP_MODE (and .env).

    KEFU_WECOM_REP_MODE is `console` (default: reps answer from kefu) or `wecom` (reps are 接待人员).
    KEFU_WECOM_SERVICERS is JSON, kefu username to WeCom userid, e.g. {"lina": "LiNa"};
    KEFU_WECOM_DEFAULT_SERVICER serves for reps without an entry (both only matter in `wecom` mode).
    """

    model_config = SettingsConfigDict(env_prefix="KEFU_WECOM_", env_file=".env", extra="ignore")

    corp_id: str = ""
    secret: SecretStr = SecretStr("")
    token: SecretStr = SecretStr("")
    aes_key: SecretStr = SecretStr("")
    api_base: str = DEFAULT_API_BASE
    servicers: dict[str, str] = Field(default_factory=dict)
    default_servicer: str | None = None
    rep_mode: RepMode = RepMode.CONSOLE

    def account(self) -> WeComKfAccount | None:
        """The configured app, or None when any of the four credentials is missing."""
        if not (
            self.corp_id
            and self.secret.get_secret_value()
            and self.token.get_secret_value()
            and self.aes_key.get_secret_value()
        ):
            return None
        return WeComKfAccount(
            corp_id=self.corp_id,
            secret=self.secret,
            token=self.token,
            aes_key=self.aes_key,
            api_base=self.api_base,
            servicers=self.servicers,
            default_servicer=self.default_servicer,
            rep_mode=self.rep_mode,
        )


def default_kf_account() -> WeComKfAccount | None:
    """The kf app configured in the environment, if any."""
    return WeComKfEnv().account()
