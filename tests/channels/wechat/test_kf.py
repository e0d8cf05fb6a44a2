"""WeCom 微信客服: callback checks, the sync_msg pull, dedupe, the persisted cursor, sends, parking and transfers."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import xmltodict
from pydantic import SecretStr
from sqlalchemy import select
from wechatpy.work.crypto import WeChatCrypto

from bots.wechat.kf_channel import WeComKfChannel
from bots.wechat.kf_convert import to_inbound
from bots.wechat.kf_routes import cursor_key
from bots.wechat.kf_settings import RepMode, WeComKfAccount, default_kf_account
from bots.wechat.token import MemoryStateStore
from core.channel import PermanentSendError, TransientSendError, WindowClosed
from core.channel_state import ChannelStateStore
from core.clock import ManualClock
from core.db.models import Conversation, TicketEvent
from core.messages import ConversationRef, MessageType, OutboundMessage
from core.tickets.takeover import TakenByOther
from handlers.services import Services
from tests.channels.wechat.conftest import OTHER_AES_KEY, element, sign
from tests.channels.wechat.kf_fake_api import CORP_SECRET, FakeWeComAPI, client_item, enter_session_item
from tests.channels.wechat.kf_harness import (
    AES_KEY,
    CORP_ID,
    KFID,
    TICKET_NO,
    TOKEN,
    USER,
    WeComFactory,
    WeComServer,
    kf_conversation,
    make_account,
)
from tests.support.desk_setup import create_staff

# ------------------------------------------------------------ callback checks


async def test_url_verification_decrypts_echostr(wecom: WeComServer) -> None:
    ts, nonce = str(wecom.now()), "123"
    envelope = xmltodict.parse(WeChatCrypto(TOKEN, AES_KEY, CORP_ID).encrypt_message("echo-42", nonce, ts))["xml"]
    echostr = envelope["Encrypt"]
    params = {"msg_signature": sign(TOKEN, ts, nonce, echostr), "timestamp": ts, "nonce": nonce, "echostr": echostr}
    ok = await wecom.http.get("/wecom/kf", params=params)
    assert ok.status_code == 200 and ok.text == "echo-42"
    forged = await wecom.http.get("/wecom/kf", params={**params, "msg_signature": sign("x", ts, nonce, echostr)})
    assert forged.status_code == 403 and "echo-42" not in forged.text
    stale = str(wecom.now() - 3600)
    old = {**params, "timestamp": stale, "msg_signature": sign(TOKEN, stale, nonce, echostr)}
    assert (await wecom.http.get("/wecom/kf", params=old)).status_code == 403


@pytest.mark.parametrize("digits", ["²²²²²²²²²²", "٠١٢٣٤٥٦٧٨٩"], ids=["superscript", "arabic-indic"])
async def test_a_timestamp_in_other_digits_is_refused_before_any_signature(wecom: WeComServer, digits: str) -> None:
    # str.isdigit accepts both; int() raises on the first, reads the second. Neither is WeCom's.
    timestamp = str(wecom.now()).translate(str.maketrans("0123456789", digits))
    params = {"timestamp": timestamp, "nonce": "1", "msg_signature": "x", "echostr": "x"}
    assert (await wecom.http.get("/wecom/kf", params=params)).status_code == 403
    assert (await wecom.http.post("/wecom/kf", params=params, content="<xml/>")).status_code == 403


async def test_a_body_too_large_or_with_a_broken_length_is_refused_before_the_envelope(wecom: WeComServer) -> None:
    params = {"timestamp": str(wecom.now()), "nonce": "1", "msg_signature": "x"}
    limit = wecom.webhook.max_body_bytes
    too_big = await wecom.http.post("/wecom/kf", params=params, content=b"x" * (limit + 1))
    assert (too_big.status_code, too_big.text) == (413, "body too large")
    headers = {"Content-Length": "many"}
    broken = await wecom.http.post("/wecom/kf", params=params, content=b"<xml/>", headers=headers)
    assert (broken.status_code, broken.text) == (400, "bad request")


async def test_rejected_callbacks_store_nothing_and_pull_nothing(wecom: WeComServer, wecom_api: FakeWeComAPI) -> None:
    wecom_api.push(KFID, client_item(KFID, USER, "text", {"content": "你好"}))
    assert (await wecom.post(token="not-the-token")).status_code == 403
    assert (await wecom.post(timestamp=wecom.now() - 3600)).status_code == 403
    assert (await wecom.post(body="<xml><Encrypt>")).status_code == 400
    assert (await wecom.post(body="<!DOCTYPE x [<!ENTITY a 'b'>]><xml><Encrypt>&a;</Encrypt></xml>")).status_code == 400
    # Signed with the right token but sealed with another key: the signature holds, decryption fails.
    assert (await wecom.post(aes_key=OTHER_AES_KEY)).status_code == 400
    assert (await wecom.post(inner="not xml at all")).status_code == 400
    assert (await wecom.post(open_kfid="")).status_code == 400
    await wecom.webhook.drain()
    assert wecom_api.of("kf/sync_msg") == []
    assert await wecom.counts() == (0, 0)


async def test_other_events_are_acknowledged_and_ignored(wecom: WeComServer, wecom_api: FakeWeComAPI) -> None:
    inner = f"<xml>{element('MsgType', 'event')}{element('Event', 'change_external_contact')}</xml>"
    response = await wecom.post(inner=inner)
    assert response.status_code == 200 and response.text == "success"
    await wecom.webhook.drain()
    assert wecom_api.of("kf/sync_msg") == []


# ------------------------------------------------------------ the conversation


async def test_complaint_over_kf_ends_with_ticket_number(wecom: WeComServer, wecom_api: FakeWeComAPI) -> None:
    # The first callback finds two items, served one per page: the client opening the chat, then writing.
    wecom_api.page_size = 1
    wecom_api.push(
        KFID,
        enter_session_item(KFID, USER),
        client_item(KFID, USER, "text", {"content": "你们投放的信息流广告效果太差了，我要投诉"}),
    )
    await wecom.notify()
    syncs = wecom_api.of("kf/sync_msg")
    assert [c.body for c in syncs] == [
        {"cursor": "", "token": "SYNC-TOKEN", "limit": 1000, "open_kfid": KFID},
        {"cursor": "cur-1", "token": "SYNC-TOKEN", "limit": 1000, "open_kfid": KFID},
    ]
    first = wecom.new_sends()
    assert "哪个广告项目" in first, first

    assert "什么时候开始" in await wecom.say("双十一信息流投放")
    assert "如何处理" in await wecom.say("跳过")
    assert "联系电话" in await wecom.say("希望补量或者退部分费用")
    summary = await wecom.say("13800138000")
    # No buttons on kf: the options are numbered and the number is the answer.
    assert "请确认" in summary and "1 确认提交" in summary, summary
    opened = await wecom.say("1")
    assert TICKET_NO.search(opened), opened

    send = wecom_api.of("kf/send_msg")[-1].body
    assert send is not None
    assert send["touser"] == USER and send["open_kfid"] == KFID and send["msgtype"] == "text"
    assert set(await wecom.outbox_statuses()) == {"sent"}
    # One token for the whole conversation, shared through the store.
    assert wecom_api.tokens_issued == 1


async def test_same_messages_pulled_twice_are_stored_and_answered_once(
    wecom: WeComServer, wecom_api: FakeWeComAPI, services: Services
) -> None:
    wecom_api.push(KFID, client_item(KFID, USER, "text", {"content": "你好"}, msgid="m-1"))
    await wecom.notify()
    assert await wecom.counts() == (1, 1)
    answered = len(wecom_api.of("kf/send_msg"))
    # The cursor is lost (or another process had not stored it yet): the same items come again.
    await ChannelStateStore(services.db, services.clock).put(cursor_key(KFID), {"cursor": ""})
    await wecom.notify()
    await wecom.notify()
    assert len(wecom_api.of("kf/sync_msg")) == 3
    assert await wecom.counts() == (1, 1)
    assert len(wecom_api.of("kf/send_msg")) == answered


async def test_cursor_is_persisted_and_reused_after_restart(
    make_wecom: WeComFactory, wecom_api: FakeWeComAPI, services: Services
) -> None:
    first = await make_wecom()
    await first.say("你好")
    store = ChannelStateStore(services.db, services.clock)
    assert await store.get(cursor_key(KFID)) == {"cursor": "cur-1"}

    restarted = await make_wecom()
    restarted.seen_sends = first.seen_sends
    reply = await restarted.say("我要投诉")
    assert reply, "the restarted webhook answered the new message"
    assert wecom_api.of("kf/sync_msg")[-1].body == {
        "cursor": "cur-1",
        "token": "SYNC-TOKEN",
        "limit": 1000,
        "open_kfid": KFID,
    }
    assert await store.get(cursor_key(KFID)) == {"cursor": "cur-2"}
    assert (await restarted.counts())[0] == 2


async def test_pull_waits_for_another_process_holding_the_lock(
    wecom: WeComServer, wecom_api: FakeWeComAPI, services: Services
) -> None:
    store = ChannelStateStore(services.db, services.clock)
    lock_key = f"wecom:kf:pull:{KFID}"
    assert await store.try_lock(lock_key, "other-process", timedelta(seconds=60))
    wecom_api.push(KFID, client_item(KFID, USER, "text", {"content": "你好"}))
    pull = asyncio.create_task(wecom.webhook.pull(KFID, "SYNC-TOKEN"))
    await asyncio.sleep(0.1)
    assert not pull.done() and wecom_api.of("kf/sync_msg") == []
    await store.unlock(lock_key, "other-process")
    assert await asyncio.wait_for(pull, 5) == 1


async def test_failed_sync_keeps_the_cursor_for_the_next_notice(
    wecom: WeComServer, wecom_api: FakeWeComAPI, services: Services
) -> None:
    wecom_api.push(KFID, client_item(KFID, USER, "text", {"content": "你好"}))
    wecom_api.sync_failures.append("5xx")
    await wecom.notify()
    assert await wecom.counts() == (0, 0)
    assert await ChannelStateStore(services.db, services.clock).get(cursor_key(KFID)) is None
    await wecom.notify()
    assert (await wecom.counts())[0] == 1


# ------------------------------------------------------------ sending


async def test_window_closed_parks_the_reply_until_the_client_writes(
    wecom: WeComServer, wecom_api: FakeWeComAPI
) -> None:
    wecom_api.send_failures.append(95002)
    await wecom.say("你好")
    assert await wecom.outbox_statuses() == ["window_closed"]
    await wecom.say("我要投诉")
    assert await wecom.outbox_statuses() == ["sent", "sent"]


async def test_rejected_token_is_refreshed_once(wecom: WeComServer, wecom_api: FakeWeComAPI) -> None:
    await wecom.say("你好")
    wecom_api.valid_token = None
    assert await wecom.say("我要投诉")
    assert wecom_api.tokens_issued == 2
    assert set(await wecom.outbox_statuses()) == {"sent"}


async def test_send_errors_map_to_the_outbox_vocabulary(wecom_api: FakeWeComAPI) -> None:
    channel = WeComKfChannel(make_account(wecom_api), MemoryStateStore(ManualClock()))
    ref = ConversationRef(channel="wecom", account=KFID, external_user_id=USER)
    message = OutboundMessage("您好")
    wecom_api.open_session(KFID, USER)
    for failure, error in (
        (95001, WindowClosed),
        (95002, WindowClosed),
        ("5xx", TransientSendError),
        (-1, TransientSendError),
        (40003, PermanentSendError),
    ):
        wecom_api.send_failures.append(failure)
        with pytest.raises(error):
            await channel.send(ref, message)
    # A token still refused after one refresh is retried later, not given up.
    wecom_api.send_failures.extend([40014, 42001])
    with pytest.raises(TransientSendError):
        await channel.send(ref, message)
    assert (await channel.send(ref, message)).external_id is not None


async def test_unreachable_api_is_transient() -> None:
    account = WeComKfAccount(
        corp_id=CORP_ID,
        secret=SecretStr(CORP_SECRET),
        token=SecretStr(TOKEN),
        aes_key=SecretStr(AES_KEY),
        api_base="http://127.0.0.1:9/cgi-bin/",
        api_timeout_seconds=0.5,
    )
    channel = WeComKfChannel(account, MemoryStateStore(ManualClock()))
    with pytest.raises(TransientSendError):
        await channel.send(ConversationRef(channel="wecom", account=KFID, external_user_id=USER), OutboundMessage("x"))


# ------------------------------------------------------------ conversion and settings


def test_conversion_of_sync_items() -> None:
    text = to_inbound(client_item(KFID, USER, "text", {"content": "你好", "menu_id": "101"}, msgid="a"))
    assert text is not None and text.type is MessageType.TEXT and text.text == "你好"
    assert text.external_id == "a" and text.payload == {"menu_id": "101"}
    assert text.ref == ConversationRef(channel="wecom", account=KFID, external_user_id=USER)
    assert text.sent_at is not None

    for kind in ("image", "voice", "video", "file"):
        media = to_inbound(client_item(KFID, USER, kind, {"media_id": f"{kind}-1"}))
        assert media is not None and media.type.value == kind
        assert media.attachments[0].kind == kind and media.attachments[0].media_id == f"{kind}-1"

    place = {"latitude": 23.1, "longitude": 113.3, "name": "广州塔", "address": "广州市海珠区"}
    location = to_inbound(client_item(KFID, USER, "location", place))
    assert location is not None and location.type is MessageType.LOCATION and "广州塔" in location.text

    link = to_inbound(client_item(KFID, USER, "link", {"title": "报告", "desc": "d", "url": "https://e.x/r"}))
    assert link is not None and link.type is MessageType.LINK and "https://e.x/r" in link.text

    odd = to_inbound(client_item(KFID, USER, "miniprogram", {"title": "x"}))
    assert odd is not None and odd.type is MessageType.UNKNOWN

    entered = to_inbound(enter_session_item(KFID, USER, msgid="e-1"))
    assert entered is not None and entered.type is MessageType.EVENT
    assert entered.payload["event"] == "subscribe" and entered.external_id == "e-1"
    assert entered.ref.account == KFID and entered.ref.external_user_id == USER

    servicer = {**client_item(KFID, USER, "text", {"content": "人工回复"}), "origin": 5}
    other_event = {**enter_session_item(KFID, USER), "event": {"event_type": "msg_send_fail", "open_kfid": KFID}}
    no_ids = client_item(KFID, "", "text", {"content": "?"})
    for skipped in (servicer, other_event, no_ids, "not a dict", {"origin": 3, "msgtype": "text"}):
        assert to_inbound(skipped) is None


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CORP_ID", "SECRET", "TOKEN", "AES_KEY", "API_BASE"):
        monkeypatch.delenv(f"KEFU_WECOM_{name}", raising=False)
    assert default_kf_account() is None
    monkeypatch.setenv("KEFU_WECOM_CORP_ID", CORP_ID)
    monkeypatch.setenv("KEFU_WECOM_SECRET", CORP_SECRET)
    monkeypatch.setenv("KEFU_WECOM_TOKEN", TOKEN)
    assert default_kf_account() is None
    monkeypatch.setenv("KEFU_WECOM_AES_KEY", AES_KEY)
    account = default_kf_account()
    assert account is not None and account.corp_id == CORP_ID
    assert account.api_base == "https://qyapi.weixin.qq.com/cgi-bin/"
    monkeypatch.setenv("KEFU_WECOM_API_BASE", "http://127.0.0.1:1/cgi-bin")
    assert (account := default_kf_account()) is not None and account.api_base == "http://127.0.0.1:1/cgi-bin/"
    with pytest.raises(ValueError):
        make_account(FakeWeComAPI(), aes_key=SecretStr("too-short"))


# ------------------------------------------------------------ handover and the 5-message window


async def test_five_kf_messages_per_client_message(wecom: WeComServer, wecom_api: FakeWeComAPI) -> None:
    assert await wecom.say("你好")
    ref = ConversationRef(channel="wecom", account=KFID, external_user_id=USER)
    channel = wecom.webhook.channel
    for i in range(4):
        await channel.send(ref, OutboundMessage(f"第{i + 2}条"))
    with pytest.raises(WindowClosed):
        await channel.send(ref, OutboundMessage("第6条"))
    assert len(wecom_api.of("kf/send_msg")) == 5
    # The client writes: the window opens again.
    assert await wecom.say("好的")
    await channel.send(ref, OutboundMessage("第6条"))
    assert wecom_api.sent_texts()[-1] == "第6条"


def test_servicers_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEFU_WECOM_CORP_ID", CORP_ID)
    monkeypatch.setenv("KEFU_WECOM_SECRET", CORP_SECRET)
    monkeypatch.setenv("KEFU_WECOM_TOKEN", TOKEN)
    monkeypatch.setenv("KEFU_WECOM_AES_KEY", AES_KEY)
    monkeypatch.setenv("KEFU_WECOM_SERVICERS", '{"li": "LiNa"}')
    monkeypatch.setenv("KEFU_WECOM_DEFAULT_SERVICER", "duty")
    account = default_kf_account()
    assert account is not None
    assert account.servicer_for("li") == "LiNa" and account.servicer_for("wang") == "duty"
    monkeypatch.delenv("KEFU_WECOM_DEFAULT_SERVICER")
    account = default_kf_account()
    assert account is not None and account.servicer_for("wang") is None


async def test_a_failed_handover_is_recorded_on_the_ticket_and_the_claim_stands(
    make_wecom: WeComFactory, wecom_api: FakeWeComAPI, services: Services
) -> None:
    wecom = await make_wecom(servicers={"rep0": "WeComRep0"}, rep_mode=RepMode.WECOM)
    await wecom.say("人工")
    staff = await create_staff(services)
    conversation_id = await kf_conversation(services)
    wecom_api.trans_failures.append(95014)
    await services.engine.claim(conversation_id, staff.reps[0])
    async with services.db.transaction() as session:
        conversation = await session.get(Conversation, conversation_id)
        assert conversation is not None and conversation.ticket_id is not None
        events = await session.execute(select(TicketEvent).where(TicketEvent.ticket_id == conversation.ticket_id))
        failed = [e for e in events.scalars() if e.kind == "handover_failed"]
    assert len(failed) == 1 and "95014" in failed[0].data["error"] and failed[0].data["to_human"] is True
    assert failed[0].data["kind"] == "claim"
    # Still claimed: a second claim by someone else is refused.
    with pytest.raises(TakenByOther):
        await services.engine.claim(conversation_id, staff.reps[1])
