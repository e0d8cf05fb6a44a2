"""An admin changes an SLA target on the settings page in a real Chromium; the next ticket gets it."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.settings import PROJECT_ROOT
from handlers.app import create_app
from handlers.services import Services
from tests.browser.pages import open_page, sign_in
from tests.console.helpers import add_user
from tests.support.app_server import serving

ARTIFACTS = PROJECT_ROOT / "var" / "artifacts"
SCREENSHOT = PROJECT_ROOT / "docs" / "screenshots" / "settings.png"
TIMEOUT_MS = 15_000


def _console_texts() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((PROJECT_ROOT / "config" / "texts.zh.yaml").read_text(encoding="utf-8"))
    return dict(data["console"])


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_admin_changes_an_sla_target(services: Services, browser: Any, chromium_path: Path) -> None:
    from playwright.async_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    c = _console_texts()["settings"]
    await add_user(services, "ada", "admin", name="艾达")
    app = create_app(services.settings, services=services, background=False)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    async with serving(app) as base:
        context, page, errors = await open_page(browser, 1280, 800, TIMEOUT_MS)
        page.on(
            "console",
            lambda msg: (
                errors.append(msg.text)
                if msg.type == "error" and not msg.text.startswith("Failed to load resource")
                else None
            ),
        )
        try:
            await sign_in(page, f"{base}/console/login?next=/console/settings", "ada")
            await expect(page).to_have_url(f"{base}/console/settings")
            await expect(page.locator("h1")).to_have_text(c["title"])
            # An admin's header links to every page of the console, this one marked current.
            await expect(page.locator("nav a")).to_have_count(8)
            await expect(page.locator('nav a[aria-current="page"]')).to_have_attribute("href", "/console/settings")
            # Every tab opens and renders its document.
            await expect(page.locator('#routing tr[data-code="finance"] textarea')).to_have_value(re.compile("发票"))
            await page.screenshot(path=str(ARTIFACTS / "settings-departments.png"))
            shown = {
                "hours": "#hours-monday",
                "canned": "#canned-list fieldset",
                "texts": '#texts-rows tr[data-key="handoff.queued"]',
                "clients": "#clients tr",
            }
            for tab, what in shown.items():
                await page.locator(f"#tab-{tab}").click()
                await expect(page.locator(what).first).to_be_visible()
                await page.screenshot(path=str(ARTIFACTS / f"settings-{tab}.png"))
            await page.locator("#tab-hours").click()
            await expect(page.locator("#hours-monday")).to_have_value("09:00-12:00, 13:30-18:00")

            # The dialogue acts: a phrase added in the page is understood by the running engine at once.
            await page.locator("#tab-acts").click()
            affirm = page.locator("#act-affirm-phrases")
            await expect(affirm).to_have_value(re.compile("确认"))
            await affirm.fill(await affirm.input_value() + ", 稳了稳了")
            await page.locator("#acts-save").click()
            await expect(page.locator("#flash")).to_have_text(c["saved"])
            await page.screenshot(path=str(ARTIFACTS / "settings-acts.png"))
            await services.config.check()
            assert "affirm" in services.engine.lexicon.recognize("稳了稳了")

            await page.locator("#tab-sla").click()
            first = page.locator("#sla-P1-first_response_minutes")
            await expect(first).to_have_value("30")
            await expect(page.locator("#sla-revision")).to_have_text(c["as_shipped"])
            await first.fill("25")
            await page.locator("#sla-save").click()
            await expect(page.locator("#flash")).to_have_text(c["saved"])
            await expect(page.locator("#sla-revision")).to_have_text(f"{c['revision']} 1")
            assert services.policies.sla["P1"].first_response == timedelta(minutes=25)
            assert services.desk.policies is services.policies
            await page.screenshot(path=str(SCREENSHOT))

            # A value the loader refuses is not saved, and the page says why.
            await first.fill("-1")
            await page.locator("#sla-save").click()
            await expect(page.locator("#flash")).to_contain_text("first_response_minutes must be a number above 0")
            assert services.policies.sla["P1"].first_response == timedelta(minutes=25)
            assert not errors, errors
        finally:
            await page.screenshot(path=str(ARTIFACTS / "settings-last.png"))
            await context.close()
