"""Telegram messages and callback queries to InboundMessage, without a network."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram.types import CallbackQuery, Message

from bots.telegram.convert import callback_to_inbound, command_of, language, message_to_inbound
from core.messages import MessageType

USER = {"id": 555, "is_bot": False, "first_name": "Ann", "last_name": "Lee", "language_code": "en-US"}
CHAT = {"id": 555, "type": "private", "first_name": "Ann"}


def message(**fields: Any) -> Message:
    return Message.model_validate({"message_id": 7, "date": 1_764_381_600, "chat": CHAT, "from": USER, **fields})


def test_text_message() -> None:
    msg = message_to_inbound(message(text="hello"), "42")
    assert msg is not None
    assert (msg.ref.channel, msg.ref.account, msg.ref.external_user_id, msg.ref.external_chat_id) == (
        "telegram",
        "42",
        "555",
        "555",
    )
    assert msg.external_id == "555:7"
    assert (msg.type, msg.text, msg.display_name, msg.language) == (MessageType.TEXT, "hello", "Ann Lee", "en")
    assert msg.sent_at is not None and msg.sent_at.timestamp() == 1_764_381_600


@pytest.mark.parametrize(
    ("code", "expected"), [("zh-hans", "zh"), ("zh", "zh"), ("en", "en"), ("en-GB", "en"), ("de", None), (None, None)]
)
def test_language(code: str | None, expected: str | None) -> None:
    msg = message_to_inbound(message(text="x", **{"from": {**USER, "language_code": code}}), "42")
    assert msg is not None and msg.language == expected
    assert language(None) is None


def test_commands() -> None:
    assert command_of("/start abc") == ("start", "abc")
    assert command_of("/Start@kefu_bot") == ("start", "")
    assert command_of("hello /start") is None
    assert command_of("/") is None
    start = message_to_inbound(message(text="/start campaign-7"), "42")
    assert start is not None and start.type is MessageType.EVENT
    assert start.payload == {"event": "subscribe", "command": "start", "start": "campaign-7"}
    helped = message_to_inbound(message(text="/help"), "42")
    assert helped is not None and helped.payload == {"event": "subscribe", "command": "help"}
    human = message_to_inbound(message(text="/human@kefu_bot"), "42")
    assert human is not None and (human.type, human.text) == (MessageType.TEXT, "/human")
    other = message_to_inbound(message(text="/other"), "42")
    assert other is not None and other.text == "/other"


def test_photo_keeps_the_largest_size_and_the_caption() -> None:
    sizes = [
        {"file_id": "small", "file_unique_id": "u1", "width": 90, "height": 60},
        {"file_id": "large", "file_unique_id": "u3", "width": 1280, "height": 853},
        {"file_id": "medium", "file_unique_id": "u2", "width": 320, "height": 213},
    ]
    msg = message_to_inbound(message(photo=sizes, caption="截图"), "42")
    assert msg is not None and msg.type is MessageType.IMAGE and msg.text == "截图"
    assert [(a.kind, a.media_id) for a in msg.attachments] == [("image", "large")]


def test_document() -> None:
    doc = {"file_id": "F1", "file_unique_id": "U1", "file_name": "报价单.pdf", "mime_type": "application/pdf"}
    msg = message_to_inbound(message(document=doc), "42")
    assert msg is not None and msg.type is MessageType.FILE
    [attachment] = msg.attachments
    assert (attachment.kind, attachment.media_id, attachment.name, attachment.mime_type) == (
        "file",
        "F1",
        "报价单.pdf",
        "application/pdf",
    )


def test_contact_text_is_the_phone_number() -> None:
    contact = {"phone_number": "+8613800138000", "first_name": "Ann", "last_name": "Lee", "user_id": 555}
    msg = message_to_inbound(message(contact=contact), "42")
    assert msg is not None and msg.type is MessageType.CONTACT
    assert msg.text == "+8613800138000"
    assert msg.payload == {"phone": "+8613800138000", "name": "Ann Lee", "user_id": 555}


def test_location_and_venue() -> None:
    msg = message_to_inbound(message(location={"latitude": 31.2304, "longitude": 121.4737}), "42")
    assert msg is not None and msg.type is MessageType.LOCATION
    assert msg.text == "📍 31.230400,121.473700"
    assert msg.payload["latitude"] == 31.2304
    venue = {
        "location": {"latitude": 31.2304, "longitude": 121.4737},
        "title": "外滩",
        "address": "中山东一路",
    }
    msg = message_to_inbound(message(location=venue["location"], venue=venue), "42")
    assert msg is not None and "外滩 中山东一路" in msg.text


def test_sticker_is_unknown_and_channel_posts_are_ignored() -> None:
    sticker = {
        "file_id": "S",
        "file_unique_id": "SU",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
    msg = message_to_inbound(message(sticker=sticker), "42")
    assert msg is not None and msg.type is MessageType.UNKNOWN
    post = Message.model_validate({"message_id": 1, "date": 1, "chat": {"id": -100, "type": "channel"}, "text": "news"})
    assert message_to_inbound(post, "42") is None


def test_long_names_fit_the_column() -> None:
    msg = message_to_inbound(
        message(text="x", **{"from": {**USER, "first_name": "名" * 64, "last_name": "姓" * 64}}), "42"
    )
    assert msg is not None and msg.display_name is not None and len(msg.display_name) == 128


def callback(data: str | None, keyboard: list[list[dict[str, Any]]] | None = None, **extra: Any) -> CallbackQuery:
    raw: dict[str, Any] = {"id": "cb-1", "from": USER, "chat_instance": "ci", **extra}
    if data is not None:
        raw["data"] = data
    if keyboard is not None:
        raw["message"] = {
            "message_id": 9,
            "date": 1,
            "chat": CHAT,
            "text": "…",
            "reply_markup": {"inline_keyboard": keyboard},
        }
    return CallbackQuery.model_validate(raw)


def test_callback_carries_button_id_and_label() -> None:
    keyboard = [[{"text": "投诉", "callback_data": "cat:complaint"}, {"text": "长", "callback_data": "~2"}]]
    msg = callback_to_inbound(callback("cat:complaint", keyboard), "42")
    assert msg is not None
    assert (msg.type, msg.button_id, msg.text, msg.external_id) == (
        MessageType.BUTTON,
        "cat:complaint",
        "投诉",
        "cb:cb-1",
    )
    assert msg.ref.external_chat_id == "555"
    # A button whose id was too long for callback data comes back as its label, with no id.
    long_id = callback_to_inbound(callback("~2", keyboard), "42")
    assert long_id is not None and (long_id.button_id, long_id.text) == (None, "长")


def test_callback_without_a_known_label_or_data() -> None:
    msg = callback_to_inbound(callback("cat:inquiry"), "42")
    assert msg is not None and (msg.button_id, msg.text) == ("cat:inquiry", "")
    assert callback_to_inbound(callback("~1"), "42") is None
    assert callback_to_inbound(callback(None, game_short_name="g"), "42") is None
