"""A rep sees, in a real Chromium, which SLA deadlines are estimates: those past the holidays kefu knows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from core.clock import ManualClock
from core.db.models import Ticket
from handlers.app import create_app
from handlers.services import Services
from tests.browser.pages import sign_in
from tests.console.helpers import add_user, escalate
from tests.support.app_server import serving

TIMEOUT_MS = 15_000


@pytest.fixture
async def site(services: Services, clock: ManualClock, chromium_path: Path) -> AsyncIterator[tuple[str, str]]:
    # Thursday 31 December 2026, 16:00 in Shanghai: the resolution is due in 2027, which chinese-calendar
    # 1.11 does not cover yet.
    clock.set(datetime(2026, 12, 31, 8, tzinfo=UTC))
    await add_user(services, "ann", "rep", ("cs",), name="安妮")
    _, number = await escalate(services, "v1")
    async with services.db.transaction() as session:
        # A first response due at 18:00 today, whatever the priority gave.
        due = datetime(2026, 12, 31, 10, tzinfo=UTC)
        await session.execute(update(Ticket).where(Ticket.number == number).values(first_response_due=due))
    app = create_app(services.settings, services=services, background=False)
    async with serving(app) as base:
        yield base, number


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_deadline_in_an_uncovered_year_shows_as_estimated(site: tuple[str, str], browser: Any) -> None:
    from playwright.async_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    base, number = site
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        await sign_in(page, base + f"/console/login?next=/console/tickets/{number}", "ann")
        await expect(page).to_have_url(base + f"/console/tickets/{number}")
        await expect(page.locator("#sla-resolution .badge.estimated")).to_have_text("估算")
        await expect(page.locator("#sla-first [data-due]")).to_be_visible()
        await expect(page.locator("#sla-first .badge.estimated")).to_have_count(0)
        # The inbox counts down to the first response, due this year: no estimate there.
        await page.goto(base + "/console")
        await expect(page.locator(f'a[href="/console/tickets/{number}"]')).to_be_visible()
        await expect(page.locator("main")).not_to_contain_text("估算")
        assert not errors, errors
    finally:
        await context.close()
