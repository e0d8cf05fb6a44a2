"""WeChat XML and wechatpy message objects to kefu's InboundMessage, and text to a passive reply's XML."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from xml.parsers.expat import ExpatError

from wechatpy import parse_message

from bots.wechat.envelope import BadEnvelope
from bots.wechat.settings import CHANNEL
from core.messages import Attachment, ConversationRef, InboundMessage, MessageType

# Menu keys (config/wechat_menu.yaml) to the engine's category buttons.
MENU_BUTTONS = {
    "COMPLAINT": "cat:complaint",
    "INQUIRY": "cat:inquiry",
    "SUGGESTION": "cat:suggestion",
}
HUMAN_KEY = "HUMAN"
# The engine's handoff words include this one, so the menu's 人工客服 acts as typing it.
HUMAN_TEXT = "人工客服"
# XML 1.0 forbids these characters even inside CDATA; a reply containing one would not parse.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class BadMessage(BadEnvelope):
    """The body is not a WeChat message kefu can read (malformed, hostile or incomplete XML)."""


def parse(xml: str | bytes) -> Any:
    """Parse a pushed message with wechatpy; every way hostile or broken XML fails becomes BadMessage."""
    try:
        message = parse_message(xml)
    # xmltodict refuses DOCTYPE entities with ValueError (XXE, billion laughs); the rest are shapes
    # wechatpy does not check: no <xml> root, an empty one, or elements where text was expected.
    except (ValueError, ExpatError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise BadMessage(f"unreadable message: {type(exc).__name__}") from None
    if message is None:
        raise BadMessage("empty body")
    raw = message._data
    for key in ("FromUserName", "ToUserName", "MsgType"):
        if not _text(raw, key):
            raise BadMessage(f"{key} missing")
    # Ids become database keys of bounded width (openids are 28 characters, MsgIds 64-bit numbers).
    for key, limit in (("FromUserName", 64), ("MsgId", 32), ("MsgID", 32), ("CreateTime", 12), ("Event", 32)):
        if len(_text(raw, key)) > limit:
            raise BadMessage(f"{key} longer than {limit} characters")
    return message


def _text(raw: dict[str, Any], key: str) -> str:
    """A field's text; nested elements or attributes (never sent by WeChat) count as absent."""
    value = raw.get(key)
    return value if isinstance(value, str) else ""


def _sent_at(raw: dict[str, Any]) -> datetime | None:
    created = _text(raw, "CreateTime")
    if not created.isdigit() or len(created) > 12:
        return None
    return datetime.fromtimestamp(int(created), UTC)


def to_inbound(message: Any, account: str) -> InboundMessage:
    """One wechatpy message or event as an InboundMessage of the "wechat" channel."""
    raw: dict[str, Any] = dict(message._data)
    openid = _text(raw, "FromUserName")
    msg_type = _text(raw, "MsgType").lower()
    ref = ConversationRef(channel=CHANNEL, account=account, external_user_id=openid)
    msg_id = _text(raw, "MsgId") or _text(raw, "MsgID")
    # Events carry no MsgId; WeChat's own rule for recognising a retried event is sender + time + event.
    fallback_id = f"{openid}:{_text(raw, 'CreateTime')}:{_text(raw, 'Event') or msg_type}"
    base: dict[str, Any] = {"ref": ref, "external_id": msg_id or fallback_id, "sent_at": _sent_at(raw)}

    if msg_type == "text":
        return InboundMessage(**base, type=MessageType.TEXT, text=_text(raw, "Content"))
    if msg_type == "image":
        image = Attachment(kind="image", url=_text(raw, "PicUrl") or None, media_id=_text(raw, "MediaId") or None)
        return InboundMessage(**base, type=MessageType.IMAGE, attachments=(image,))
    if msg_type == "voice":
        voice = Attachment(
            kind="voice", media_id=_text(raw, "MediaId") or None, mime_type=_audio_mime(_text(raw, "Format"))
        )
        # WeChat's speech recognition, when enabled, is the closest thing to what the client said.
        return InboundMessage(**base, type=MessageType.VOICE, text=_text(raw, "Recognition"), attachments=(voice,))
    if msg_type in ("video", "shortvideo"):
        video = Attachment(kind="video", media_id=_text(raw, "MediaId") or None)
        payload = {"thumb_media_id": _text(raw, "ThumbMediaId")}
        return InboundMessage(**base, type=MessageType.VIDEO, attachments=(video,), payload=payload)
    if msg_type == "location":
        x, y, label = _text(raw, "Location_X"), _text(raw, "Location_Y"), _text(raw, "Label")
        payload = {"x": x, "y": y, "scale": _text(raw, "Scale"), "label": label}
        return InboundMessage(**base, type=MessageType.LOCATION, text=f"位置: {label} ({x},{y})", payload=payload)
    if msg_type == "link":
        title, url = _text(raw, "Title"), _text(raw, "Url")
        payload = {"title": title, "description": _text(raw, "Description"), "url": url}
        return InboundMessage(
            **base, type=MessageType.LINK, text="\n".join(p for p in (title, url) if p), payload=payload
        )
    if msg_type == "event":
        return _event(message, raw, base)
    return InboundMessage(**base, type=MessageType.UNKNOWN, payload={"raw": raw})


def _event(message: Any, raw: dict[str, Any], base: dict[str, Any]) -> InboundMessage:
    # wechatpy folds "subscribe with a QR scene" into subscribe_scan; for the dialogue both are a follow.
    event = str(getattr(message, "event", "") or _text(raw, "Event").lower())
    key = _text(raw, "EventKey")
    if event in ("subscribe", "subscribe_scan"):
        payload: dict[str, Any] = {"event": "subscribe"}
        if key:
            payload["scene"] = key
        return InboundMessage(**base, type=MessageType.EVENT, payload=payload)
    if event == "unsubscribe":
        return InboundMessage(**base, type=MessageType.EVENT, payload={"event": "unsubscribe"})
    if event == "click":
        payload = {"event": "click", "key": key}
        if key == HUMAN_KEY:
            return InboundMessage(**base, type=MessageType.EVENT, text=HUMAN_TEXT, payload=payload)
        button = MENU_BUTTONS.get(key)
        return InboundMessage(**base, type=MessageType.EVENT, button_id=button, payload=payload)
    # Other events (menu links, periodic location reports, scans) are recorded; the engine stays silent.
    return InboundMessage(**base, type=MessageType.EVENT, payload={"event": event or "unknown", "raw": raw})


def _audio_mime(fmt: str) -> str | None:
    return {"amr": "audio/amr", "speex": "audio/speex", "mp3": "audio/mpeg"}.get(fmt.lower()) if fmt else None


def cdata_safe(text: str) -> str:
    """Text that stays inside wechatpy's CDATA sections: "]]>" is split across two sections."""
    return _XML_ILLEGAL.sub("", text).replace("]]>", "]]]]><![CDATA[>")


# What wechatpy's TextReply renders (its fields in their order), written out: the reply costs one format, not
# wechatpy's field descriptors and converters.
_TEXT_REPLY = (
    "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[{content}]]></Content>\n"
    "<FromUserName><![CDATA[{source}]]></FromUserName>\n<ToUserName><![CDATA[{target}]]></ToUserName>\n"
    "<CreateTime>{time}</CreateTime>\n</xml>"
)


def passive_text_reply(message: Any, text: str, timestamp: int) -> str:
    """The XML of a passive text reply to `message` (what create_reply builds, with CDATA-safe fields)."""
    return _TEXT_REPLY.format(
        content=cdata_safe(text),
        source=cdata_safe(str(message.target)),
        target=cdata_safe(str(message.source)),
        time=int(timestamp),
    )
