"""A rep logs a call as a ticket in a real Chromium: finds the caller, fills the form, fixes a problem, submits."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.db.models import Client, Ticket, TicketEvent
from core.settings import PROJECT_ROOT
from handlers.app import create_app
from handlers.services import Services
from tests.browser.pages import arrive_late, open_page, sign_in
from tests.console.helpers import add_user
from tests.support.app_server import serving

ARTIFACTS = PROJECT_ROOT / "var" / "artifacts"
TIMEOUT_MS = 15_000


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_rep_logs_a_call_as_a_ticket(services: Services, browser: Any, chromium_path: Path) -> None:
    from playwright.async_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    await add_user(services, "li", "rep", name="李娜")
    async with services.db.transaction() as session:
        session.add(
            Client(name="赵总", company="某某传媒", phone="13800138000", tier="B", created_at=services.clock.now())
        )
    app = create_app(services.settings, services=services, background=False)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with serving(app) as base:
        context, page, errors = await open_page(browser, 1280, 900, TIMEOUT_MS)
        try:
            await sign_in(page, f"{base}/console/login?next=/console", "li")
            await expect(page).to_have_url(f"{base}/console")

            # The page's categories arrive late, as on a slow line: a search typed before then must still work.
            await arrive_late(page, "**/console/api/phone/form", 1.0)
            await page.locator("#nav-phone").click()
            await expect(page).to_have_url(f"{base}/console/phone")
            await expect(page.locator("h1")).to_have_text("新建工单（来电）")
            # The caller, found by the number they call from (shown masked).
            await page.locator("#caller-q").fill("138 0013 8000")
            await page.locator("#caller-q").press("Enter")
            await page.locator("#callers button", has_text="赵总").click()
            await expect(page.locator("#caller-picked")).to_contain_text("赵总 · 某某传媒")
            await page.locator("#category").select_option("complaint")
            await page.locator("#slot-description").fill("双十一活动的投放数据对不上")
            await page.locator("#slot-project").fill("双十一活动")
            await page.locator("#slot-phone").fill("12345")
            await page.locator("#notes").fill("客户来电，语气着急，约定下午三点前回电")
            await page.locator("#submit-call").click()
            # The bot's own check of phone numbers, shown beside the field.
            await expect(page.locator("#slot-phone-problem")).to_be_visible()
            async with services.db.transaction() as session:
                assert (await session.execute(select(Ticket.id))).first() is None
            await page.locator("#slot-phone").fill("138-0013-8000")
            await page.locator("#submit-call").click()
            await expect(page.locator("#created-link")).to_have_text(re.compile(r"KF-\d{8}-\d{4}"))
            await page.screenshot(path=str(ARTIFACTS / "phone-call.png"))
            number = await page.locator("#created-link").inner_text()
            await page.locator("#created-link").click()
            await expect(page).to_have_url(f"{base}/console/tickets/{number}")
            # The rep who logged the call holds the ticket's conversation, so the ticket page opens for him.
            await expect(page.locator("#ticket-number")).to_contain_text(number)
            assert not errors, errors
        finally:
            await context.close()
    async with services.db.transaction() as session:
        ticket = (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one()
        notes = (await session.execute(select(TicketEvent.data).where(TicketEvent.kind == "call_logged"))).scalar_one()
    assert (ticket.channel, ticket.category, ticket.details["phone"]) == ("phone", "complaint", "13800138000")
    assert notes["notes"] == "客户来电，语气着急，约定下午三点前回电"
