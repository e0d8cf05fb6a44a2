"""WeChatChannel against a real HTTP fake of the WeChat API: tokens, splitting and the error mapping."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bots.wechat.channel import KefuWeChatClient, WeChatChannel
from bots.wechat.menu import load_menu, push_menu
from bots.wechat.settings import WeChatEnv, WeChatTemplate
from bots.wechat.templates import template_data
from core.channel import PermanentSendError, TransientSendError, WindowClosed
from core.errors import ConfigError
from core.messages import ConversationRef, OutboundMessage
from core.settings import DEFAULT_CONFIG_DIR
from tests.channels.wechat.conftest import make_account
from tests.channels.wechat.fake_api import FakeWeChatAPI

REF = ConversationRef(channel="wechat", external_user_id="oKefuTestOpenId0000000000001")


@pytest.fixture
def channel(fake_api: FakeWeChatAPI) -> WeChatChannel:
    return WeChatChannel(make_account(fake_api))


async def test_send_fetches_a_token_from_the_configured_base_and_posts_text(
    channel: WeChatChannel, fake_api: FakeWeChatAPI
) -> None:
    result = await channel.send(REF, OutboundMessage("您好"))
    assert result.external_id == "1"
    assert [c.path for c in fake_api.calls] == ["/cgi-bin/token", "/cgi-bin/message/custom/send"]
    send = fake_api.sends()[0]
    assert send.query["access_token"] == "TOKEN-1"
    assert send.body == {"touser": REF.external_user_id, "msgtype": "text", "text": {"content": "您好"}}
    await channel.send(REF, OutboundMessage("再见"))
    assert len(fake_api.token_calls()) == 1


async def test_long_text_is_split(channel: WeChatChannel, fake_api: FakeWeChatAPI) -> None:
    text = "。".join(["这是一句比较长的话"] * 150)
    await channel.send(REF, OutboundMessage(text))
    texts = fake_api.sent_texts()
    assert len(texts) > 1 and all(len(t) <= channel.capabilities.max_text_length for t in texts)
    assert "".join(texts) == text


async def test_invalid_token_is_refreshed_once(channel: WeChatChannel, fake_api: FakeWeChatAPI) -> None:
    await channel.send(REF, OutboundMessage("一"))
    fake_api.revoke_token()
    await channel.send(REF, OutboundMessage("二"))
    assert len(fake_api.token_calls()) == 2
    assert [c.body and c.body["text"]["content"] for c in fake_api.sends()] == ["一", "二", "二"]


async def test_token_refused_twice_is_transient(channel: WeChatChannel, fake_api: FakeWeChatAPI) -> None:
    fake_api.failures.extend([42001, 42001])
    with pytest.raises(TransientSendError):
        await channel.send(REF, OutboundMessage("x"))
    assert len(fake_api.token_calls()) == 2


@pytest.mark.parametrize("errcode", [45015, 45047])
async def test_closed_window_is_window_closed(channel: WeChatChannel, fake_api: FakeWeChatAPI, errcode: int) -> None:
    fake_api.failures.append(errcode)
    with pytest.raises(WindowClosed):
        await channel.send(REF, OutboundMessage("x"))


@pytest.mark.parametrize("errcode", [45015, 45047])
async def test_closed_window_sends_the_configured_template(fake_api: FakeWeChatAPI, errcode: int) -> None:
    template = WeChatTemplate(template_id="TPL-1", remark="回复本消息即可继续沟通")
    channel = WeChatChannel(make_account(fake_api, templates={"default": template}))
    fake_api.failures.append(errcode)
    result = await channel.send(REF, OutboundMessage("您的工单已处理\n工单号 KF-20261129-0001"))
    assert result.external_id == "9001"
    [sent] = fake_api.template_sends()
    assert sent.body == {
        "touser": REF.external_user_id,
        "template_id": "TPL-1",
        "data": {
            "first": {"value": "您的工单已处理"},
            "keyword1": {"value": "工单号 KF-20261129-0001"},
            "remark": {"value": "回复本消息即可继续沟通"},
        },
    }


async def test_template_send_refreshes_a_rejected_token(fake_api: FakeWeChatAPI) -> None:
    template = WeChatTemplate(template_id="TPL-1")
    channel = WeChatChannel(make_account(fake_api, templates={"default": template}))
    await channel.tokens.get()
    fake_api.failures.append(45015)
    # The template send finds the token revoked: refreshed once, then it goes.
    fake_api.revoke_token()
    await channel.send(REF, OutboundMessage("x"))
    assert [c.query["access_token"] for c in fake_api.template_sends()] == ["TOKEN-1", "TOKEN-2"]
    assert len(fake_api.token_calls()) == 2


def test_template_data_fields() -> None:
    assert template_data("一行", "") == {"first": {"value": "一行"}}
    long = template_data("标题\n" + "长" * 500, "备注")
    assert len(long["keyword1"]["value"]) == 200 and long["remark"] == {"value": "备注"}


@pytest.mark.parametrize("failure", ["5xx", "slow", -1, 45009])
async def test_transient_failures(channel: WeChatChannel, fake_api: FakeWeChatAPI, failure: int | str) -> None:
    fake_api.failures.append(failure)
    with pytest.raises(TransientSendError):
        await channel.send(REF, OutboundMessage("x"))


async def test_unreachable_api_is_transient(fake_api: FakeWeChatAPI) -> None:
    channel = WeChatChannel(make_account(fake_api, api_base="http://127.0.0.1:9/cgi-bin/"))
    with pytest.raises(TransientSendError):
        await channel.send(REF, OutboundMessage("x"))


async def test_other_errcodes_are_permanent(channel: WeChatChannel, fake_api: FakeWeChatAPI) -> None:
    fake_api.failures.append(40003)
    with pytest.raises(PermanentSendError) as caught:
        await channel.send(REF, OutboundMessage("x"))
    assert not isinstance(caught.value, WindowClosed)


async def test_push_menu(fake_api: FakeWeChatAPI) -> None:
    client = KefuWeChatClient(make_account(fake_api))
    result = await asyncio.to_thread(push_menu, client, DEFAULT_CONFIG_DIR / "wechat_menu.yaml")
    assert result["errcode"] == 0
    menu = next(c for c in fake_api.calls if c.path == "/cgi-bin/menu/create")
    assert menu.body is not None
    names = [b["name"] for b in menu.body["button"]]
    subs = [s["name"] for b in menu.body["button"] for s in b.get("sub_button", [])]
    keys = {s.get("key") for b in menu.body["button"] for s in [b, *b.get("sub_button", [])]}
    assert {"咨询", "投诉"} <= set(names) and {"建议", "人工客服"} <= set(subs)
    assert {"INQUIRY", "COMPLAINT", "SUGGESTION", "HUMAN"} <= keys


def test_menu_with_an_unknown_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "menu.yaml"
    path.write_text("button:\n  - {type: click, name: 投诉, key: COMPLAINTS}\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_menu(path)


def test_default_account_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path(__file__).parent)
    monkeypatch.delenv("KEFU_WECHAT_TOKEN", raising=False)
    assert WeChatEnv().account() is None
    monkeypatch.setenv("KEFU_WECHAT_TOKEN", "t")
    monkeypatch.setenv("KEFU_WECHAT_APP_ID", "wx1")
    monkeypatch.setenv("KEFU_WECHAT_APP_SECRET", "s")
    monkeypatch.setenv("KEFU_WECHAT_AES_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
    monkeypatch.setenv("KEFU_WECHAT_API_BASE", "http://127.0.0.1:1/cgi-bin")
    account = WeChatEnv().account()
    assert account is not None and account.name == "default" and account.safe_mode
    assert account.api_base == "http://127.0.0.1:1/cgi-bin/"
    assert account.passive_budget_seconds == 3.5
    assert account.templates == {}
    monkeypatch.setenv("KEFU_WECHAT_TEMPLATES", '{"default": {"template_id": "TPL", "remark": "请回复"}}')
    account = WeChatEnv().account()
    assert account is not None and account.templates["default"] == WeChatTemplate(template_id="TPL", remark="请回复")
    monkeypatch.setenv("KEFU_WECHAT_AES_KEY", "too-short")
    with pytest.raises(ValueError):
        WeChatEnv().account()
