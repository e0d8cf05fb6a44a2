"""WeChat XML to InboundMessage: every message type, the events and the ids WeChat's retries reuse."""

from __future__ import annotations

import pytest

from bots.wechat.convert import BadMessage, parse, to_inbound
from core.messages import MessageType

HEAD = "<ToUserName>gh</ToUserName><FromUserName>oUser</FromUserName><CreateTime>1764381600</CreateTime>"


def convert(body: str, msg_type: str, msg_id: str | None = "42"):  # type: ignore[no-untyped-def]
    mid = f"<MsgId>{msg_id}</MsgId>" if msg_id else ""
    return to_inbound(parse(f"<xml>{HEAD}<MsgType>{msg_type}</MsgType>{body}{mid}</xml>"), "default")


def test_text() -> None:
    msg = convert("<Content>你好</Content>", "text")
    assert (msg.type, msg.text, msg.external_id) == (MessageType.TEXT, "你好", "42")
    assert (msg.ref.channel, msg.ref.account, msg.ref.external_user_id) == ("wechat", "default", "oUser")
    assert msg.sent_at is not None and msg.sent_at.year == 2025


def test_image_is_an_attachment() -> None:
    msg = convert("<PicUrl>http://mmbiz/x.jpg</PicUrl><MediaId>m1</MediaId>", "image")
    assert msg.type is MessageType.IMAGE
    assert msg.attachments[0].url == "http://mmbiz/x.jpg" and msg.attachments[0].media_id == "m1"


def test_voice_with_and_without_recognition() -> None:
    heard = convert("<MediaId>v1</MediaId><Format>amr</Format><Recognition>投诉</Recognition>", "voice")
    assert (heard.type, heard.text, heard.attachments[0].mime_type) == (MessageType.VOICE, "投诉", "audio/amr")
    silent = convert("<MediaId>v1</MediaId><Format>amr</Format>", "voice")
    assert silent.text == "" and silent.attachments[0].media_id == "v1"


def test_video_location_link() -> None:
    assert convert("<MediaId>v</MediaId><ThumbMediaId>t</ThumbMediaId>", "shortvideo").type is MessageType.VIDEO
    loc = convert(
        "<Location_X>23.1</Location_X><Location_Y>113.3</Location_Y><Scale>15</Scale><Label>广州</Label>", "location"
    )
    assert loc.type is MessageType.LOCATION and loc.text == "位置: 广州 (23.1,113.3)" and loc.payload["x"] == "23.1"
    link = convert("<Title>T</Title><Description>D</Description><Url>http://u</Url>", "link")
    assert link.type is MessageType.LINK and link.payload["url"] == "http://u" and "T" in link.text


def test_events() -> None:
    sub = convert("<Event>subscribe</Event><EventKey></EventKey>", "event", None)
    assert sub.type is MessageType.EVENT and sub.payload == {"event": "subscribe"}
    assert sub.external_id == "oUser:1764381600:subscribe"
    scan = convert("<Event>subscribe</Event><EventKey>qrscene_7</EventKey>", "event", None)
    assert scan.payload == {"event": "subscribe", "scene": "7"}
    unsub = convert("<Event>unsubscribe</Event>", "event", None)
    assert unsub.payload == {"event": "unsubscribe"}
    for key, button in [("COMPLAINT", "cat:complaint"), ("INQUIRY", "cat:inquiry"), ("SUGGESTION", "cat:suggestion")]:
        click = convert(f"<Event>CLICK</Event><EventKey>{key}</EventKey>", "event", None)
        assert click.type is MessageType.EVENT and click.button_id == button
        assert click.external_id == "oUser:1764381600:CLICK"
    human = convert("<Event>CLICK</Event><EventKey>HUMAN</EventKey>", "event", None)
    assert human.text == "人工客服" and human.button_id is None
    view = convert("<Event>VIEW</Event><EventKey>http://x</EventKey>", "event", None)
    assert view.payload["event"] == "view" and not view.text and view.button_id is None


def test_unknown_type_keeps_the_raw_message() -> None:
    msg = convert("<Beam>x</Beam>", "hologram")
    assert msg.type is MessageType.UNKNOWN and msg.payload["raw"]["Beam"] == "x"


@pytest.mark.parametrize(
    "xml",
    [
        "",
        "not xml",
        "<xml/>",
        "<root><MsgType>text</MsgType></root>",
        f"<xml>{HEAD}</xml>",
        "<xml><ToUserName>gh</ToUserName><MsgType>text</MsgType></xml>",
        f"<xml>{HEAD.replace('oUser', 'o' * 65)}<MsgType>text</MsgType></xml>",
        f"<xml>{HEAD}<MsgType>text</MsgType><MsgId>{'9' * 40}</MsgId></xml>",
    ],
)
def test_unreadable_messages(xml: str) -> None:
    with pytest.raises(BadMessage):
        parse(xml)
