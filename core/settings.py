"""Settings from KEFU_* environment variables, .env and config/kefu.yaml, in that order of precedence."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from core.errors import UnsafeSettings
from core.yaml_files import load_file

if TYPE_CHECKING:
    from pydantic_settings.sources.types import Traversable

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_DIR = PROJECT_ROOT / "config"
DEFAULT_SECRET = "kefu-development-secret-do-not-use-in-production"


def config_dir_from_env() -> Path:
    """The config folder: KEFU_CONFIG_DIR, else the project's own config/."""
    return Path(os.environ.get("KEFU_CONFIG_DIR") or DEFAULT_CONFIG_DIR)


class DialogueSettings(BaseModel):
    """Knobs of the dialogue: when to ask, when to hand off, how long to wait."""

    # The rules' own threshold, used when no model is configured (with one, the model file carries its threshold).
    classifier_threshold: float = 0.5
    # The learned model behind the rules, relative to the config folder: by default the starter model shipped with
    # kefu (docs/classification.md: why it is on); "" classifies with the rules alone.
    classifier_model: str = "classifier/model.json.gz"
    # The starter data a draft model is fitted on besides the deployment's confirmed labels: "auto" is the shared
    # corpus where this checkout has it (else the agency's own messages only), "none" the agency's messages only,
    # anything else a corpus file (TSV: text, label, source).
    training_corpus: str = "auto"
    # A worker fits a draft model once a week when new labels were confirmed (never published by itself).
    weekly_training: bool = True
    handoff_exact: list[str] = Field(default_factory=lambda: ["人工", "转人工", "人工客服", "human", "agent"])
    handoff_contains: list[str] = Field(
        default_factory=lambda: ["转人工", "人工客服", "人工服务", "找人工", "真人客服", "talk to a human"]
    )
    skip_words: list[str] = Field(
        default_factory=lambda: [
            "跳过",
            "skip",
            "无",
            "没有",
            "没有了",
            "不需要",
            "不需要了",
            "不用",
            "不用了",
            "不方便",
            "不填",
            "no thanks",
            "nope",
        ]
    )
    reopen_words: list[str] = Field(
        default_factory=lambda: ["没解决", "没有解决", "还是不行", "未解决", "not solved", "still not", "reopen"]
    )
    # After the resolution, a clause with a word of each list says the problem is back ("数据还是不对", "又出现了",
    # "still broken"), however it is put: the ticket is reopened, whatever score comes with it.
    reopen_still: list[str] = Field(default_factory=lambda: ["还是", "仍然", "依然", "又", "still", "again"])
    reopen_failing: list[str] = Field(default_factory=lambda: ["不行", "不对", "打不开", "出现", "broken", "wrong"])
    # At the satisfaction prompt, words by which the client declines to give a score ("不用评了", "没空").
    no_rating_words: list[str] = Field(default_factory=lambda: ["不用评", "不评了", "不想评", "不打分", "没空"])
    prefill_min_chars: int = 5
    # After asking for the category this many times while the client goes on describing, the bot files the issue
    # under its best reading and says it can be changed, rather than asking again (0: ask until the client picks).
    category_asks_before_guess: int = 2
    # A message this many seconds or less after the one in which the client began telling his issue goes on with
    # the telling ("你们做的海报", then "logo印错了"): he sent it before he could read what the bot asked meanwhile.
    fragment_seconds: float = 6.0
    # After this many answers that could not be used for one detail, the client is offered to skip it or a person.
    max_reasks: int = 2
    # Messages of nothing but venting ("垃圾公司", "滚") in one issue: at the first the bot answers calmly and asks
    # again; at `vent_offer_person_after` it offers a person too; at `vent_handoff_after` a person takes over
    # (0: never). Venting is never an answer, so it counts toward no detail's `max_reasks`.
    vent_offer_person_after: int = 2
    vent_handoff_after: int = 3
    idle_reminder_minutes: int = 10
    idle_abandon_hours: int = 24
    feedback_delay_minutes: int = 30
    feedback_reminder_hours: int = 24
    feedback_timeout_hours: int = 72
    feedback_comment_minutes: int = 30
    quiet_hours_start: str = "22:00"
    quiet_hours_end: str = "08:00"


class LimitSettings(BaseModel):
    """How much one client may send; 0 turns a limit off."""

    # One web-chat visitor, one WeChat or Telegram sender.
    messages_per_minute: int = 20
    # One address on the web chat, across visitors (offices share an address: kept generous).
    address_messages_per_minute: int = 120
    # New web-chat conversations (each can open at most one ticket at a time) from one address.
    address_conversations_per_hour: int = 20


class TicketSettings(BaseModel):
    """Knobs of the ticket lifecycle and its SLA clocks."""

    waive_summary_for_inquiry: bool = False
    sla_warning_ratio: float = 0.8
    summary_reminder_hours: int = 24
    low_score: int = 2


class SmtpSettings(BaseModel):
    """Outgoing e-mail for notifications; off while host is empty."""

    host: str | None = None
    port: int = 25
    username: str | None = None
    password: SecretStr | None = None
    sender: str = "kefu@localhost"
    starttls: bool = False
    # Implicit TLS from the first byte (port 465); starttls is then not used.
    ssl: bool = False
    timeout: float = 10.0


class WeeklyReportSettings(BaseModel):
    """When the previous week's report (Monday 00:00 to Monday 00:00, local time) is made and sent."""

    enabled: bool = True
    # 0 = Monday … 6 = Sunday, at this local wall-clock time (settings.timezone).
    weekday: int = Field(default=0, ge=0, le=6)
    at: str = Field(default="09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class ClientEvaluationSettings(BaseModel):
    """Weights of the client evaluation's score (客户评估) and when it suggests a tier change."""

    # Each indicator is scaled to 0..1 (scores 1..5, satisfaction 1..5, 1 - complaint rate, SLA met rate); the
    # score is their weighted mean ×100 over the indicators the client has.
    weight_business_importance: float = Field(default=3.0, ge=0)
    weight_market_influence: float = Field(default=2.0, ge=0)
    weight_payment_timeliness: float = Field(default=2.0, ge=0)
    weight_satisfaction: float = Field(default=2.0, ge=0)
    weight_complaints: float = Field(default=1.0, ge=0)
    weight_sla: float = Field(default=1.0, ge=0)
    # A score this high suggests the next higher tier, this low the next lower one.
    promote_at: float = Field(default=80.0, ge=0, le=100)
    demote_below: float = Field(default=40.0, ge=0, le=100)
    # Satisfaction down by at least this much while complaints rose: suggest the next lower tier (关注).
    satisfaction_drop: float = Field(default=0.5, ge=0)
    # Fewer tickets than this in the period say too little about a client for ticket-based suggestions.
    min_tickets: int = Field(default=3, ge=1)
    # Whether a worker archives each ended quarter's evaluation and sends it to supervisors.
    quarterly: bool = True


class _CachedYamlSource(YamlConfigSettingsSource):
    """pydantic-settings' YAML source, reading kefu.yaml through kefu's parse-once loader."""

    # Settings are built at every start and in every test; pydantic-settings parses with pure-Python PyYAML.
    def _read_file(self, file_path: Path | Traversable) -> dict[str, Any]:
        if not isinstance(file_path, Path):
            return super()._read_file(file_path)
        data: dict[str, Any] = load_file(file_path) or {}
        return data


class Settings(BaseSettings):
    """All of kefu's settings; construct once in the composition root and pass it down."""

    model_config = SettingsConfigDict(
        env_prefix="KEFU_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    env: Literal["development", "test", "production"] = "development"
    database_url: str = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'kefu.db'}"
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET)
    host: str = "127.0.0.1"
    port: int = 8000
    config_dir: Path = Field(default_factory=config_dir_from_env)
    media_dir: Path = PROJECT_ROOT / "var" / "media"
    language: Literal["zh", "en"] = "zh"
    timezone: str = "Asia/Shanghai"
    max_message_chars: int = 4000
    max_body_bytes: int = 256 * 1024
    # A request body must arrive whole within this many seconds (408 otherwise).
    body_read_seconds: float = 30.0
    # uvicorn closes idle keep-alive connections after this many seconds.
    keep_alive_seconds: int = 5
    # uvicorn answers 503 beyond this many open connections and tasks (unset: no cap).
    max_connections: int | None = None
    outbox_max_attempts: int = 8
    outbox_poll_seconds: float = 1.0
    followup_poll_seconds: float = 5.0
    # How often every process checks whether admins published new settings or keyword rules.
    config_poll_seconds: float = 1.0
    redis_url: str | None = None
    # Keys and channels in Redis start with this, so several deployments (or test runs) can share one server.
    redis_prefix: str = "kefu"
    # web: webhooks and pages only; worker: outbox, follow-ups and notifiers only; all: both (one process).
    role: Literal["web", "worker", "all"] = "all"
    metrics_token: SecretStr | None = None
    shutdown_grace_seconds: float = 10.0
    # After SIGTERM, /readyz answers 503 while everything is still served this long (the proxy's or load
    # balancer's health check takes the process out of rotation), then streams end and the process stops.
    prestop_seconds: float = 2.0
    log_level: str = "INFO"
    web_cookie_name: str = "kefu_web"
    # Always Secure in production; elsewhere it follows this.
    web_cookie_secure: bool = False
    # Who may show the web chat page in a frame (CSP frame-ancestors): 'none', 'self', or the sites that embed it.
    web_frame_ancestors: str = "'self'"
    followup_cutoff_hours: int = 72
    # Unsent replies written longer ago than this are marked failed rather than sent (restored backup).
    outbox_cutoff_hours: int = 24
    # Base URL of the console (e.g. https://kefu.example.com); links to tickets in notifications use it.
    console_url: str | None = None
    dialogue: DialogueSettings = Field(default_factory=DialogueSettings)
    tickets: TicketSettings = Field(default_factory=TicketSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    weekly_report: WeeklyReportSettings = Field(default_factory=WeeklyReportSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    client_evaluation: ClientEvaluationSettings = Field(default_factory=ClientEvaluationSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = config_dir_from_env() / "kefu.yaml"
        yaml_settings = _CachedYamlSource(settings_cls, yaml_file=yaml_file, yaml_file_encoding="utf-8")
        return (init_settings, env_settings, dotenv_settings, yaml_settings, file_secret_settings)

    def check_safe(self) -> None:
        """Refuse production with secrets anyone can read in this repository."""
        if self.env != "production":
            return
        if self.secret_key.get_secret_value() in {DEFAULT_SECRET, ""} or len(self.secret_key.get_secret_value()) < 32:
            raise UnsafeSettings(
                "KEFU_SECRET_KEY must be set to a random value of at least 32 characters in production"
            )
        if self.metrics_token is None or not self.metrics_token.get_secret_value():
            # /metrics tells anyone who asks about traffic, backlog and escalations.
            raise UnsafeSettings("KEFU_METRICS_TOKEN must be set in production (Prometheus sends it as a bearer token)")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
