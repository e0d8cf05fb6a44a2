"""A complaint filed end to end through the web chat in a real Chromium, against the real `kefu serve`."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from tests.browser.pages import open_page

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(os.environ.get("KEFU_CONFIG_DIR") or ROOT / "config")  # what the served process reads
TICKET_NO = re.compile(r"KF-\d{8}-\d{4}")
TIMEOUT_MS = 15_000
SHOT_WIDE = Path("/tmp/kefu-web-1280.png")
SHOT_PHONE = Path("/tmp/kefu-web-375.png")


def _zh() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((CONFIG / "texts.zh.yaml").read_text(encoding="utf-8"))
    return data


async def _ids(page: Any) -> list[int]:
    values = await page.locator("#chat [data-id]").evaluate_all("els => els.map(e => Number(e.dataset.id))")
    return [int(v) for v in values]


async def _assert_ids_unique_and_ordered(page: Any) -> list[int]:
    ids = await _ids(page)
    assert ids, "no messages rendered"
    assert len(ids) == len(set(ids)), f"a message is rendered twice: {ids}"
    assert ids == sorted(ids), f"messages out of order: {ids}"
    return ids


async def test_complaint_through_the_web_chat(kefu_server: str, browser: Any, tmp_path: Path) -> None:
    from playwright.async_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    zh = _zh()
    slots = zh["slots"]["complaint"]

    context, page, errors = await open_page(browser, 1280, 800, TIMEOUT_MS)
    foreign: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("response", lambda res: errors.append(f"{res.status} {res.url}") if res.status >= 400 else None)
    page.on("request", lambda req: None if req.url.startswith((kefu_server, "data:")) else foreign.append(req.url))

    bot = page.locator("#chat-messages li.msg-out[data-id]")
    mine = page.locator("#chat-messages li.msg-in[data-id]")
    box = page.locator("#chat-input")
    live_buttons = page.locator("#chat-messages .msg-button:not([disabled])")

    async def say(text: str) -> None:
        count = await mine.count()
        await box.fill(text)
        await box.press("Enter")
        await expect(box).to_have_value("")  # Enter sent it rather than adding a line
        await expect(mine).to_have_count(count + 1)  # the stored message replaced the local bubble
        await expect(mine.last).to_contain_text(text)

    async def prompt(text: str) -> None:
        await expect(bot.last).to_contain_text(text)

    try:
        await page.goto(kefu_server + "/")
        await expect(page).to_have_title(zh["web"]["title"])
        await expect(page.locator("#chat-title")).to_have_text(zh["web"]["title"])
        await expect(page.locator("#chat-lang")).to_have_text(zh["web"]["language"])
        await expect(page.locator("#chat-status")).to_have_attribute("data-state", "online")
        await expect(box).to_be_enabled()
        await expect(box).to_have_attribute("placeholder", zh["web"]["placeholder"])

        # Shift+Enter is a new line, not a send.
        await box.fill("你")
        await box.press("Shift+Enter")
        await box.type("好")
        await expect(box).to_have_value("你\n好")
        await box.fill("")

        await say("你好")
        await expect(bot.filter(has_text=zh["greeting"]["hello"]).first).to_be_visible()
        category = live_buttons.filter(has_text=re.compile("^" + zh["category"]["complaint"] + "$"))
        await expect(category).to_have_count(1)
        await category.click()
        await expect(mine.last).to_have_text(re.compile(zh["category"]["complaint"]))

        await prompt(slots["description"]["prompt"])
        await say("上周的信息流广告点击率突然下降了一半")
        await prompt(slots["project"]["prompt"])
        await say("双十一信息流投放")
        # "上周" in the description already said when it started: the bot does not ask again.
        await prompt(slots["expected"]["prompt"])
        await say("跳过")
        await prompt(slots["phone"]["prompt"])
        await say("13800138000")

        # The summary is multi-line and its buttons are the only live ones.
        submit = live_buttons.filter(has_text=zh["confirm"]["submit"])
        await expect(submit).to_have_count(1)
        summary = bot.last.locator(".msg-text")
        assert "\n" in await summary.inner_text(), "a multi-line bot text lost its line breaks"
        owners = "els => [...new Set(els.map(e => e.closest('[data-id]').dataset.id))]"
        live_ids = await live_buttons.evaluate_all(owners)
        assert live_ids == [await bot.last.get_attribute("data-id")], "buttons of older messages are still clickable"
        await submit.click()

        ticket = bot.filter(has_text=TICKET_NO)
        await expect(ticket).to_have_count(1)
        ticket_text = await ticket.inner_text()
        ticket_no = TICKET_NO.search(ticket_text)
        assert ticket_no is not None
        await expect(page.locator("#chat-pending > *")).to_have_count(0)
        before = await _assert_ids_unique_and_ordered(page)

        wide = tmp_path / "kefu-web-1280.png"
        await page.screenshot(path=str(wide))
        shutil.copyfile(wide, SHOT_WIDE)

        # After a reload the transcript comes back from history, once.
        await page.reload()
        await expect(page.locator("#chat-status")).to_have_attribute("data-state", "online")
        await expect(bot.filter(has_text=ticket_no.group(0))).to_have_count(1)
        await page.wait_for_timeout(500)  # give the stream a chance to (wrongly) repeat anything
        after = await _assert_ids_unique_and_ordered(page)
        assert after[: len(before)] == before

        # Text is text: markup typed by a visitor is shown, not interpreted.
        await say("<b>加粗</b> & <i>x</i>")
        assert await page.locator("#chat-messages b, #chat-messages i").count() == 0
        await _assert_ids_unique_and_ordered(page)

        await page.set_viewport_size({"width": 375, "height": 740})
        await page.evaluate("document.getElementById('chat-log').scrollTop = 1e9")
        phone = tmp_path / "kefu-web-375.png"
        await page.screenshot(path=str(phone))
        shutil.copyfile(phone, SHOT_PHONE)
        overflow = await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow, "the page scrolls sideways at phone width"

        # The language switch swaps every UI string and is remembered.
        en = yaml.safe_load((CONFIG / "texts.en.yaml").read_text(encoding="utf-8"))["web"]
        await page.locator("#chat-lang").click()
        await expect(page.locator("#chat-title")).to_have_text(en["title"])
        await expect(box).to_have_attribute("placeholder", en["placeholder"])
        await page.reload()
        await expect(page.locator("#chat-lang")).to_have_text(en["language"])
        await page.locator("#chat-lang").click()
        await expect(page.locator("#chat-title")).to_have_text(zh["web"]["title"])

        assert not foreign, f"the page fetched something from elsewhere: {foreign}"
        assert not errors, f"errors in the page: {errors}"
    finally:
        await context.close()
