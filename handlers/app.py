"""The composition root: create_app wires services, routes, error mapping and the background ticks."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from bots.common import RefuseNul
from bots.telegram.settings import telegram_config_problem
from bots.web.routes import STATIC as WEB_STATIC
from bots.web.routes import build_router as web_router
from bots.wechat.kf_routes import WeComKfWebhook
from bots.wechat.routes import WeChatWebhook, WeChatWebhooks
from core import log_redaction
from core.clock import Clock
from core.errors import ConfigError, KefuError
from core.settings import Settings
from handlers.background import BackgroundJobs
from handlers.classifier_training import WeeklyTraining
from handlers.console.csrf import LOGIN_COOKIE
from handlers.console.routes import install as install_console
from handlers.console.settings import ConsoleSettings
from handlers.email_notifier import EmailNotifier
from handlers.health import health_router
from handlers.metrics import Metrics
from handlers.services import Services, build_services
from handlers.weekly_reports import WeeklyReports

if TYPE_CHECKING:
    from aiogram import Router

    from bots.email.run import MailReaders
    from bots.telegram.webhook import TelegramWebhook
    from handlers.redis_live import RedisLiveBridge

log = logging.getLogger(__name__)
CONSOLE_COOKIES = (ConsoleSettings().cookie_name, LOGIN_COOKIE)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    background: bool = True,
    services: Services | None = None,
    migrate: bool = True,
    server: bool = False,
) -> FastAPI:
    """The ASGI app. `background=False` leaves the outbox sweep and follow-up ticks to the caller (tests).

    `migrate=False`: the schema was brought up to date before (`kefu serve` does it in a child process).
    `server=True`: the one app of a serving process (`Services.start`).
    """
    settings = settings or Settings()
    services = services or build_services(settings, clock)
    log_redaction.install(deployment_secrets(settings, services), (settings.web_cookie_name, *CONSOLE_COOKIES))

    serves_web = settings.role in ("web", "all")
    runs_jobs = background and settings.role in ("worker", "all")
    bridge: RedisLiveBridge | None = None
    if settings.redis_url:
        from handlers.redis_live import RedisLiveBridge

        bridge = RedisLiveBridge(settings.redis_url, services.live, channel=f"{settings.redis_prefix}:live")
    metrics = Metrics(services.db, services.live, services.clock)
    services.engine.on_turn = metrics.observe_turn
    webhooks: list[WeChatWebhooks | WeComKfWebhook | TelegramWebhook] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await services.start(migrate=migrate, server=server)
        if bridge is not None:
            await bridge.start()
        jobs = BackgroundJobs()
        mail_readers: MailReaders | None = None
        # Every role classifies and routes, so every process follows what admins publish.
        jobs.every("config", settings.config_poll_seconds, services.config.check)
        if runs_jobs:
            # Undelivered replies from before a restart go out first, unless they are too old to make sense.
            stale_after = timedelta(hours=settings.outbox_cutoff_hours)
            await services.dispatcher.expire_stale(stale_after)
            await services.dispatcher.deliver_due()
            await services.followups.run_due()
            jobs.every("outbox-sweep", settings.outbox_poll_seconds, services.dispatcher.deliver_due)
            jobs.every("followups", settings.followup_poll_seconds, services.followups.run_due)
            jobs.every("outbox-stale", 60, lambda: services.dispatcher.expire_stale(stale_after))
            if services.reps is not None:
                jobs.every("telegram-reps", 1, services.reps.deliver_due)
            if services.telegram_notifier is not None:
                jobs.every("telegram-notify", 5, services.telegram_notifier.deliver_pending)
            if settings.smtp.host:
                notifier = EmailNotifier(services.db, services.clock, settings.smtp)
                jobs.every("email", 30, notifier.deliver_pending)
            # A cheap check each minute; a process that was down at the report time catches up.
            jobs.every("weekly-report", 60, WeeklyReports(services).tick)
            # A cheap check every ten minutes; the fit itself runs in a process of its own once a week.
            jobs.every("classifier-training", 600, WeeklyTraining(services).tick)
            if services.email_accounts:
                # Imported only with a mailbox configured: the IMAP client and HTML parser cost memory.
                from bots.email.run import MailReaders

                mail_readers = MailReaders(services.email_accounts, services.engine, services.channel_state)
        if background:
            jobs.start()
            if mail_readers is not None:
                mail_readers.start()
            for webhook in webhooks:
                if isinstance(webhook, WeComKfWebhook):
                    # Messages that came while no process ran are pulled now, not at the next notice.
                    webhook.start()
        log.info("kefu started (role %s) on %s", settings.role, services.db.url.split("@")[-1])
        try:
            yield
        finally:
            # Stop taking work, finish what is in flight: running ticks, then the webhooks' late turns and sends.
            services.draining.close_streams()
            if mail_readers is not None:
                await mail_readers.stop()
            await jobs.stop(settings.shutdown_grace_seconds)
            for webhook in webhooks:
                await webhook.drain()
            if services.reps is not None:
                await services.reps.drain()
            if bridge is not None:
                await bridge.stop()
            await services.stop()
            log.info("kefu stopped")

    # No interactive docs or schema: every route but a few public ones needs a console session. No OpenTelemetry:
    # kefu's own metrics are at /metrics, and FastAPI would otherwise look for a configured provider per request.
    app = FastAPI(
        title="kefu",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.services = services
    app.state.body_read_seconds = settings.body_read_seconds
    app.state.metrics = metrics
    app.add_middleware(RefuseNul)

    @app.exception_handler(KefuError)
    async def kefu_error(_request: Request, exc: KefuError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status_code)

    if serves_web and services.wechat_accounts:
        wechat_webhooks = WeChatWebhooks(
            WeChatWebhook(
                engine=services.engine,
                dispatcher=services.dispatcher,
                account=account,
                max_body_bytes=settings.max_body_bytes,
                limits=services.limits,
                replay=services.token_store,
            )
            for account in services.wechat_accounts
        )
        # The first routes: a request is matched against the routes in order, and an included router (health,
        # metrics) costs dozens of Python calls to rule out; WeChat pushes every message here.
        wechat_webhooks.add_routes(app.router, "/wechat")
        webhooks.append(wechat_webhooks)
    app.include_router(
        health_router(
            services.db, redis_ping=bridge.ping if bridge else None, draining=lambda: services.draining.not_ready
        )
    )
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    app.include_router(metrics.router(token))
    if not serves_web:
        return app

    if services.wecom_kf is not None:
        kf_webhook = WeComKfWebhook(
            engine=services.engine,
            channel=services.wecom_kf,
            store=services.channel_state,
            max_body_bytes=settings.max_body_bytes,
        )
        app.include_router(kf_webhook.router("/wecom/kf"))
        webhooks.append(kf_webhook)
    problem = telegram_config_problem(services.telegram)
    if problem is not None:
        # Topics would be opened and reps' answers never arrive: refuse to serve rather than fail silently.
        raise ConfigError(problem)
    secret = services.telegram.secret.get_secret_value()
    if services.telegram_bot is not None and secret:
        # Here, not at the top: a process without a bot loads no aiogram.
        from bots.telegram.webhook import TelegramWebhook

        telegram_webhook = TelegramWebhook(
            engine=services.engine,
            bot=services.telegram_bot,
            secret=secret,
            max_body_bytes=settings.max_body_bytes,
            extra_routers=telegram_rep_routers(services),
            limits=services.limits,
        )
        app.include_router(telegram_webhook.router("/telegram"))
        webhooks.append(telegram_webhook)

    # Kept for shutdown and for tests that wait for the webhooks' background work.
    app.state.webhooks = webhooks
    app.mount("/static/web", StaticFiles(directory=WEB_STATIC), name="web-static")
    app.include_router(
        web_router(
            engine=services.engine,
            db=services.db,
            texts=services.texts,
            settings=settings,
            hub=services.hub,
            limits=services.limits,
        )
    )
    app.state.console = install_console(app, services)
    return app


def deployment_secrets(settings: Settings, services: Services) -> list[str]:
    """Every secret value of this deployment, so no log line can carry one whatever its shape."""
    values = [settings.secret_key, settings.metrics_token, settings.smtp.password, services.telegram.token]
    values.extend(a.password for a in services.email_accounts)
    values.extend(a.smtp_password for a in services.email_accounts)
    values.append(services.telegram.secret)
    for account in services.wechat_accounts:
        values += [account.token, account.app_secret, account.aes_key]
    return [v.get_secret_value() for v in values if v is not None]


def telegram_rep_routers(services: Services) -> list[Router]:
    """The reps' group router (rep replies and commands in topics), when the group is configured."""
    if services.reps is None:
        return []
    from bots.telegram.commands import RepCommands

    commands = RepCommands(engine=services.engine, reps=services.reps, writer=services.reps.writer)
    return [commands.router()]
