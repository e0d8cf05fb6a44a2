"""Settings of the console (KEFU_CONSOLE_*): session lifetime, sign-in throttling, queue thresholds."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    """How long sessions live, how failed sign-ins are slowed down, when a ticket counts as at risk."""

    model_config = SettingsConfigDict(env_prefix="KEFU_CONSOLE_", env_file=".env", extra="ignore")

    cookie_name: str = "kefu_console"
    # Browsers accept Secure cookies from http://localhost and 127.0.0.1, so this stays on in development too.
    cookie_secure: bool = True
    session_hours: float = 12.0
    idle_minutes: float = 120.0
    # Failures before each further attempt must wait (1 s, 2 s, 4 s, ... up to backoff_max_seconds).
    backoff_after: int = 3
    backoff_max_seconds: int = 60
    # Failures of one user name from one address that lock that pair for lock_minutes.
    lock_after: int = 6
    lock_minutes: int = 15
    # Failures from one address across all names that lock the address.
    ip_lock_after: int = 30
    # Failures of one name across all addresses that lock it for addresses which have failed before.
    name_lock_after: int = 20
    # Counters untouched this long are deleted (made-up names leave nothing behind).
    throttle_forget_hours: float = 24.0
    # zxcvbn's score (0-4) a new password must reach.
    password_min_score: int = 3
    sla_risk_minutes: int = 60
    page_size: int = 50
