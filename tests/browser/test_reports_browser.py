"""A supervisor opens the reports in a real Chromium: charts drawn, filters applied, archive shown, no errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.clock import ManualClock
from core.report_tables import TABLES
from core.settings import PROJECT_ROOT
from core.weekly_report import WeeklyRecipients, WeeklyReportWriter
from handlers.app import create_app
from handlers.services import Services
from tests.browser.pages import open_page, sign_in
from tests.console.helpers import add_user
from tests.support.app_server import serving
from tests.support.reports_fixture import NOW, seed_week

SCREENSHOT = PROJECT_ROOT / "docs" / "screenshots" / "reports.png"
TIMEOUT_MS = 15_000


@pytest.fixture
async def site(services: Services, clock: ManualClock, chromium_path: Path) -> AsyncIterator[str]:
    clock.set(NOW)
    await seed_week(services)
    await add_user(services, "boss", "supervisor", name="赵主管")
    await add_user(services, "root", "admin", name="管理员")
    writer = WeeklyReportWriter(services.db, services.texts, "zh", ZoneInfo(services.settings.timezone))
    await writer.create("2026-W48", now=NOW, recipients=WeeklyRecipients(email=False, telegram=False))
    app = create_app(services.settings, services=services, background=False)
    async with serving(app) as base:
        yield base


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_supervisor_reads_the_reports(site: str, browser: Any) -> None:
    from playwright.async_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    base = site
    context, page, errors = await open_page(browser, 1280, 800, TIMEOUT_MS)
    foreign: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("request", lambda req: None if req.url.startswith((base, "data:")) else foreign.append(req.url))
    page.on("response", lambda res: errors.append(f"{res.status} {res.url}") if res.status >= 400 else None)
    try:
        await sign_in(page, base + "/console/login?next=/console/reports", "boss")
        await expect(page).to_have_url(base + "/console/reports")
        await expect(page.locator("body")).to_have_attribute("data-loaded", "true")
        # A supervisor reads reports and the archive, and has no keyword or settings pages.
        links = [await a.get_attribute("href") for a in await page.locator("nav a").all()]
        assert links == [
            "/console",
            "/console/phone",
            "/console/reports",
            "/console/reports/archive",
            "/console/client-evaluation",
            "/console/admin",
        ], links
        # The default range (the last 30 days up to 1 December) holds all nine tickets.
        await expect(page.locator('[data-figure="f_tickets"] dd')).to_have_text("9")
        for canvas in ("#chart-categories", "#chart-satisfaction"):
            drawn = await page.locator(canvas).evaluate(
                "c => { const chart = Chart.getChart(c); return !!chart && c.width > 0 && c.height > 0 "
                "&& chart.data.datasets.length > 0; }"
            )
            assert drawn, canvas
        await expect(page.locator("#reps tbody tr").first).to_contain_text("安妮")

        # The week of 23–29 November, WeChat only: tickets 2, 3 and 8.
        await page.locator("#f-start").fill("2026-11-23")
        await page.locator("#f-end").fill("2026-11-29")
        await page.locator("#f-channel").select_option("wechat")
        await page.get_by_role("button", name="查询").click()
        await expect(page.locator('[data-figure="f_tickets"] dd')).to_have_text("3")
        await expect(page.locator('[data-figure="f_complaint_rate"] dd')).to_have_text("66.7%")
        # Each rate with the n it was taken over.
        await expect(page.locator('[data-figure="f_complaint_rate"] small.n')).to_have_text("n = 3")
        await expect(page.locator('[data-figure="f_tickets"] small.n')).to_have_count(0)
        href = await page.locator('a.csv[data-table="reps"]').get_attribute("href")
        assert href and "channel=wechat" in href and "start=2026-11-23" in href

        await page.locator("#f-channel").select_option("")
        await page.get_by_role("button", name="查询").click()
        await expect(page.locator('[data-figure="f_tickets"] dd')).to_have_text("7")
        await expect(page.locator('[data-figure="f_sla_first_response"] small.n')).to_have_text("n = 7")
        # The per-rep table ends with the ticket nobody owns, so it adds up to the 7.
        await expect(page.locator("#reps tbody tr").last).to_contain_text("（未分配）")
        # The holiday calendar runs out in 30 days, but that banner is for admins, who keep the settings.
        await expect(page.locator("p.banner[data-notice]")).to_have_count(0)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOT))

        # The archive lists the week; its report is static HTML with server-drawn SVG charts.
        await page.goto(base + "/console/reports/archive")
        row = page.locator('#archive tr[data-week="2026-W48"]')
        await expect(row).to_contain_text("2026-11-23 – 2026-11-29")
        # Each table's CSV file is a link that downloads it, not a name printed as text.
        links = row.locator("a.csv")
        assert await links.count() == len(TABLES)
        assert "object" not in (await row.inner_text())
        href = await links.nth(0).get_attribute("href")
        assert href == f"/console/reports/archive/2026-W48/{TABLES[0]}.csv"
        csv_response = await page.request.get(base + href)
        assert csv_response.ok and (await csv_response.text()).startswith("\ufeff")
        await row.get_by_role("link", name="查看").click()
        await expect(page.locator("h1")).to_have_text("客服周报 2026-W48")
        assert await page.locator("svg rect").count() > 5

        # An admin sees the calendar banner over the console's pages.
        admin = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
        other = await admin.new_page()
        await sign_in(other, base + "/console/login?next=/console/reports", "root")
        await expect(other.locator("body")).to_have_attribute("data-loaded", "true")
        await expect(other.locator('p.banner[data-notice="calendar"]')).to_contain_text("2026-12-31")
        await admin.close()
        assert not errors, errors
        assert not foreign, foreign
    finally:
        await context.close()
