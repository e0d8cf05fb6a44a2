"""An admin evaluates clients in a real Chromium: ranking shown, a score edited, a suggestion accepted, no errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.clock import ManualClock
from core.db.models import Client, ClientScore
from handlers.app import create_app
from handlers.services import Services
from tests.browser.pages import open_page, sign_in
from tests.console.helpers import add_user
from tests.console.test_client_eval_api import TODAY
from tests.support.app_server import serving
from tests.support.client_eval_fixture import Clients, seed_clients

TIMEOUT_MS = 15_000


@pytest.fixture
async def site(services: Services, clock: ManualClock, chromium_path: Path) -> AsyncIterator[tuple[str, Clients]]:
    clock.set(TODAY)
    ids = await seed_clients(services)
    await add_user(services, "root", "admin", name="管理员")
    app = create_app(services.settings, services=services, background=False)
    async with serving(app) as base:
        yield base, ids


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_admin_scores_and_accepts(site: tuple[str, Clients], browser: Any, services: Services) -> None:
    from playwright.async_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    base, ids = site
    context, page, errors = await open_page(browser, 1400, 900, TIMEOUT_MS)
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        await sign_in(page, base + "/console/login?next=/console/client-evaluation", "root")
        await expect(page).to_have_url(base + "/console/client-evaluation")
        await page.locator("#f-days").fill("10")
        await page.locator("#filters button[type=submit]").click()
        await expect(page.locator("#period")).to_have_text("2026-11-01..2026-11-10")
        first = page.locator("#clients tbody tr").first
        await expect(first).to_contain_text("李雷 远航广告")
        falling = page.locator(f'#clients tr[data-client="{ids.falling}"]')
        await expect(falling).to_contain_text("51.1")
        await expect(falling).to_contain_text("62.5% (n=8)")

        # An admin changes a score in the table: saved at once.
        unknown = page.locator(f'#clients tr[data-client="{ids.unknown}"] input.score').nth(1)
        await unknown.fill("4")
        await unknown.dispatch_event("change")
        await expect(page.locator("#flash")).to_have_text("已保存")
        async with services.db.transaction() as session:
            score = await session.get(ClientScore, ids.unknown)
        assert score is not None and score.market_influence == 4

        await page.locator("#suggest").click()
        row = page.locator("#suggestions tbody tr", has_text="王小明")
        await expect(row).to_contain_text("B → C")
        await expect(row).to_contain_text("满意度下降且投诉增加")
        await row.get_by_role("button", name="接受").click()
        await expect(page.locator("#suggestions tbody tr", has_text="王小明")).to_have_count(0)
        async with services.db.transaction() as session:
            tier = await session.scalar(select(Client.tier).where(Client.id == ids.falling))
        assert tier == "C"
        assert errors == [], errors
    finally:
        await context.close()
