"""End to end through signed WeChat XML: passive replies, safe mode, retries, slow turns, closed windows, attacks."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest
import xmltodict
from sqlalchemy import select

from bots.wechat.settings import WeChatTemplate
from core.clock import ManualClock
from core.db.models import ChannelIdentity, Message
from handlers.services import Services
from tests.channels.wechat.conftest import AES_KEY, OTHER_AES_KEY, TOKEN, WeChatFactory, WeChatServer, sign
from tests.channels.wechat.fake_api import FakeWeChatAPI

TICKET_NO = re.compile(r"KF-\d{8}-\d{4}")


async def _complaint(wechat: WeChatServer, project: str = "双十一信息流投放") -> str:
    """A whole complaint over WeChat; returns the text that carries the ticket number."""
    reply = await wechat.say("你们投放的信息流广告效果太差了，我要投诉")
    assert reply is not None and "哪个广告项目" in reply, reply
    reply = await wechat.say(project)
    assert reply is not None and "什么时候开始" in reply, reply
    reply = await wechat.say("跳过")
    assert reply is not None and "如何处理" in reply, reply
    reply = await wechat.say("希望补量或者退部分费用")
    assert reply is not None and "联系电话" in reply, reply
    summary = await wechat.say("13800138000")
    assert summary is not None and "请确认" in summary and project in summary, summary
    # No buttons on WeChat: the options are numbered and the number is the answer.
    assert "1 确认提交" in summary, summary
    opened = await wechat.say("1")
    assert opened is not None
    return opened


async def test_url_verification(wechat: WeChatServer) -> None:
    ts, nonce = str(wechat.now()), "123"
    ok = await wechat.http.get(
        "/wechat", params={"signature": sign(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": "e42"}
    )
    assert ok.status_code == 200 and ok.text == "e42"
    bad = await wechat.http.get(
        "/wechat", params={"signature": sign("x", ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": "e42"}
    )
    assert bad.status_code == 403 and "e42" not in bad.text


async def test_complaint_in_plain_mode_ends_with_ticket_in_passive_reply(
    wechat: WeChatServer, fake_api: FakeWeChatAPI
) -> None:
    opened = await _complaint(wechat)
    assert TICKET_NO.search(opened), opened
    # Every reply went out in the HTTP response: none through the customer-service API.
    assert fake_api.sends() == []
    assert set(await wechat.outbox_statuses()) == {"sent"}


async def test_complaint_in_safe_mode(make_wechat: WeChatFactory, fake_api: FakeWeChatAPI) -> None:
    wechat = await make_wechat(aes_key=AES_KEY)
    response = await wechat.post(wechat.xml("text", {"Content": "你好"}, msg_id=wechat.next_id()))
    assert "<Encrypt>" in response.text and "您好" not in response.text
    opened = await _complaint(wechat)
    assert TICKET_NO.search(opened), opened
    assert fake_api.sends() == []


async def test_same_msgid_three_times_is_one_message_and_one_reply(
    wechat: WeChatServer, fake_api: FakeWeChatAPI
) -> None:
    xml = wechat.xml("text", {"Content": "你好"}, msg_id=777)
    first = wechat.reply_text(await wechat.post(xml))
    assert first is not None and "您好" in first
    # WeChat retries only when the answer did not reach it in time, and then keeps only the retry's answer:
    # each retry carries the same passive reply, so whichever answer WeChat takes, the client sees it once.
    for _ in range(2):
        assert wechat.reply_text(await wechat.post(xml)) == first
    await wechat.webhook.drain()
    assert await wechat.counts() == (1, 1)
    assert fake_api.sends() == []


async def test_slow_turn_answers_success_then_sends_once(make_wechat: WeChatFactory, fake_api: FakeWeChatAPI) -> None:
    wechat = await make_wechat(passive_budget_seconds=0.0001)
    assert await wechat.say("你好", msg_id=1) is None
    await wechat.webhook.drain()
    assert len(fake_api.sends()) == 1
    assert "您好" in fake_api.sent_texts()[0]
    body = fake_api.sends()[0].body
    assert body is not None and body["touser"] == wechat.openid
    assert await wechat.outbox_statuses() == ["sent"]
    # WeChat retries the slow message: stored once, sent once.
    assert await wechat.say("你好", msg_id=1) is None
    await wechat.webhook.drain()
    assert len(fake_api.sends()) == 1
    assert await wechat.counts() == (1, 1)


async def test_a_slow_turn_is_answered_only_once_its_message_is_stored(make_wechat: WeChatFactory) -> None:
    """WeChat never retries a "success": answered before the turn commits, a crash would lose the message."""
    wechat = await make_wechat(passive_budget_seconds=0.0001)
    # Another turn of this client holds the conversation, so this one cannot even start for a while.
    key = ("wechat", wechat.webhook.account.name, wechat.openid)
    async with wechat.services.engine._lock(key):
        answer = asyncio.create_task(wechat.say("你好", msg_id=7))
        await asyncio.sleep(0.3)
        assert not answer.done(), "answered before the message was stored"
        assert await wechat.counts() == (0, 0)
    assert await answer is None
    assert (await wechat.counts())[0] == 1
    await wechat.webhook.drain()


async def test_window_closed_parks_then_delivers_when_client_writes(
    make_wechat: WeChatFactory, fake_api: FakeWeChatAPI
) -> None:
    wechat = await make_wechat(passive_budget_seconds=0.0001)
    fake_api.failures.append(45015)
    assert await wechat.say("你好") is None
    await wechat.webhook.drain()
    assert await wechat.outbox_statuses() == ["window_closed"]
    assert len(fake_api.sends()) == 1
    await wechat.say("我要投诉")
    await wechat.webhook.drain()
    # The parked greeting goes first, then this turn's reply.
    assert await wechat.outbox_statuses() == ["sent", "sent"]
    texts = fake_api.sent_texts()
    assert len(texts) == 3 and texts[0] == texts[1] and "您好" in texts[1]


async def test_window_closed_with_a_template_counts_as_sent(
    make_wechat: WeChatFactory, fake_api: FakeWeChatAPI
) -> None:
    template = WeChatTemplate(template_id="TPL-1", remark="回复即可继续")
    wechat = await make_wechat(passive_budget_seconds=0.0001, templates={"default": template})
    fake_api.failures.append(45015)
    assert await wechat.say("你好") is None
    await wechat.webhook.drain()
    assert await wechat.outbox_statuses() == ["sent"]
    [sent] = fake_api.template_sends()
    assert sent.body is not None and sent.body["touser"] == wechat.openid
    assert "您好" in sent.body["data"]["first"]["value"]


async def test_window_closed_row_is_sent_after_a_passive_answer(
    make_wechat: WeChatFactory, fake_api: FakeWeChatAPI, services: Services
) -> None:
    slow = await make_wechat(passive_budget_seconds=0.0001)
    fake_api.failures.append(45047)
    await slow.say("你好")
    await slow.webhook.drain()
    assert await slow.outbox_statuses() == ["window_closed"]
    quick = await make_wechat()
    reply = await quick.say("我要投诉")
    # The parked greeting is older, so this turn's reply may not overtake it in a passive answer.
    assert reply is None
    await quick.webhook.drain()
    assert await quick.outbox_statuses() == ["sent", "sent"]
    first, second = fake_api.sent_texts()[-2:]
    assert "您好" in first and "投诉" in second


@pytest.mark.parametrize(
    "case",
    ["signature", "stale", "future", "aes_key", "xxe", "billion_laughs", "too_large", "malformed", "no_root", "nested"],
)
async def test_bad_input_is_refused_and_nothing_is_stored(
    make_wechat: WeChatFactory, fake_api: FakeWeChatAPI, case: str
) -> None:
    wechat = await make_wechat(aes_key=AES_KEY) if case == "aes_key" else await make_wechat()
    good = wechat.xml("text", {"Content": "我要投诉"}, msg_id=wechat.next_id())
    hostile_head = '<?xml version="1.0"?>'
    if case == "signature":
        response, status = await wechat.post(good, token="not-the-token"), 403
    elif case == "stale":
        response, status = await wechat.post(good, timestamp=wechat.now() - 301), 403
    elif case == "future":
        response, status = await wechat.post(good, timestamp=wechat.now() + 301), 403
    elif case == "aes_key":
        response, status = await wechat.post(good, encrypt_with=OTHER_AES_KEY), 400
    elif case == "xxe":
        body = f'{hostile_head}<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + good.replace(
            "我要投诉", "&xxe;"
        )
        response, status = await wechat.post(body), 400
    elif case == "billion_laughs":
        entities = '<!ENTITY a0 "lol">' + "".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10))
        body = f"{hostile_head}<!DOCTYPE xml [{entities}]>" + good.replace("我要投诉", "&a9;")
        response, status = await wechat.post(body), 400
    elif case == "too_large":
        body = good.replace("我要投诉", "x" * (1024 * 1024))
        response, status = await wechat.post(body), 413
    elif case == "malformed":
        response, status = await wechat.post(good[:-5]), 400
    elif case == "no_root":
        response, status = await wechat.post("<xml/>"), 400
    else:
        response, status = (
            await wechat.post(good.replace("<MsgType>text</MsgType>", "<MsgType><a>1</a></MsgType>")),
            400,
        )
    assert response.status_code == status, response.text
    assert "success" not in response.text
    await wechat.webhook.drain()
    assert await wechat.counts() == (0, 0)
    assert fake_api.calls == []


async def test_plaintext_is_refused_in_safe_mode(make_wechat: WeChatFactory) -> None:
    safe = await make_wechat(aes_key=AES_KEY)
    plain = (await make_wechat()).xml("text", {"Content": "你好"}, msg_id=5)
    safe.account = safe.account.model_copy(update={"aes_key": None})
    response = await safe.post(plain)
    assert response.status_code == 400
    assert await safe.counts() == (0, 0)


async def test_unknown_msgtype_is_stored_and_answered_neutrally(wechat: WeChatServer, services: Services) -> None:
    xml = wechat.xml("hologram", {"Beam": "x"}, msg_id=wechat.next_id())
    reply = wechat.reply_text(await wechat.post(xml))
    assert reply == services.texts.get("input.unsupported", "zh")
    assert await wechat.counts() == (1, 1)


async def test_cdata_terminator_in_outbound_text_keeps_the_xml_whole(wechat: WeChatServer) -> None:
    await wechat.say("你们投放的信息流广告效果太差了，我要投诉")
    project = "项目]]><MsgType>news</MsgType><x>"
    reply = await wechat.say(project)
    assert reply is not None and "什么时候开始" in reply
    await wechat.say("跳过")
    await wechat.say("希望补量")
    summary = await wechat.say("13800138000")
    assert summary is not None and project in summary


async def test_subscribe_greets_and_unsubscribe_marks_unreachable(wechat: WeChatServer, services: Services) -> None:
    reply = wechat.reply_text(await wechat.post(wechat.xml("event", {"Event": "subscribe", "EventKey": ""})))
    assert reply is not None and "您好" in reply and "1 咨询" in reply
    response = await wechat.post(wechat.xml("event", {"Event": "unsubscribe", "EventKey": ""}))
    assert wechat.reply_text(response) is None
    assert (await wechat.counts())[0] == 2
    async with services.db.transaction() as session:
        identity = (await session.execute(select(ChannelIdentity))).scalar_one()
        assert identity.reachable is False


async def test_menu_clicks(wechat: WeChatServer, clock: ManualClock) -> None:
    click = wechat.xml("event", {"Event": "CLICK", "EventKey": "COMPLAINT"})
    reply = wechat.reply_text(await wechat.post(click))
    assert reply is not None and "投诉" in reply and "发生了什么问题" in reply, reply
    # A retried event (same sender, time and event) is stored once, and answered with the same reply.
    assert wechat.reply_text(await wechat.post(click)) == reply
    assert await wechat.counts() == (1, 1)
    # WeChat's event identity has a one-second resolution: the next click comes a second later.
    clock.advance(timedelta(seconds=1))
    human = wechat.xml("event", {"Event": "CLICK", "EventKey": "HUMAN"})
    reply = wechat.reply_text(await wechat.post(human))
    assert reply is not None and "人工客服" in reply and TICKET_NO.search(reply), reply


async def test_voice_recognition_is_the_message_text(wechat: WeChatServer) -> None:
    xml = wechat.xml(
        "voice", {"MediaId": "m1", "Format": "amr", "Recognition": "我要投诉你们的投放效果"}, msg_id=wechat.next_id()
    )
    reply = wechat.reply_text(await wechat.post(xml))
    assert reply is not None and "投诉" in reply


def test_passive_reply_parses_back(wechat_message_text: str = "a]]>b<c>&\x01d") -> None:
    from bots.wechat.convert import parse, passive_text_reply

    message = parse("<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><MsgType>text</MsgType></xml>")
    xml = passive_text_reply(message, wechat_message_text, 1)
    assert xmltodict.parse(xml)["xml"]["Content"] == "a]]>b<c>&d"


@pytest.mark.parametrize("text", ["", "你好", "a]]>b<c>&\x01d", "line\nbreak", "x" * 600])
def test_passive_reply_is_what_wechatpy_renders(text: str) -> None:
    from wechatpy.replies import TextReply

    from bots.wechat.convert import cdata_safe, parse, passive_text_reply

    message = parse("<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName><MsgType>text</MsgType></xml>")
    theirs = TextReply(source="gh_1", target="o1", content=cdata_safe(text), time=1_765_000_000).render()
    assert passive_text_reply(message, text, 1_765_000_000) == theirs


async def test_compatible_mode_reads_the_encrypted_copy_not_the_plaintext(
    make_wechat: WeChatFactory, services: Services
) -> None:
    """兼容模式: the body carries the plaintext fields and an Encrypt field; only the signed, encrypted one counts."""
    from wechatpy.crypto import WeChatCrypto

    from tests.channels.wechat.conftest import APP_ID, element

    wechat = await make_wechat(aes_key=AES_KEY)
    ts, nonce = str(wechat.now()), "compat1"
    inner = wechat.xml("text", {"Content": "你好"}, msg_id=wechat.next_id())
    envelope = xmltodict.parse(WeChatCrypto(TOKEN, AES_KEY, APP_ID).encrypt_message(inner, nonce, ts))["xml"]
    # The unsigned plaintext copy says something else: it must not be what kefu reads.
    forged = wechat.xml("text", {"Content": "我要投诉"}, msg_id=wechat.next_id())
    body = forged.replace("</xml>", element("Encrypt", envelope["Encrypt"]) + "</xml>")
    params = {
        "signature": sign(TOKEN, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": envelope["MsgSignature"],
    }
    response = await wechat.http.post("/wechat", params=params, content=body)
    reply = wechat.reply_text(response)
    # The greeting, not the complaint form's first question.
    assert reply is not None and "您好" in reply and "发生了什么问题" not in reply
    async with services.db.transaction() as session:
        texts = list((await session.execute(select(Message.text).where(Message.direction == "in"))).scalars())
    assert texts == ["你好"]
