"""The console's routes, all listed here: sign-in, pages and views, conversations, live events, admin, reports,
settings, clients, client evaluation, keywords, classifier models, the phone desk and the account page."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from handlers.console.account import account_routes
from handlers.console.admin import admin_routes
from handlers.console.classifier import classifier_routes
from handlers.console.client_eval import client_eval_routes
from handlers.console.clients import client_routes
from handlers.console.config_routes import config_routes
from handlers.console.console import Console
from handlers.console.errors import NotSignedIn
from handlers.console.keywords import keywords_routes
from handlers.console.live_routes import live_routes
from handlers.console.phone import phone_router
from handlers.console.reports import reports_routes
from handlers.console.signin import not_signed_in, signin_routes
from handlers.console.takeover import takeover_router
from handlers.console.views import view_routes
from handlers.console.web import STATIC, SecurityHeaders
from handlers.services import Services

# Every router of the console, in the order they are added (sign-in first: it is the only public one).
ROUTERS: tuple[Callable[[Console], APIRouter], ...] = (
    signin_routes,
    view_routes,
    takeover_router,
    phone_router,
    live_routes,
    admin_routes,
    reports_routes,
    config_routes,
    client_routes,
    client_eval_routes,
    keywords_routes,
    classifier_routes,
    account_routes,
)


def install(app: FastAPI, services: Services) -> Console:
    """The console of these services, its routes, assets and security headers added to `app`."""
    console = Console(services)
    app.state.console = console
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(NotSignedIn, not_signed_in)
    app.mount("/static/console", StaticFiles(directory=STATIC), name="console-static")
    for routes in ROUTERS:
        app.include_router(routes(console))
    return console
