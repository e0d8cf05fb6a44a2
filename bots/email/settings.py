"""Mailboxes kefu reads and answers, from KEFU_EMAIL__ACCOUNTS__<name>__… variables (and .env)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.settings import SmtpSettings

CHANNEL = "email"
# An account's name is the outbox's and the messages' account column.
ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
Security = Literal["ssl", "starttls", "none"]

# What clients may attach: screenshots, documents and spreadsheets, archives of them; nothing executable.
DEFAULT_ATTACHMENT_TYPES = (
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "text/csv",
    "application/zip",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
)


class EmailAccount(BaseModel):
    """One mailbox: where its mail is read (IMAP), how replies leave (SMTP), and its limits."""

    model_config = ConfigDict(frozen=True)

    name: str = "default"
    # The address clients write to; the From of every reply and one of "our own" addresses.
    address: str = Field(min_length=3)
    display_name: str = ""
    # Other addresses delivering into this mailbox (aliases): mail from them is never answered.
    aliases: tuple[str, ...] = ()
    imap_host: str
    imap_port: int = 993
    imap_security: Security = "ssl"
    username: str
    password: SecretStr
    folder: str = "INBOX"
    # IDLE where the server offers it, re-issued before servers drop it (RFC 2177: at most 29 minutes).
    idle: bool = True
    idle_seconds: float = Field(default=25 * 60, gt=0)
    # Without IDLE (or after a failed connection) the mailbox is read this often.
    poll_seconds: float = Field(default=30.0, gt=0)
    imap_timeout_seconds: float = Field(default=30.0, gt=0)
    smtp_host: str
    smtp_port: int = 465
    smtp_security: Security = "ssl"
    # Unset: the IMAP login, as with 腾讯企业邮, 企业微信邮箱 and Exchange.
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    # Mails larger than this are not read at all (headers say who sent them; the rep sees them in the mailbox).
    max_mail_bytes: int = Field(default=30 * 1024 * 1024, gt=0)
    attachment_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    attachment_types: tuple[str, ...] = DEFAULT_ATTACHMENT_TYPES
    # RFC 3834: automatic answers to one address are rationed, whatever the mails that caused them.
    bot_mails_per_sender_per_hour: int = Field(default=10, ge=1)

    @field_validator("name")
    @classmethod
    def _name_is_an_account(cls, value: str) -> str:
        if not ACCOUNT_NAME.match(value):
            raise ValueError("account names are 1-32 letters, digits, '_' or '-'")
        return value

    @field_validator("address", "aliases", mode="after")
    @classmethod
    def _addresses_lower(cls, value: str | tuple[str, ...]) -> str | tuple[str, ...]:
        if isinstance(value, str):
            return value.strip().lower()
        return tuple(v.strip().lower() for v in value)

    @property
    def own_addresses(self) -> frozenset[str]:
        return frozenset({self.address, *self.aliases, self.username.lower()})

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2] or "localhost"

    def smtp(self) -> SmtpSettings:
        """The SMTP settings core.smtp.send_email takes, for this mailbox."""
        return SmtpSettings(
            host=self.smtp_host,
            port=self.smtp_port,
            username=self.smtp_username or self.username,
            password=self.smtp_password or self.password,
            sender=self.address,
            starttls=self.smtp_security == "starttls",
            ssl=self.smtp_security == "ssl",
            timeout=self.smtp_timeout_seconds,
        )


class EmailSettings(BaseSettings):
    """KEFU_EMAIL__ACCOUNTS__<name>__ADDRESS, __IMAP_HOST, … one group of variables per mailbox."""

    model_config = SettingsConfigDict(
        env_prefix="KEFU_EMAIL__", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    accounts: dict[str, EmailAccount] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _names_from_keys(cls, data: object) -> object:
        # The variable's <name> is the account's name unless the group sets one.
        if isinstance(data, dict) and isinstance(data.get("accounts"), dict):
            data = dict(data)
            data["accounts"] = {
                key: {"name": key, **value} if isinstance(value, dict) else value
                for key, value in data["accounts"].items()
            }
        return data

    def all(self) -> list[EmailAccount]:
        return sorted(self.accounts.values(), key=lambda a: a.name)
