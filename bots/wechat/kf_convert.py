"""WeCom kf `sync_msg` items to kefu's InboundMessage."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from bots.wechat.kf_settings import CHANNEL
from core.messages import Attachment, ConversationRef, InboundMessage, MessageType

log = logging.getLogger(__name__)

# sync_msg's `origin`: 3 the WeChat client wrote, 4 a system event, 5 a servicer wrote in the WeCom app.
ORIGIN_CLIENT = 3
ORIGIN_EVENT = 4
ORIGIN_SERVICER = 5
MEDIA_TYPES = {
    "image": MessageType.IMAGE,
    "voice": MessageType.VOICE,
    "video": MessageType.VIDEO,
    "file": MessageType.FILE,
}
# Database column widths (ChannelIdentity / Message): longer ids would fail the insert, not the pull.
MAX_ACCOUNT = 64
MAX_ID = 128


def _str(data: Any, key: str) -> str:
    value = data.get(key) if isinstance(data, dict) else None
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""


def _section(item: dict[str, Any], key: str) -> dict[str, Any]:
    value = item.get(key)
    return value if isinstance(value, dict) else {}


def _sent_at(item: dict[str, Any]) -> datetime | None:
    sent = item.get("send_time")
    if not isinstance(sent, int) or isinstance(sent, bool) or not 0 <= sent < 10**11:
        return None
    return datetime.fromtimestamp(sent, UTC)


def to_inbound(item: Any) -> InboundMessage | None:
    """One sync_msg item as an InboundMessage of the "wecom" channel, or None when kefu should not see it.

    Client messages (origin 3) are all kept: types kefu does not read (mini programs, business cards,
    channel videos...) become UNKNOWN, so they are stored and the client is told politely.
    Servicer messages (origin 5) are skipped: a rep wrote them in the WeCom app, they are not the
    client's words and must not drive the dialogue. System events (origin 4) are skipped except
    enter_session, the client opening the chat, which the engine greets like a follow.
    """
    if not isinstance(item, dict):
        return None
    origin = item.get("origin")
    msg_type = _str(item, "msgtype")
    msgid = _str(item, "msgid")
    if origin == ORIGIN_EVENT and msg_type == "event":
        return _event(item, msgid)
    if origin != ORIGIN_CLIENT:
        log.debug("wecom kf item %s of origin %r skipped", msgid, origin)
        return None
    base = _base(item, msgid, _str(item, "open_kfid"), _str(item, "external_userid"))
    if base is None:
        return None

    if msg_type == "text":
        text = _section(item, "text")
        payload = {"menu_id": _str(text, "menu_id")} if _str(text, "menu_id") else {}
        return InboundMessage(**base, type=MessageType.TEXT, text=_str(text, "content"), payload=payload)
    if msg_type in MEDIA_TYPES:
        media = Attachment(kind=msg_type, media_id=_str(_section(item, msg_type), "media_id") or None)
        return InboundMessage(**base, type=MEDIA_TYPES[msg_type], attachments=(media,))
    if msg_type == "location":
        loc = _section(item, "location")
        lat, lng, name, address = (_str(loc, k) for k in ("latitude", "longitude", "name", "address"))
        payload = {"latitude": lat, "longitude": lng, "name": name, "address": address}
        label = name or address
        return InboundMessage(**base, type=MessageType.LOCATION, text=f"位置: {label} ({lat},{lng})", payload=payload)
    if msg_type == "link":
        link = _section(item, "link")
        title, url = _str(link, "title"), _str(link, "url")
        payload = {"title": title, "description": _str(link, "desc"), "url": url, "pic_url": _str(link, "pic_url")}
        return InboundMessage(
            **base, type=MessageType.LINK, text="\n".join(p for p in (title, url) if p), payload=payload
        )
    return InboundMessage(**base, type=MessageType.UNKNOWN, payload={"msgtype": msg_type})


def _event(item: dict[str, Any], msgid: str) -> InboundMessage | None:
    event = _section(item, "event")
    event_type = _str(event, "event_type")
    if event_type != "enter_session":
        # Send failures, servicer and session status changes, recalls: about the kf desk, not the client's turn.
        log.debug("wecom kf event %s (%s) skipped", msgid, event_type)
        return None
    # Events carry the ids inside `event`; the top level has them only sometimes.
    kfid = _str(event, "open_kfid") or _str(item, "open_kfid")
    user = _str(event, "external_userid") or _str(item, "external_userid")
    base = _base(item, msgid, kfid, user)
    if base is None:
        return None
    payload: dict[str, Any] = {"event": "subscribe"}
    for key in ("scene", "scene_param"):
        if _str(event, key):
            payload[key] = _str(event, key)
    return InboundMessage(**base, type=MessageType.EVENT, payload=payload)


# session_status_change's change_type: 1 taken from the pool, 2 transferred, 3 ended, 4 taken up again.
SESSION_ENDED = 3


def session_change(item: Any) -> tuple[ConversationRef, bool] | None:
    """A session_status_change event as (the client's ref, ended?), or None for any other item."""
    if not isinstance(item, dict) or item.get("origin") != ORIGIN_EVENT:
        return None
    event = _section(item, "event")
    if _str(event, "event_type") != "session_status_change":
        return None
    base = _base(item, _str(item, "msgid"), _str(event, "open_kfid"), _str(event, "external_userid"))
    if base is None:
        return None
    return base["ref"], event.get("change_type") == SESSION_ENDED


def servicer_text(item: Any) -> tuple[ConversationRef, str, str, str] | None:
    """A 接待人员's text written in WeCom's own client (origin 5): (ref, text, msgid, servicer userid)."""
    if not isinstance(item, dict) or item.get("origin") != ORIGIN_SERVICER or _str(item, "msgtype") != "text":
        return None
    msgid = _str(item, "msgid")
    base = _base(item, msgid, _str(item, "open_kfid"), _str(item, "external_userid"))
    text = _str(_section(item, "text"), "content")
    if base is None or not text:
        return None
    return base["ref"], text, msgid, _str(item, "servicer_userid")


def _base(item: dict[str, Any], msgid: str, kfid: str, user: str) -> dict[str, Any] | None:
    if not (msgid and kfid and user) or len(kfid) > MAX_ACCOUNT or len(user) > MAX_ID or len(msgid) > MAX_ID:
        log.warning("wecom kf item without usable ids skipped (msgid %r)", msgid[:MAX_ID])
        return None
    ref = ConversationRef(channel=CHANNEL, account=kfid, external_user_id=user)
    return {"ref": ref, "external_id": msgid, "sent_at": _sent_at(item)}
