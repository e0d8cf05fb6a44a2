"""The composition root: create_app wires services, routes, error mapping and the background ticks."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiogram import Router
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from bots.telegram.commands import RepCommands
from bots.telegram.webhook import TelegramWebhook
from bots.web.routes import STATIC as WEB_STATIC
from bots.web.routes import build_router as web_router
from bots.wechat.kf_routes import WeComKfWebhook
from bots.wechat.routes import WeChatWebhook
from core.clock import Clock
from core.errors import KefuError
from core.lifecycle import TicketStatus, TransitionRequest
from core.settings import Settings
from handlers.email_notifier import EmailNotifier
from handlers.ops import transition_ticket
from handlers.services import Services, build_services

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    background: bool = True,
    services: Services | None = None,
) -> FastAPI:
    """The ASGI app. `background=False` leaves the outbox sweep and follow-up ticks to the caller (tests)."""
    settings = settings or Settings()
    services = services or build_services(settings, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await services.start()
        scheduler: AsyncIOScheduler | None = None
        if background:
            # Undelivered replies from before a restart go out first.
            await services.dispatcher.deliver_due()
            await services.followups.run_due()
            scheduler = AsyncIOScheduler()
            scheduler.add_job(
                services.dispatcher.deliver_due,
                "interval",
                seconds=settings.outbox_poll_seconds,
                id="outbox-sweep",
                max_instances=1,
                coalesce=True,
            )
            scheduler.add_job(
                services.followups.run_due,
                "interval",
                seconds=settings.followup_poll_seconds,
                id="followups",
                max_instances=1,
                coalesce=True,
            )
            if services.reps is not None:
                scheduler.add_job(
                    services.reps.deliver_due, "interval", seconds=1, id="telegram-reps", max_instances=1, coalesce=True
                )
            if services.telegram_notifier is not None:
                scheduler.add_job(
                    services.telegram_notifier.deliver_pending,
                    "interval",
                    seconds=5,
                    id="telegram-notify",
                    max_instances=1,
                    coalesce=True,
                )
            if settings.smtp.host:
                notifier = EmailNotifier(services.db, services.clock, settings.smtp)
                scheduler.add_job(
                    notifier.deliver_pending, "interval", seconds=30, id="email", max_instances=1, coalesce=True
                )
            scheduler.start()
        log.info("kefu started on %s", services.db.url.split("@")[-1])
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown(wait=False)
            for webhook in webhooks:
                # Work the webhooks started in the background (late turns, pulls, sends) finishes first.
                await webhook.drain()
            if services.reps is not None:
                await services.reps.drain()
            await services.stop()

    app = FastAPI(title="kefu", version="0.1.0", lifespan=lifespan)
    app.state.services = services

    @app.exception_handler(KefuError)
    async def kefu_error(_request: Request, exc: KefuError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status_code)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        if await services.db.ping():
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "database unreachable"}, status_code=503)

    webhooks: list[WeChatWebhook | WeComKfWebhook | TelegramWebhook] = []
    if services.wechat is not None:
        wechat_webhook = WeChatWebhook(
            engine=services.engine,
            dispatcher=services.dispatcher,
            account=services.wechat,
            max_body_bytes=settings.max_body_bytes,
        )
        app.include_router(wechat_webhook.router("/wechat"))
        webhooks.append(wechat_webhook)
    if services.wecom_kf is not None:
        kf_webhook = WeComKfWebhook(
            engine=services.engine,
            channel=services.wecom_kf,
            store=services.channel_state,
            max_body_bytes=settings.max_body_bytes,
        )
        app.include_router(kf_webhook.router("/wecom/kf"))
        webhooks.append(kf_webhook)
    secret = services.telegram.secret.get_secret_value()
    if services.telegram_bot is not None and secret:
        telegram_webhook = TelegramWebhook(
            engine=services.engine,
            bot=services.telegram_bot,
            secret=secret,
            max_body_bytes=settings.max_body_bytes,
            extra_routers=telegram_rep_routers(services),
        )
        app.include_router(telegram_webhook.router("/telegram"))
        webhooks.append(telegram_webhook)

    app.mount("/static/web", StaticFiles(directory=WEB_STATIC), name="web-static")
    app.include_router(
        web_router(
            engine=services.engine,
            db=services.db,
            texts=services.texts,
            settings=settings,
            hub=services.hub,
        )
    )
    return app


def telegram_rep_routers(services: Services) -> list[Router]:
    """The reps' group router (rep replies and commands in topics), when the group is configured."""
    if services.reps is None:
        return []

    async def close(number: str, actor: str, root_cause: str, improvement: str) -> str:
        request = TransitionRequest(TicketStatus.CLOSED, actor, root_cause=root_cause, improvement=improvement)
        return await transition_ticket(services, number, request)

    commands = RepCommands(engine=services.engine, reps=services.reps, writer=services.reps.writer, close=close)
    return [commands.router()]
