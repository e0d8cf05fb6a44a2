"""The console bound to one kefu's services: its sessions and guard, and what every route of it reads."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends

from handlers.console.auth import Principal, Sessions
from handlers.console.csrf import LoginTokens
from handlers.console.dependencies import current_principal
from handlers.console.settings import ConsoleSettings
from handlers.console.web import PREFIX, Guard
from handlers.services import Services

if TYPE_CHECKING:
    from handlers.console.live import LiveStreams


class Console:
    """The console bound to one kefu's services; `handlers.console.routes.install` adds its routes to an app."""

    def __init__(self, services: Services, settings: ConsoleSettings | None = None) -> None:
        self.services = services
        self.settings = settings or ConsoleSettings()
        self.sessions = Sessions(services.db, services.clock, self.settings, services.settings.language)
        self.guard = Guard(self.sessions, self.settings.cookie_name)
        # The open live streams of this process (set when the routes are installed).
        self.live_streams: LiveStreams | None = None
        self.login_tokens = LoginTokens(
            services.settings.secret_key.get_secret_value(), secure=self.settings.cookie_secure
        )

    @property
    def risk(self) -> timedelta:
        return timedelta(minutes=self.settings.sla_risk_minutes)

    def notices(self, principal: Principal) -> list[dict[str, str]]:
        """Banners over every console page: admins, who keep the settings, hear when the calendar runs out."""
        warning = self.services.calendar_warning()
        if principal.role != "admin" or warning is None:
            return []
        return [{"kind": "calendar", "text": warning.text(self.services.texts, principal.language)}]

    def estimated(self, deadline: str | None) -> bool:
        """Whether a deadline (ISO text, as the views give it) lies past the days whose holidays are known."""
        return deadline is not None and self.services.calendar.is_estimated(datetime.fromisoformat(deadline))

    def language(self, requested: str | None) -> str:
        texts = self.services.texts
        return requested if requested in texts.languages else self.services.settings.language

    def private(self) -> APIRouter:
        """A router whose every route requires a signed-in session (and CSRF on writes)."""
        return APIRouter(prefix=PREFIX, dependencies=[Depends(current_principal)])
