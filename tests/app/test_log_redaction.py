"""No secret reaches the log: each kind of line that could carry one is made, and the captured log grepped."""

from __future__ import annotations

import logging

import httpx
import pytest
from pydantic import SecretStr

from core.settings import Settings
from handlers.app import create_app
from handlers.services import Services

BOT_TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw4"


@pytest.fixture
def secret_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"metrics_token": SecretStr("metrics-token-9f8e7d6c5b4a")})


def _hear_uvicorn(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    # A test that served uvicorn in this process (log_level="warning") leaves its access logger quiet and not
    # propagating: caplog hears it again, for this test only.
    monkeypatch.setattr(logging.getLogger("uvicorn.access"), "propagate", True)
    monkeypatch.setattr(logging.getLogger("uvicorn.access"), "disabled", False)
    caplog.set_level(logging.DEBUG, logger="uvicorn.access")


async def test_secrets_are_masked_in_every_log_record(
    services: Services, secret_settings: Settings, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    _hear_uvicorn(monkeypatch, caplog)
    services.telegram.token = SecretStr(BOT_TOKEN)
    create_app(secret_settings, services=services, background=False)  # installs the redaction at start
    caplog.set_level(logging.DEBUG)
    # A failed Telegram file download names the file URL, token included (message and traceback).
    try:
        raise RuntimeError(f"404 for https://api.telegram.org/file/bot{BOT_TOKEN}/photos/file_1.jpg")
    except RuntimeError as exc:
        logging.getLogger("bots.telegram.media").warning(
            "telegram file %s not downloaded: %s", "ph-1", exc, exc_info=True
        )
    # uvicorn's access log: the signed WeChat query string, as uvicorn logs it (its arguments, not its message).
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d',
        "203.0.113.5:4000",
        "POST",
        "/wechat?signature=0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6&timestamp=1700000000&nonce=77&msg_signature=abcdef0123456789abcdef",
        "1.1",
        200,
    )
    logging.getLogger("aiohttp.client").debug(
        "GET https://api.weixin.qq.com/cgi-bin/message/custom/send?access_token=ACCESS-1234567890abcdef"
    )
    logging.getLogger("handlers.console").info("form %s", {"username": "ann", "password": "correct horse battery"})
    logging.getLogger("handlers.console").info("headers: Cookie: kefu_console=tok-abcdef123456; kefu_web=vis.sig123456")
    logging.getLogger("handlers.metrics").info("scrape with Authorization: Bearer metrics-token-9f8e7d6c5b4a")
    logging.getLogger("handlers.app").info("settings in force: %s", secret_settings.secret_key.get_secret_value())
    text = caplog.text + "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    for secret in (
        BOT_TOKEN,
        "0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6",
        "abcdef0123456789abcdef",
        "ACCESS-1234567890abcdef",
        "correct horse battery",
        "tok-abcdef123456",
        "vis.sig123456",
        "metrics-token-9f8e7d6c5b4a",
        secret_settings.secret_key.get_secret_value(),
    ):
        assert secret not in text, secret
    assert "telegram file ph-1 not downloaded" in text and "timestamp=1700000000" in text and "[redacted]" in text


async def test_the_access_log_of_a_real_request_is_masked(
    web: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    _hear_uvicorn(monkeypatch, caplog)
    caplog.set_level(logging.INFO)
    await web.get("/healthz?access_token=SHOULD-NOT-APPEAR-123")
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "1.2.3.4:5", "GET", "/healthz?access_token=SHOULD-NOT-APPEAR-123", "1.1", 200
    )
    assert "SHOULD-NOT-APPEAR-123" not in caplog.text
