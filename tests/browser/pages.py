"""What the browser tests do on many pages: open a page, sign in through the login form, make a request arrive late."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.console.helpers import PASSWORD


async def sign_in(page: Any, login_url: str, username: str) -> None:
    """Fill the login form at `login_url` and press Enter; the caller checks where the console took the user."""
    await page.goto(login_url)
    await page.locator("#username").fill(username)
    await page.locator("#password").fill(PASSWORD)
    await page.locator("#password").press("Enter")


async def arrive_late(page: Any, pattern: str, seconds: float) -> None:
    """Requests of `page` matching `pattern` are sent `seconds` late, as on a slow line."""

    async def late(route: Any) -> None:
        await asyncio.sleep(seconds)
        await route.continue_()

    await page.route(pattern, late)


async def open_page(browser: Any, width: int, height: int, timeout_ms: int) -> tuple[Any, Any, list[str]]:
    """A new zh-CN browser context and page of that size with its default timeout; the list gathers uncaught errors."""
    context = await browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = await context.new_page()
    page.set_default_timeout(timeout_ms)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors
