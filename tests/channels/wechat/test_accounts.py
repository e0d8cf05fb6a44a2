"""Several Official Accounts: the default one from KEFU_WECHAT_*, more from config/kefu.yaml at /wechat/<name>."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select

from bots.wechat.channel import WeChatAccounts, WeChatChannel
from bots.wechat.routes import WeChatWebhooks
from bots.wechat.settings import all_accounts, config_accounts
from bots.wechat.token import token_key
from core.clock import ManualClock
from core.db.models import ChannelState, OutboxMessage
from core.errors import ConfigError
from core.settings import DEFAULT_CONFIG_DIR, Settings
from handlers.app import create_app
from handlers.services import Services, build_services
from tests.channels.wechat.conftest import APP_ID, TOKEN, WeChatServer, make_account, sign
from tests.channels.wechat.fake_api import FakeWeChatAPI
from tests.support.cli import run_kefu

SHOP_TOKEN = "shop-token"
SHOP_APP_ID = "wx00000000000005h0"


@pytest.fixture
def shop_api() -> Iterator[FakeWeChatAPI]:
    api = FakeWeChatAPI()
    api.start()
    yield api
    api.stop()


def write_config(tmp_path: Path, accounts: Any) -> Path:
    """A copy of config/ whose kefu.yaml has `wechat: accounts:` set to `accounts`."""
    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    path = config / "kefu.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["wechat"] = {"accounts": accounts}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return config


@pytest.fixture
async def two_accounts(
    db_url: str,
    tmp_path: Path,
    clock: ManualClock,
    fake_api: FakeWeChatAPI,
    shop_api: FakeWeChatAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[Services, WeChatServer, WeChatServer]]:
    """The app built from settings alone: the default account in the environment, "shop" in kefu.yaml."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KEFU_WECHAT_TOKEN", TOKEN)
    monkeypatch.setenv("KEFU_WECHAT_APP_ID", APP_ID)
    monkeypatch.setenv("KEFU_WECHAT_APP_SECRET", "app-secret")
    monkeypatch.setenv("KEFU_WECHAT_API_BASE", fake_api.base)
    # Every reply through the customer-service API, so the test sees which account sent it.
    monkeypatch.setenv("KEFU_WECHAT_PASSIVE_BUDGET_SECONDS", "0.0001")
    shop = {
        "token": SHOP_TOKEN,
        "app_id": SHOP_APP_ID,
        "app_secret": "app-secret",
        "api_base": shop_api.base,
        "passive_budget_seconds": 0.0001,
        "api_timeout_seconds": 0.5,
    }
    config = write_config(tmp_path, {"shop": shop})
    settings = Settings(database_url=db_url, env="test", config_dir=config, media_dir=tmp_path / "media")
    services = build_services(settings, clock)
    await services.start(migrate=False)
    app = create_app(settings, services=services, background=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        [hooks] = app.state.webhooks
        assert isinstance(hooks, WeChatWebhooks)
        first, second = hooks.webhooks["default"], hooks.webhooks["shop"]
        default = WeChatServer(http, services, first, first.account)
        other = WeChatServer(http, services, second, second.account, path="/wechat/shop")
        try:
            yield services, default, other
        finally:
            await hooks.drain()
            await services.stop()


async def _outbox(services: Services) -> list[tuple[str, str]]:
    async with services.db.transaction() as session:
        rows = (await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars().all()
        return [(row.ref["account"], row.status) for row in rows]


async def test_each_account_answers_through_its_own_api_token_and_outbox_account(
    two_accounts: tuple[Services, WeChatServer, WeChatServer], fake_api: FakeWeChatAPI, shop_api: FakeWeChatAPI
) -> None:
    services, default, shop = two_accounts
    assert await shop.say("你好") is None
    await shop.webhook.drain()
    assert fake_api.calls == []
    assert len(shop_api.sends()) == 1 and "您好" in shop_api.sent_texts()[0]
    assert await _outbox(services) == [("shop", "sent")]

    assert await default.say("你好") is None
    await default.webhook.drain()
    assert len(fake_api.sends()) == 1 and len(shop_api.sends()) == 1
    assert await _outbox(services) == [("shop", "sent"), ("default", "sent")]
    # One stored token per app, each fetched from its own account's API.
    async with services.db.transaction() as session:
        keys = set((await session.execute(select(ChannelState.key))).scalars())
    assert {token_key(APP_ID), token_key(SHOP_APP_ID)} <= keys
    assert len(fake_api.token_calls()) == 1 and len(shop_api.token_calls()) == 1
    # The same openid under two accounts is two clients (openids are per app).
    assert await default.counts() == (2, 2)


async def test_the_same_msgid_on_two_accounts_is_two_messages_and_a_retry_on_one_is_a_duplicate(
    two_accounts: tuple[Services, WeChatServer, WeChatServer], fake_api: FakeWeChatAPI, shop_api: FakeWeChatAPI
) -> None:
    services, default, shop = two_accounts
    # MsgIds are numbered per Official Account, so two accounts do send the same one.
    msg_id = default.next_id()
    assert await shop.say("你好", msg_id=msg_id) is None
    await shop.webhook.drain()
    assert await default.say("你好", msg_id=msg_id) is None
    await default.webhook.drain()
    assert await default.counts() == (2, 2), "the second account's message was taken for a duplicate"
    assert len(shop_api.sends()) == 1 and len(fake_api.sends()) == 1
    assert await _outbox(services) == [("shop", "sent"), ("default", "sent")]
    # WeChat's retry of that message on one account stores and sends nothing more.
    retry = await default.post(default.xml("text", {"Content": "你好"}, msg_id=msg_id))
    assert retry.status_code == 200
    await default.webhook.drain()
    assert await default.counts() == (2, 2)
    assert len(shop_api.sends()) == 1 and len(fake_api.sends()) == 1


async def test_a_retry_carries_again_the_passive_reply_of_its_own_account_only(
    two_accounts: tuple[Services, WeChatServer, WeChatServer], fake_api: FakeWeChatAPI, shop_api: FakeWeChatAPI
) -> None:
    _, default, shop = two_accounts
    msg_id = default.next_id()
    assert await shop.say("你好", msg_id=msg_id) is None
    await shop.webhook.drain()
    # The default account answers inside its webhook's response (a passive reply) from here on.
    default.webhook.account = default.webhook.account.model_copy(update={"passive_budget_seconds": 4.0})
    first = await default.say("你好", msg_id=msg_id)
    assert first is not None and "您好" in first
    # WeChat did not get that response and retries: the retry carries the same reply, found by account.
    assert await default.say("你好", msg_id=msg_id) == first
    assert await default.counts() == (2, 2)
    assert fake_api.sends() == [] and len(shop_api.sends()) == 1


async def test_account_urls_verify_with_their_own_token(
    two_accounts: tuple[Services, WeChatServer, WeChatServer],
) -> None:
    _, default, _ = two_accounts
    ts, nonce = str(default.now()), "n1"
    for path, token, status in [
        ("/wechat/shop", SHOP_TOKEN, 200),
        ("/wechat/shop", TOKEN, 403),
        ("/wechat", TOKEN, 200),
        ("/wechat/default", TOKEN, 200),
    ]:
        params = {"signature": sign(token, ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": "e7"}
        response = await default.http.get(path, params=params)
        assert response.status_code == status, (path, token)
        assert (response.text == "e7") == (status == 200)


async def test_another_accounts_token_is_refused_and_nothing_is_stored(
    two_accounts: tuple[Services, WeChatServer, WeChatServer], shop_api: FakeWeChatAPI
) -> None:
    _, _, shop = two_accounts
    response = await shop.post(shop.xml("text", {"Content": "你好"}, msg_id=shop.next_id()), token=TOKEN)
    assert response.status_code == 403
    assert await shop.counts() == (0, 0)
    assert shop_api.calls == []


async def test_unknown_account_is_404_and_nothing_is_stored(
    two_accounts: tuple[Services, WeChatServer, WeChatServer], fake_api: FakeWeChatAPI, shop_api: FakeWeChatAPI
) -> None:
    _, default, _ = two_accounts
    default.path = "/wechat/nope"
    response = await default.post(default.xml("text", {"Content": "你好"}, msg_id=default.next_id()))
    assert response.status_code == 404
    ts = str(default.now())
    params = {"signature": sign(TOKEN, ts, "n"), "timestamp": ts, "nonce": "n", "echostr": "e"}
    assert (await default.http.get("/wechat/nope", params=params)).status_code == 404
    assert await default.counts() == (0, 0)
    assert fake_api.calls == [] and shop_api.calls == []


async def test_a_row_of_an_unconfigured_account_fails_visibly(fake_api: FakeWeChatAPI) -> None:
    from core.channel import PermanentSendError
    from core.messages import ConversationRef, OutboundMessage

    channels = WeChatAccounts([WeChatChannel(make_account(fake_api))])
    with pytest.raises(PermanentSendError, match="gone"):
        await channels.send(ConversationRef("wechat", "o1", account="gone"), OutboundMessage("x"))
    assert fake_api.calls == []
    await channels.send(ConversationRef("wechat", "o1"), OutboundMessage("x"))
    assert len(fake_api.sends()) == 1


@pytest.mark.parametrize(
    ("accounts", "problem"),
    [
        (["shop"], "must map account names"),
        ({"shop": "x"}, "must be a mapping"),
        ({"default": {"token": "t", "app_id": "a", "app_secret": "s"}}, "KEFU_WECHAT_"),
        ({"shop/2": {"token": "t", "app_id": "a", "app_secret": "s"}}, "name"),
        ({"shop": {"token": "t", "app_secret": "s"}}, "app_id"),
        ({"shop": {"token": "t", "app_id": "a", "app_secret": "s", "aes_key": "short"}}, "aes_key"),
    ],
)
def test_bad_account_configuration_is_a_clear_error(tmp_path: Path, accounts: Any, problem: str) -> None:
    config = write_config(tmp_path, accounts)
    with pytest.raises(ConfigError, match=problem):
        config_accounts(config / "kefu.yaml")


def test_accounts_from_yaml_with_their_own_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("TOKEN", "APP_ID", "APP_SECRET"):
        monkeypatch.delenv(f"KEFU_WECHAT_{name}", raising=False)
    shop = {
        "token": "t",
        "app_id": "wx-shop",
        "app_secret": "s",
        "aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        "api_base": "http://127.0.0.1:1/cgi-bin",
        "send_rate_per_second": 3,
        "templates": {"satisfaction": {"template_id": "TPL-S"}},
    }
    config = write_config(tmp_path, {"shop": shop})
    [account] = all_accounts(config)
    assert account.name == "shop" and account.safe_mode and account.api_base == "http://127.0.0.1:1/cgi-bin/"
    assert account.send_rate_per_second == 3 and account.templates["satisfaction"].template_id == "TPL-S"
    # Without wechat.accounts there are none beyond the default one.
    assert config_accounts(DEFAULT_CONFIG_DIR / "kefu.yaml") == []


def test_menu_push_on_a_named_account(tmp_path: Path, fake_api: FakeWeChatAPI, shop_api: FakeWeChatAPI) -> None:
    """`kefu wechat menu push --account shop` creates the menu through that account's API and token."""
    import json

    shop = {"token": SHOP_TOKEN, "app_id": SHOP_APP_ID, "app_secret": "app-secret", "api_base": shop_api.base}
    config = write_config(tmp_path, {"shop": shop})
    env = {
        "KEFU_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db",
        "KEFU_CONFIG_DIR": str(config),
        "KEFU_WECHAT_TOKEN": TOKEN,
        "KEFU_WECHAT_APP_ID": APP_ID,
        "KEFU_WECHAT_APP_SECRET": "app-secret",
        "KEFU_WECHAT_API_BASE": fake_api.base,
    }

    run = partial(run_kefu, env=env, cwd=tmp_path)

    assert run("db", "upgrade").returncode == 0
    done = run("wechat", "menu", "push", "--account", "shop")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["errcode"] == 0
    assert [c.path for c in shop_api.calls] == ["/cgi-bin/token", "/cgi-bin/menu/create"]
    assert fake_api.calls == []
    unknown = run("wechat", "menu", "push", "--account", "nope")
    assert unknown.returncode == 2 and "nope" in unknown.stderr
    assert len(shop_api.calls) == 2 and fake_api.calls == []
