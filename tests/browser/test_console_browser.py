"""A rep works an escalated WeChat conversation in a real Chromium: live inbox, claim, reply, note, resolve, close."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select

from bots.wechat.channel import WeChatChannel
from core.channel_state import ChannelStateStore
from core.clock import ManualClock
from core.db.models import Conversation, Message
from core.settings import PROJECT_ROOT
from handlers.app import create_app
from handlers.services import Services
from tests.browser.pages import open_page, sign_in
from tests.channels.wechat.conftest import WeChatServer, make_account
from tests.channels.wechat.fake_api import FakeWeChatAPI
from tests.console.helpers import PASSWORD, add_user, amr_note
from tests.support.app_server import serving

ARTIFACTS = PROJECT_ROOT / "var" / "artifacts"
TIMEOUT_MS = 15_000
TICKET_NO = re.compile(r"KF-\d{8}-\d{4}")
HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


def _zh() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((PROJECT_ROOT / "config" / "texts.zh.yaml").read_text(encoding="utf-8"))
    return data


@pytest.fixture
def fake_api() -> Iterator[FakeWeChatAPI]:
    api = FakeWeChatAPI()
    api.start()
    yield api
    api.stop()


@pytest.fixture
async def console_site(
    services: Services, fake_api: FakeWeChatAPI, chromium_path: Path
) -> AsyncIterator[tuple[str, WeChatServer]]:
    """The app with a WeChat account on the fake API, served on a real port; and a follower who writes to it."""
    account = make_account(fake_api)
    services.wechat = account
    services.wechat_accounts = [account]
    services.registry.register(
        WeChatChannel(account, ChannelStateStore(services.db, services.clock), media_dir=services.settings.media_dir)
    )
    app = create_app(services.settings, services=services, background=False)
    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
        yield base, WeChatServer(http, services, None, account)  # type: ignore[arg-type]


async def _eventually(check: Any, what: str, tries: int = 150) -> None:
    import asyncio

    for _ in range(tries):
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(what)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_rep_works_an_escalated_wechat_conversation(
    console_site: tuple[str, WeChatServer],
    services: Services,
    clock: ManualClock,
    fake_api: FakeWeChatAPI,
    browser: Any,
) -> None:
    from playwright.async_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    base, wechat = console_site
    zh = _zh()
    c = zh["console"]
    await add_user(services, "ann", "rep", ("cs",), name="安妮")
    await add_user(services, "bob", "rep", ("cs",), name="鲍勃")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    context, page, errors = await open_page(browser, 1280, 800, TIMEOUT_MS)
    foreign: list[str] = []
    refused: list[tuple[int, str]] = []
    # Failed requests are checked below against the two the test provokes on purpose.
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("response", lambda res: refused.append((res.status, res.url[len(base) :])) if res.status >= 400 else None)
    page.on("request", lambda req: None if req.url.startswith((base, "data:")) else foreign.append(req.url))
    try:
        # Signing in works from the keyboard alone.
        await page.goto(base + "/console")
        await expect(page).to_have_url(re.compile(r"/console/login\?next=/console$"))
        await expect(page.locator("h1")).to_have_text(c["login"]["heading"])
        await page.locator("#username").fill("ann")
        await page.locator("#password").fill("wrong password")
        await page.locator("#password").press("Enter")
        await expect(page.locator("#login-error")).to_have_text(c["login"]["error_invalid"])
        await page.locator("#username").fill("ann")
        await page.locator("#password").fill(PASSWORD)
        await page.locator("#password").press("Enter")
        await expect(page).to_have_url(base + "/console")
        await expect(page.locator("#who")).to_contain_text("安妮")
        # A rep's header links to the inbox and 新建工单: reports, admin, keywords and settings are not theirs.
        await expect(page.locator("nav a")).to_have_count(2)
        await expect(page.locator("nav a").first).to_have_attribute("aria-current", "page")
        await expect(page.locator("#live")).to_have_attribute("data-state", "on")
        waiting = page.locator("#queue-waiting")
        await expect(waiting).to_have_attribute("aria-selected", "true")
        await expect(waiting.locator(".count")).to_have_text("0")

        # A follower asks for a person over WeChat; the ticket appears without a reload.
        reply = await wechat.say("人工")
        assert reply is not None and TICKET_NO.search(reply), reply
        number = TICKET_NO.search(reply).group(0)  # type: ignore[union-attr]
        row = page.locator(f'#inbox-list li[data-number="{number}"]')
        await expect(row).to_be_visible()
        await expect(waiting.locator(".count")).to_have_text("1")
        await expect(row).to_contain_text(c["inbox"]["waiting_badge"])
        await page.screenshot(path=str(ARTIFACTS / "console-inbox-1280.png"))

        # A voice note the client sent (as WeChat stores them, AMR) is in the media store.
        media_dir = services.settings.media_dir
        media_dir.mkdir(parents=True, exist_ok=True)
        (media_dir / "note.amr").write_bytes(amr_note(frames=100))
        async with services.db.transaction() as session:
            conversation_id = (
                await session.execute(select(Conversation.id).where(Conversation.channel == "wechat"))
            ).scalar_one()
            attachment = {"kind": "voice", "local_path": str(media_dir / "note.amr"), "mime_type": "audio/amr"}
            session.add(
                Message(
                    conversation_id=conversation_id,
                    direction="in",
                    channel="wechat",
                    type="voice",
                    text="",
                    payload={"attachments": [attachment]},
                    created_at=clock.now(),
                )
            )

        await row.locator("a").click()
        await expect(page).to_have_url(f"{base}/console/tickets/{number}")
        transcript = page.locator("#transcript")
        await expect(transcript.locator("li.msg.in").first).to_contain_text("人工")
        await expect(transcript.locator("li.msg.in").first).to_contain_text(c["channel"]["wechat"])
        await expect(page.locator("#window-state")).to_have_attribute("data-open", "true")
        # The voice note plays in the browser: two seconds of decoded audio.
        duration = await transcript.locator("audio").evaluate(
            """audio => new Promise((resolve, reject) => {
                audio.addEventListener("loadedmetadata", () => resolve(audio.duration));
                audio.addEventListener("error", () => reject(new Error("audio error")));
                audio.preload = "auto";
                audio.load();
            })"""
        )
        assert abs(duration - 2.0) < 0.05, duration
        await expect(page.locator("#window-state")).to_contain_text(c["window"]["open"])

        # A colleague has the same ticket open; he sees the claim happen live.
        colleague_context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
        colleague = await colleague_context.new_page()
        colleague.set_default_timeout(TIMEOUT_MS)
        await sign_in(colleague, f"{base}/console/login?next=/console/tickets/{number}", "bob")
        await expect(colleague.locator("#claim")).to_be_enabled()
        await expect(colleague.locator("#live")).to_have_attribute("data-state", "on")

        # Claim: the client is told who serves them, over the customer-service API.
        await page.locator("#claim").click()
        await expect(page.locator("#holder")).to_have_text("安妮")
        await expect(colleague.locator("#holder")).to_have_text("安妮")
        await expect(colleague.locator("#claim")).to_be_disabled()
        await expect(colleague.locator("#reply-send")).to_be_disabled()
        await colleague_context.close()
        await _eventually(lambda: any("客服 安妮 为您服务" in t for t in fake_api.sent_texts()), "no claim notice")
        await expect(page.locator("#ticket-status")).to_have_text(c["status"]["investigating"])

        # A hostile message from the client is shown as text and runs nothing.
        await wechat.say(HOSTILE)
        hostile = transcript.locator("li.msg.in .msg-text", has_text="window.__pwned")
        await expect(hostile).to_have_text(HOSTILE)
        assert await transcript.locator("img, script").count() == 0
        assert await page.evaluate("window.__pwned") is None

        # Reply from the keyboard (Ctrl+Enter); the fake WeChat API receives it.
        box = page.locator("#reply-text")
        await box.fill("您好，我们正在核实投放数据")
        await box.press("Control+Enter")
        await expect(box).to_have_value("")
        await _eventually(lambda: "您好，我们正在核实投放数据" in fake_api.sent_texts(), "reply not sent")
        await expect(transcript.locator("li.msg.out", has_text="您好，我们正在核实投放数据")).to_contain_text("安妮")

        # An internal note is recorded, never sent.
        await page.locator("#note-text").fill("老客户，注意语气")
        await page.locator("#note-add").click()
        await expect(page.locator('#history li[data-kind="note"]')).to_contain_text("老客户，注意语气")
        assert not any("老客户" in t for t in fake_api.sent_texts())
        await page.screenshot(path=str(ARTIFACTS / "console-ticket-1280.png"))

        # Resolve with the solution: the client is told.
        await page.locator("#resolve-box summary").click()
        await page.locator("#solution").fill("已为您补投 10 万次曝光")
        await page.locator("#resolve").click()
        await expect(page.locator("#ticket-status")).to_have_text(c["status"]["resolved"])
        await _eventually(lambda: any("已为您补投 10 万次曝光" in t for t in fake_api.sent_texts()), "no solution")

        # Close with the root-cause summary and the improvement.
        await page.locator("#close-box summary").click()
        await page.locator("#close").click()  # without the summary: refused, and said so
        await expect(page.locator("#flash")).to_be_visible()
        await expect(page.locator("#ticket-status")).to_have_text(c["status"]["resolved"])
        await page.locator("#root-cause").fill("定向人群包过期")
        await page.locator("#improvement").fill("投放前自动检查人群包有效期")
        await page.locator("#close").click()
        await expect(page.locator("#ticket-status")).to_have_text(c["status"]["closed"])

        # Closed before the client rated it: the conversation is released, so no satisfaction prompt follows
        # (an answer to it would land on a closed ticket) and the client's next message starts a new issue.
        clock.advance(timedelta(minutes=services.settings.dialogue.feedback_delay_minutes + 1))
        await services.followups.run_due()
        assert not any(zh["feedback"]["ask"] in t for t in fake_api.sent_texts())

        # Phone width: everything reachable, nothing scrolls sideways.
        await page.set_viewport_size({"width": 375, "height": 740})
        await page.reload()
        await expect(page.locator("#ticket-status")).to_have_text(c["status"]["closed"])
        await page.screenshot(path=str(ARTIFACTS / "console-ticket-375.png"))
        assert not await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        await page.goto(base + "/console")
        await expect(page.locator("#queue-waiting")).to_be_visible()
        await page.screenshot(path=str(ARTIFACTS / "console-inbox-375.png"))
        assert not await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")

        # The English switch.
        await page.locator("#lang").click()
        await expect(page.locator("#queue-waiting")).to_contain_text("Waiting for a person")

        assert not foreign, f"the console fetched something from elsewhere: {foreign}"
        assert not errors, f"errors in the page: {errors}"
        assert refused == [(401, "/console/login"), (400, f"/console/api/tickets/{number}/close")], refused
    finally:
        await context.close()
