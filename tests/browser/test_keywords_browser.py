"""An admin tunes the keyword rules in a real Chromium: try a sentence, edit rules, replay, publish."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.messages import ConversationRef, InboundMessage, MessageType
from core.settings import PROJECT_ROOT, Settings
from handlers.app import create_app
from handlers.services import Services
from tests.browser.pages import arrive_late, open_page, sign_in
from tests.console.helpers import add_user
from tests.support.app_server import serving

SCREENSHOTS = PROJECT_ROOT / "docs" / "screenshots"
TIMEOUT_MS = 15_000


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Drafts fitted on the agency's own messages only: what the pages show does not depend on the starter corpus,
    and a fit on it takes many times as long."""
    return settings.model_copy(update={"dialogue": settings.dialogue.model_copy(update={"training_corpus": "none"})})


def _zh() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((PROJECT_ROOT / "config" / "texts.zh.yaml").read_text(encoding="utf-8"))
    return data


async def _client_writes(services: Services, text: str) -> None:
    await services.engine.receive(
        InboundMessage(
            ref=ConversationRef(channel="web", external_user_id=uuid.uuid4().hex),
            external_id=uuid.uuid4().hex,
            type=MessageType.TEXT,
            text=text,
        )
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_admin_tries_edits_replays_and_publishes(services: Services, browser: Any, chromium_path: Path) -> None:
    from playwright.async_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    k = _zh()["console"]["keywords"]
    await add_user(services, "root", "admin", name="管理员")
    # Messages whose verdict the new rule changes whatever the learned model in force reads in the rest of them.
    for text in ("咕咕鸡是什么", "看到咕咕鸡了", "请问发票怎么开", "你好", "我要投诉，效果太差"):
        await _client_writes(services, text)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    app = create_app(services.settings, services=services, background=False)
    async with serving(app) as base:
        context, page, errors = await open_page(browser, 1280, 800, TIMEOUT_MS)
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("dialog", lambda dialog: dialog.accept())

        # The models section's script arrives late, as on a slow line: the page must still start it.
        await arrive_late(page, "**/static/console/models.js", 1.0)
        try:
            await sign_in(page, base + "/console/login?next=/console/keywords", "root")
            await expect(page).to_have_url(base + "/console/keywords")
            await expect(page.locator("#status-line")).to_contain_text("v1")
            await expect(page.locator("#rules tr").first).to_be_visible()

            # Try a sentence: neither the draft nor the version in force knows the phrase yet.
            await page.locator("#try-text").fill("咕咕鸡又来了")
            await page.locator("#try-form button[type=submit]").click()
            await expect(page.locator("#try-draft")).to_contain_text(k["no_match"])
            await expect(page.locator("#try-live-title")).to_contain_text("v1")

            # Add a rule to the draft, and edit an existing one (请问: weight 2 -> 1.5, whole word).
            await page.locator("#add-phrase").fill("咕咕鸡")
            await page.locator("#add-category").select_option("complaint")
            await page.locator("#add-weight").fill("3")
            await page.locator("#add-note").fill("客户对反复出错的叫法")
            await page.locator("#add-form button[type=submit]").click()
            await expect(page.locator("#status-line")).to_contain_text("+1")
            await page.locator("#search").fill("请问")
            await page.locator("#search-form button[type=submit]").click()
            # The search's rows replace the first page's (which also holds 请问): edit only once they are in.
            await expect(page.locator("#rules tr").filter(has_not_text="请问")).to_have_count(0)
            row = page.locator("#rules tr", has=page.locator("td", has_text=re.compile("^请问$")))
            await expect(row).to_have_count(1)
            await row.locator("input[type=number]").fill("1.5")
            await row.locator("button", has_text=k["save"]).click()
            await expect(page.locator("#status-line")).to_contain_text("~1")

            # The draft now classifies it; the version in force does not.
            await page.locator("#try-form button[type=submit]").click()
            await expect(page.locator("#try-draft")).to_contain_text("咕咕鸡")
            await expect(page.locator("#try-live")).to_contain_text(k["no_match"])
            await page.evaluate("window.scrollTo(0, 0)")
            await page.screenshot(path=str(SCREENSHOTS / "keywords.png"))

            # Replay over the classified client messages (a greeting alone, "你好", is not classified): both 咕咕鸡
            # messages would change.
            await page.locator("#replay-form button[type=submit]").click()
            await expect(page.locator("#replay-changed-title")).to_contain_text("/ 4")
            changed = page.locator("#replay-changed tr")
            await expect(changed.filter(has_text="咕咕鸡是什么")).to_have_count(1)
            await expect(changed.filter(has_text="看到咕咕鸡了")).to_have_count(1)
            await page.locator("#replay-result").scroll_into_view_if_needed()
            await page.locator("h2", has_text=k["publishing"]).scroll_into_view_if_needed()
            await page.screenshot(path=str(SCREENSHOTS / "keywords-replay.png"))

            # Publish: the new version is in force here at once.
            await page.locator("#publish-note").fill("新增 咕咕鸡")
            await page.locator("#publish").click()
            await expect(page.locator("#flash")).to_contain_text("v2")
            await expect(page.locator("#versions tr").first).to_contain_text(k["in_force"])
            await expect(page.locator("#status-line")).to_contain_text("v2")
            assert services.classifier.current.version == 2
            assert services.classifier.current.classify("咕咕鸡又来了").category == "complaint"
            assert errors == []
        finally:
            await context.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_admin_reads_a_draft_models_figures_and_publishes_it(
    services: Services, browser: Any, chromium_path: Path
) -> None:
    from playwright.async_api import expect

    from tests.console.test_classifier_models import _draft

    expect.set_options(timeout=TIMEOUT_MS)
    m = _zh()["console"]["keywords"]["models"]
    await add_user(services, "root", "admin", name="管理员")
    for text in ("请问发票怎么开", "我要投诉，效果太差", "建议增加一个数据看板"):
        await _client_writes(services, text)
    number = await _draft(services)
    app = create_app(services.settings, services=services, background=False)
    async with serving(app) as base:
        context, page, errors = await open_page(browser, 1280, 900, TIMEOUT_MS)
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("dialog", lambda dialog: dialog.accept())
        try:
            await sign_in(page, base + "/console/login?next=/console/keywords", "root")
            await expect(page.locator("#models-status")).to_contain_text(m["rules_only"])
            await expect(page.locator("#models-labels")).to_contain_text(m["kinds"]["rep"])
            row = page.locator(f"#models tr[data-number='{number}']")
            await expect(row).to_contain_text(m["accuracy"])
            await row.locator("button", has_text=m["details"]).click()
            # The draft's figures beside those of the model in force, and the curve.
            await expect(page.locator("#model-figures tr")).to_have_count(2)
            await expect(page.locator("#model-curve tr")).to_have_count(3)
            await expect(page.locator("#model-at")).to_contain_text(m["coverage"])
            # Another point of the curve: the console says what coverage it gives.
            before = await page.locator("#model-at").text_content()
            await page.locator("#model-threshold").fill("0.99")
            await page.locator("#model-threshold").dispatch_event("change")
            await expect(page.locator("#model-at")).not_to_have_text(before or "")
            await page.locator("#model-replay").click()
            await expect(page.locator("#model-replay-counts tr")).to_have_count(3)
            await page.locator("#models-card").scroll_into_view_if_needed()
            await page.screenshot(path=str(SCREENSHOTS / "keywords-models.png"))
            await page.locator("#model-publish").click()
            await expect(page.locator("#flash")).to_contain_text(m["published"])
            await expect(page.locator("#models-status")).to_contain_text(f"{m['number']} {number}")
            model = services.classifier.current.model
            assert model is not None and model.threshold == 0.99
            assert errors == []
        finally:
            await context.close()
