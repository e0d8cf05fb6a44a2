"""What the browser tests do on many pages: sign in through the login form, make a request arrive late."""

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
