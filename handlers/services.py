"""Builds kefu's object graph from settings: database, channels, classifier, engine, outbox, follow-ups."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bots.email.settings import EmailAccount, EmailSettings
from bots.telegram.settings import TelegramSettings
from bots.web.channel import LiveHub, WebChannel
from bots.wechat.channel import WeChatAccounts, WeChatChannel
from bots.wechat.kf_channel import WeComKfChannel
from bots.wechat.kf_settings import default_kf_account
from bots.wechat.settings import DEFAULT_ACCOUNT, WeChatAccount, all_accounts
from bots.wechat.token import StateStore
from core.business_hours import BusinessCalendar
from core.calendar_coverage import CoverageWarning, coverage_warning
from core.channel import ChannelRegistry
from core.channel_state import ChannelStateStore
from core.clock import Clock, SystemClock
from core.config_store import ConfigWatcher
from core.db.session import Database
from core.dialogue.entities import preload as preload_entities
from core.dialogue.forms import Forms
from core.dialogue.textmodel import TextModel
from core.draining import Draining
from core.engine import ClassifierHolder, Engine
from core.followups import FollowUpRunner
from core.inbound_limits import InboundLimits
from core.keywords.spec import RuleSpec
from core.keywords.versions import (
    DOCUMENT as KEYWORDS,
)
from core.keywords.versions import (
    classifier_for,
    get_version,
    specs_of,
)
from core.learning.store import DOCUMENT as MODEL_DOCUMENT
from core.learning.store import SHIPPED as SHIPPED_MODEL
from core.learning.store import get_model
from core.learning.store import unpack as unpack_model
from core.live import LiveBus
from core.media import MediaStore
from core.outbox import OutboxDispatcher
from core.seed import seed_database
from core.settings import Settings
from core.singleton import serialize
from core.texts import Texts
from core.tickets.desk import TicketDesk
from core.tickets.policies import TicketPolicies
from core.wiring import build_core
from handlers.config_documents import register_appliers
from handlers.console.canned import CannedReplies
from handlers.heap import freeze_long_lived, release_free_heap

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from aiogram import Bot

    from bots.telegram.notify import TelegramNotifier
    from bots.telegram.reps import RepsGroup


@dataclass
class Services:
    """Everything a running kefu holds; built once per process (and per test)."""

    settings: Settings
    clock: Clock
    db: Database
    texts: Texts
    forms: Forms
    policies: TicketPolicies
    calendar: BusinessCalendar
    canned: CannedReplies
    desk: TicketDesk
    registry: ChannelRegistry
    hub: LiveHub
    limits: InboundLimits
    live: LiveBus
    wechat: WeChatAccount | None
    # Every Official Account (the default one of KEFU_WECHAT_* first, then those of config/kefu.yaml).
    wechat_accounts: list[WeChatAccount]
    wecom_kf: WeComKfChannel | None
    telegram: TelegramSettings
    telegram_bot: Bot | None
    reps: RepsGroup | None
    telegram_notifier: TelegramNotifier | None
    channel_state: ChannelStateStore
    # Where access tokens and reply windows live: Redis when KEFU_REDIS_URL is set, else channel_state.
    token_store: StateStore
    classifier: ClassifierHolder
    dispatcher: OutboxDispatcher
    engine: Engine
    followups: FollowUpRunner
    # Applies what admins saved in the console, here and in every other process.
    config: ConfigWatcher
    # The learned model the settings name (settings.dialogue.classifier_model), read once per process: in force
    # until a model stored in the database is published.
    text_model: TextModel | None = None
    # The learned model in force: the settings' one, or the published one named by the "classifier" document.
    model_in_force: TextModel | None = None
    model_number: int = 0
    # The published rule version in force and its rules (live classification is rebuilt from both).
    rules_version: int | None = None
    rule_specs: tuple[RuleSpec, ...] = ()
    # The mailboxes of the e-mail channel (KEFU_EMAIL__ACCOUNTS__<name>__…); their readers run in workers.
    email_accounts: list[EmailAccount] = field(default_factory=list)
    # Set when the process is asked to stop: readiness off first, then the streams end.
    draining: Draining = field(default_factory=Draining)
    _preloading: asyncio.Future[None] | None = None

    async def start(self, *, migrate: bool = True, server: bool = False) -> None:
        """Migrate, seed config into an empty database, and load the rules in force.

        `server`: the process serves until it stops (`kefu serve`): once the entity tables are in, what start-up
        left alive is kept out of the garbage collector's passes (`freeze_long_lived`).
        """
        if migrate:
            from core.db.migrate import upgrade

            await upgrade(self.db)
        # The entity readers (phone numbers, Chinese numerals) load their tables in the background, so neither
        # the start nor the first client's turn waits for them.
        self._preloading = asyncio.get_running_loop().run_in_executor(None, preload_entities)
        now = self.clock.now()
        async with self.db.transaction() as session:
            # Processes started together on an empty database would otherwise seed it twice and collide.
            await serialize(session, "seed")
            await seed_database(session, self.policies, self.settings.config_dir / "keywords.yaml", now)
        await self.config.check()
        # After the saved settings are in force: the admins' calendar may cover more than config/ does.
        warning = self.calendar_warning()
        if warning is not None:
            log.warning("holiday calendar: %s", warning.text(self.texts, "en"))
        # What start-up built and dropped (rule tables, spellings, validators: about 6 MiB of the heap) goes
        # back to the system instead of staying resident: now, and again once the entity tables are in.
        release_free_heap()
        self._preloading.add_done_callback(lambda _: self._settle(server))

    @staticmethod
    def _settle(server: bool) -> None:
        if server:
            log.debug("%s start-up objects kept out of garbage collection", freeze_long_lived())
        release_free_heap()

    def calendar_warning(self) -> CoverageWarning | None:
        """The holiday calendar's coverage warning for today (the calendar's local date), if one is due."""
        today = self.clock.now().astimezone(self.calendar.tz).date()
        return coverage_warning(self.calendar, today)

    def use(
        self,
        *,
        policies: TicketPolicies | None = None,
        calendar: BusinessCalendar | None = None,
        canned: CannedReplies | None = None,
    ) -> None:
        """Put new settings in force in every object that holds them: the one place a swap happens.

        Texts are not swapped but overridden in place (Texts.use_overrides): every part of kefu shares one.
        """
        if policies is not None:
            self.policies = self.desk.policies = self.engine.policies = policies
        if calendar is not None:
            self.calendar = self.desk.calendar = calendar
        if canned is not None:
            self.canned = canned

    async def apply_keywords(self, body: dict[str, object]) -> None:
        """Classify with the published version `body["version"]` from now on; drafts never get here."""
        number = body.get("version")
        if not isinstance(number, int):
            raise ValueError(f"keywords document without a version number: {body!r}")
        async with self.db.transaction() as session:
            specs = specs_of(await get_version(session, number))
        self.rules_version, self.rule_specs = number, tuple(specs)
        self._classify_with_what_is_in_force()

    async def apply_classifier_model(self, body: dict[str, object]) -> None:
        """Classify with the published model `body["version"]` (0: the settings' one) at `body["threshold"]`."""
        number = body.get("version")
        if not isinstance(number, int):
            raise ValueError(f"classifier document without a version number: {body!r}")
        model = self.text_model
        if number != SHIPPED_MODEL:
            async with self.db.transaction() as session:
                row = await get_model(session, number)
                blob = row.model
            # Parsing a model takes a second or two: off the event loop, so turns keep flowing meanwhile.
            model = await asyncio.to_thread(unpack_model, number, blob)
            threshold = body.get("threshold")
            if isinstance(threshold, int | float):
                model = model.with_threshold(float(threshold))
        self.model_in_force, self.model_number = model, number
        self._classify_with_what_is_in_force()

    def _classify_with_what_is_in_force(self) -> None:
        self.classifier.current = classifier_for(
            self.rule_specs, self.settings.dialogue.classifier_threshold, self.rules_version, self.model_in_force
        )

    async def stop(self) -> None:
        if self.telegram_bot is not None:
            await self.telegram_bot.session.close()
        if self.settings.redis_url:
            from bots.wechat.redis_store import RedisStateStore

            if isinstance(self.token_store, RedisStateStore):
                self.token_store.close()
        await self.db.dispose()


def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    settings.check_safe()
    clock = clock or SystemClock()
    config_dir = settings.config_dir
    core = build_core(settings, clock)
    db, texts, registry, channel_state = core.db, core.texts, core.registry, core.channel_state
    hub = LiveHub()
    # Web-chat streams hear of replies sent by any process: the bus relays them over Redis when configured.
    db.live.add_watcher(hub.on_event)
    registry.register(WebChannel(hub))
    token_store: StateStore = channel_state
    if settings.redis_url:
        # The Redis client (about 7 MiB) is loaded only by a deployment that has Redis.
        from bots.wechat.redis_store import RedisStateStore

        token_store = RedisStateStore.from_url(settings.redis_url, clock, prefix=settings.redis_prefix)
    wechat_accounts = all_accounts(config_dir)
    wechat = next((a for a in wechat_accounts if a.name == DEFAULT_ACCOUNT), None)
    if wechat_accounts:
        registry.register(
            WeChatAccounts(
                WeChatChannel(account, token_store, media_dir=settings.media_dir, clock=clock)
                for account in wechat_accounts
            )
        )
    kf_account = default_kf_account()
    wecom_kf = WeComKfChannel(kf_account, token_store) if kf_account is not None else None
    if wecom_kf is not None:
        registry.register(wecom_kf)
    telegram = TelegramSettings()
    telegram_bot = telegram.bot() if telegram.enabled else None
    reps: RepsGroup | None = None
    telegram_notifier: TelegramNotifier | None = None
    if telegram_bot is not None:
        reps, telegram_notifier = _wire_telegram(settings, telegram, telegram_bot, db, texts, registry, clock)
    email_accounts = EmailSettings().all()
    if email_accounts:
        # Imported only when a mailbox is configured: a process without one loads no e-mail code.
        from bots.email.channel import EmailChannel

        registry.register(EmailChannel(email_accounts, db, channel_state, clock, texts, language=settings.language))
    services = Services(
        settings=settings,
        clock=clock,
        db=db,
        texts=texts,
        forms=core.forms,
        policies=core.policies,
        calendar=core.calendar,
        canned=CannedReplies.load(config_dir / "canned_replies.yaml", settings.language),
        desk=core.desk,
        registry=registry,
        hub=hub,
        limits=InboundLimits(settings.limits, settings.redis_url, settings.redis_prefix),
        live=db.live,
        wechat=wechat,
        wechat_accounts=wechat_accounts,
        wecom_kf=wecom_kf,
        telegram=telegram,
        telegram_bot=telegram_bot,
        reps=reps,
        telegram_notifier=telegram_notifier,
        channel_state=channel_state,
        token_store=token_store,
        classifier=core.classifier,
        dispatcher=core.dispatcher,
        engine=core.engine,
        followups=core.followups,
        config=ConfigWatcher(db),
        text_model=core.text_model,
        model_in_force=core.text_model,
        email_accounts=email_accounts,
    )
    # Live classification follows the published version named by the "keywords" document, in every process,
    # and the published model named by the "classifier" document.
    services.draining.on_close(hub.close_all)
    services.config.on(KEYWORDS, services.apply_keywords)
    services.config.on(MODEL_DOCUMENT, services.apply_classifier_model)
    register_appliers(services)
    if telegram_notifier is not None:
        # Read at each message: the calendar in force is the one the admins saved last.
        telegram_notifier.calendar = lambda: services.calendar
    return services


def _wire_telegram(
    settings: Settings,
    telegram: TelegramSettings,
    bot: Bot,
    db: Database,
    texts: Texts,
    registry: ChannelRegistry,
    clock: Clock,
) -> tuple[RepsGroup | None, TelegramNotifier]:
    """The Telegram channel, notifier and reps' group; imported here so a process without a bot loads no aiogram."""
    from bots.telegram.channel import TelegramChannel
    from bots.telegram.media import TelegramMedia
    from bots.telegram.notify import TelegramNotifier
    from bots.telegram.ratelimit import RateLimiter
    from bots.telegram.reps import RepsGroup
    from bots.telegram.topics import TopicWriter

    # One limiter for everything this bot sends: the 30/s overall budget is shared.
    limiter = RateLimiter(clock)
    media = TelegramMedia(bot, MediaStore(settings.media_dir, telegram.media_max_bytes))
    # Hardly any waiting inside a send: a reply throttled for longer goes back to the outbox until its
    # chat may be written to, so one busy chat never holds a delivery that other chats wait for. The
    # quarter second covers the gap between a row's due time and the once-a-second sweep that sends it.
    registry.register(TelegramChannel(bot, limiter, media=media, max_inline_wait=0.25))
    writer = TopicWriter(
        texts, language=settings.language, timezone=settings.timezone, console_url=settings.console_url
    )
    notifier = TelegramNotifier(db=db, bot=bot, limiter=limiter, clock=clock, writer=writer)
    reps: RepsGroup | None = None
    if telegram.reps_chat_id is not None:
        reps = RepsGroup(db=db, bot=bot, chat_id=telegram.reps_chat_id, limiter=limiter, clock=clock, writer=writer)
        # Escalations on any channel open topics; client messages are mirrored into them.
        db.live.add_listener(reps.on_live)
    return reps, notifier
