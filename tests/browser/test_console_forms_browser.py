"""A console form used before its page has started is not sent the browser's way: no reload, nothing typed lost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from handlers.app import create_app
from handlers.services import Services
from tests.browser.pages import arrive_late, open_page, sign_in
from tests.console.helpers import add_user
from tests.support.app_server import serving

TIMEOUT_MS = 15_000


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_enter_before_the_page_has_started_neither_reloads_it_nor_loses_the_text(
    services: Services, browser: Any, chromium_path: Path
) -> None:
    from playwright.async_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    await add_user(services, "li", "rep", name="李娜")
    app = create_app(services.settings, services=services, background=False)
    async with serving(app) as base:
        context, page, errors = await open_page(browser, 1280, 800, TIMEOUT_MS)
        try:
            await sign_in(page, f"{base}/console/login?next=/console", "li")
            await expect(page).to_have_url(f"{base}/console")

            # The page's start (who is signed in, the texts) arrives late, as on a slow line.
            await arrive_late(page, "**/console/api/me", 1.5)
            await page.reload()
            await page.evaluate("window.__sameDocument = true")
            await page.locator("#search").fill("赵总")
            await page.locator("#search").press("Enter")
            # The page starts (its texts are in), and it is still the same document, with the text typed.
            await expect(page.locator("#search-form button[type=submit]")).to_have_text("搜索")
            assert await page.evaluate("window.__sameDocument === true")
            assert page.url == f"{base}/console"
            await expect(page.locator("#search")).to_have_value("赵总")
            assert errors == []
        finally:
            await context.close()
