"""Telegram updates (messages, callback queries) to kefu's InboundMessage."""

from __future__ import annotations

from typing import Any

from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, User

from bots.telegram.settings import CHANNEL
from core.messages import Attachment, ConversationRef, InboundMessage, MessageType

# Callback data of a button whose id is longer than Telegram's 64 bytes: the pressed button's label
# is sent as text instead, which the engine matches against the buttons it is waiting for.
LABEL_ONLY_PREFIX = "~"
# The engine's handoff words include it (config/kefu.yaml), in every state that accepts a handoff.
HUMAN_TEXT = "/human"
# Client names are stored in 128-character columns; Telegram allows 64 + 64 plus a space.
MAX_NAME = 128


def language(user: User | None) -> str | None:
    """The kefu language of Telegram's IETF tag: "zh-hans" → "zh", "en-US" → "en", anything else None."""
    code = (user.language_code or "").lower() if user else ""
    for lang in ("zh", "en"):
        if code == lang or code.startswith(lang + "-") or code.startswith(lang + "_"):
            return lang
    return None


def display_name(user: User | None) -> str | None:
    if user is None:
        return None
    name = user.full_name.strip() or (user.username or "")
    return name[:MAX_NAME] or None


def ref_for(account: str, user: User, chat_id: int) -> ConversationRef:
    return ConversationRef(
        channel=CHANNEL, account=account, external_user_id=str(user.id), external_chat_id=str(chat_id)
    )


def command_of(text: str) -> tuple[str, str] | None:
    """("start", "payload") for "/start payload" or "/start@kefu_bot payload"; None for other text."""
    if not text.startswith("/"):
        return None
    head, _, args = text.partition(" ")
    name = head[1:].split("@", 1)[0].lower()
    if not name:
        return None
    return name, args.strip()


def message_to_inbound(message: Message, account: str) -> InboundMessage | None:
    """One client message as an InboundMessage; None for what carries no client (channel posts)."""
    user = message.from_user
    if user is None:
        return None
    base: dict[str, Any] = {
        "ref": ref_for(account, user, message.chat.id),
        # update_id is per bot and restarts when a webhook is replaced; (chat, message id) is the
        # message's own identity, and the account (bot id) scopes it in the engine's unique constraint.
        "external_id": f"{message.chat.id}:{message.message_id}",
        "sent_at": message.date,
        "display_name": display_name(user),
        "language": language(user),
    }
    caption = message.caption or ""

    if message.text is not None:
        command = command_of(message.text)
        if command is not None and command[0] in ("start", "help"):
            # Like a WeChat follow: the engine greets with the category buttons, which is the help a client
            # needs before an issue starts. Mid-form the engine takes it as an empty answer ("this item is
            # required"); re-asking the pending question there needs a help event in core.
            payload: dict[str, Any] = {"event": "subscribe", "command": command[0]}
            if command[0] == "start" and command[1]:
                payload["start"] = command[1]
            return InboundMessage(**base, type=MessageType.EVENT, payload=payload)
        if command is not None and command[0] == "human":
            return InboundMessage(**base, type=MessageType.TEXT, text=HUMAN_TEXT, payload={"command": "human"})
        return InboundMessage(**base, type=MessageType.TEXT, text=message.text)
    if message.photo:
        # Telegram sends every size it made; the largest is the evidence worth keeping.
        largest = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        image = Attachment(kind="image", media_id=largest.file_id)
        return InboundMessage(
            **base, type=MessageType.IMAGE, text=caption, attachments=(image,), payload=_file(largest.file_unique_id)
        )
    if message.document is not None:
        doc = message.document
        attachment = Attachment(kind="file", media_id=doc.file_id, name=doc.file_name, mime_type=doc.mime_type)
        return InboundMessage(
            **base, type=MessageType.FILE, text=caption, attachments=(attachment,), payload=_file(doc.file_unique_id)
        )
    if message.voice is not None:
        voice = Attachment(kind="voice", media_id=message.voice.file_id, mime_type=message.voice.mime_type)
        return InboundMessage(**base, type=MessageType.VOICE, text=caption, attachments=(voice,))
    if message.video is not None:
        video = Attachment(kind="video", media_id=message.video.file_id, mime_type=message.video.mime_type)
        return InboundMessage(**base, type=MessageType.VIDEO, text=caption, attachments=(video,))
    if message.contact is not None:
        contact = message.contact
        # The number alone is the text, so it answers a phone question as if the client typed it.
        return InboundMessage(
            **base,
            type=MessageType.CONTACT,
            text=contact.phone_number,
            payload={
                "phone": contact.phone_number,
                "name": " ".join(p for p in (contact.first_name, contact.last_name) if p),
                "user_id": contact.user_id,
            },
        )
    if message.location is not None:
        lat, lon = message.location.latitude, message.location.longitude
        label = ""
        if message.venue is not None:
            label = " ".join(p for p in (message.venue.title, message.venue.address) if p)
        payload = {"latitude": lat, "longitude": lon, "label": label}
        text = f"📍 {label} ({lat:.6f},{lon:.6f})" if label else f"📍 {lat:.6f},{lon:.6f}"
        return InboundMessage(**base, type=MessageType.LOCATION, text=text, payload=payload)
    # Stickers, polls, dice…: stored, and the engine answers that it cannot read them.
    return InboundMessage(
        **base, type=MessageType.UNKNOWN, text=caption, payload={"content_type": message.content_type}
    )


def _file(unique_id: str) -> dict[str, Any]:
    return {"file_unique_id": unique_id}


def button_label(markup: InlineKeyboardMarkup | None, data: str) -> str | None:
    """The label of the inline button that carries `data`, if the message still shows it."""
    if markup is None:
        return None
    for row in markup.inline_keyboard:
        for button in row:
            if button.callback_data == data:
                return button.text
    return None


def callback_to_inbound(callback: CallbackQuery, account: str) -> InboundMessage | None:
    """A tapped inline button as a button message: its id in button_id, its label (when known) as text.

    None when there is nothing to act on (a game button, or a long-id button whose label is gone).
    """
    data = callback.data or ""
    if not data:
        return None
    message = callback.message
    # A callback without a message comes from inline mode, which kefu does not use; the private chat's id is
    # the user's id, so replies still reach the client.
    chat_id = message.chat.id if message is not None else callback.from_user.id
    markup = message.reply_markup if isinstance(message, Message) else None
    label = button_label(markup, data)
    base: dict[str, Any] = {
        "ref": ref_for(account, callback.from_user, chat_id),
        # Each tap is its own callback query with an id Telegram repeats when it redelivers the update.
        "external_id": f"cb:{callback.id}",
        "display_name": display_name(callback.from_user),
        "language": language(callback.from_user),
        "payload": {"callback_data": data},
    }
    if data.startswith(LABEL_ONLY_PREFIX):
        return InboundMessage(**base, type=MessageType.BUTTON, text=label) if label else None
    return InboundMessage(**base, type=MessageType.BUTTON, text=label or "", button_id=data)
