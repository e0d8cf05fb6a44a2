"""The shared conversation model that every channel adapter converts to and from."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class MessageType(enum.StrEnum):
    """Kinds of message a client can send; anything else is stored as UNKNOWN."""

    TEXT = "text"
    IMAGE = "image"
    VOICE = "voice"
    VIDEO = "video"
    FILE = "file"
    LOCATION = "location"
    LINK = "link"
    EVENT = "event"
    BUTTON = "button"
    CONTACT = "contact"
    UNKNOWN = "unknown"


class Direction(enum.StrEnum):
    """Whether a stored message came from the client or went to the client."""

    INBOUND = "in"
    OUTBOUND = "out"


@dataclass(frozen=True, slots=True)
class Button:
    """A choice offered to the client; `id` comes back when it is picked."""

    id: str
    label: str

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "label": self.label}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Button:
        return cls(id=str(data["id"]), label=str(data["label"]))


@dataclass(frozen=True, slots=True)
class Attachment:
    """A media item: where the channel keeps it and, once downloaded, where kefu keeps it."""

    kind: str
    url: str | None = None
    media_id: str | None = None
    local_path: str | None = None
    mime_type: str | None = None
    name: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in {
                "kind": self.kind,
                "url": self.url,
                "media_id": self.media_id,
                "local_path": self.local_path,
                "mime_type": self.mime_type,
                "name": self.name,
            }.items()
            if v is not None
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Attachment:
        return cls(
            kind=str(data["kind"]),
            url=data.get("url"),
            media_id=data.get("media_id"),
            local_path=data.get("local_path"),
            mime_type=data.get("mime_type"),
            name=data.get("name"),
        )


@dataclass(frozen=True, slots=True)
class ConversationRef:
    """Everything a channel needs to write to a client later, without an inbound message to answer."""

    channel: str
    external_user_id: str
    account: str = "default"
    external_chat_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "account": self.account,
            "external_user_id": self.external_user_id,
            "external_chat_id": self.external_chat_id,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConversationRef:
        return cls(
            channel=str(data["channel"]),
            account=str(data.get("account") or "default"),
            external_user_id=str(data["external_user_id"]),
            external_chat_id=data.get("external_chat_id"),
            extra=dict(data.get("extra") or {}),
        )


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message from a client, whatever channel it came through."""

    ref: ConversationRef
    external_id: str
    type: MessageType = MessageType.TEXT
    text: str = ""
    button_id: str | None = None
    attachments: tuple[Attachment, ...] = ()
    payload: dict[str, Any] = field(default_factory=dict)
    sent_at: datetime | None = None
    display_name: str | None = None
    language: str | None = None
    # The sender's e-mail address when the channel knows it: a first contact joins the client with that address.
    email: str | None = None

    @property
    def channel(self) -> str:
        return self.ref.channel

    @property
    def account(self) -> str:
        return self.ref.account


class MessageKind(enum.StrEnum):
    """What an outbound message is for, so a channel can pick a fitting form (e.g. a WeChat template)."""

    DEFAULT = "default"
    SATISFACTION = "satisfaction"
    RESOLUTION = "resolution"
    REP_REPLY = "rep_reply"


# Text keys (config/texts.*.yaml) whose messages have a kind of their own; every other key is DEFAULT.
KIND_OF_TEXT: dict[str, MessageKind] = {
    "feedback.ask": MessageKind.SATISFACTION,
    "feedback.ask_again": MessageKind.SATISFACTION,
    "feedback.welcome_ask": MessageKind.SATISFACTION,
    "feedback.ok_ask": MessageKind.SATISFACTION,
    "feedback.reminder": MessageKind.SATISFACTION,
    "ticket.resolved": MessageKind.RESOLUTION,
}


def kind_of_text(key: str) -> str:
    """The kind of a message rendered from text `key`."""
    return KIND_OF_TEXT.get(key, MessageKind.DEFAULT).value


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message to a client: text, optional choices and attachments, and what it is for (`kind`)."""

    text: str
    buttons: tuple[Button, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    kind: str = MessageKind.DEFAULT.value

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "text": self.text,
            "buttons": [b.to_json() for b in self.buttons],
            "attachments": [a.to_json() for a in self.attachments],
        }
        # Left out when default, so rows written before kinds existed and new ones read the same.
        if self.kind != MessageKind.DEFAULT:
            data["kind"] = self.kind
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OutboundMessage:
        return cls(
            text=str(data.get("text", "")),
            buttons=tuple(Button.from_json(b) for b in data.get("buttons", [])),
            attachments=tuple(Attachment.from_json(a) for a in data.get("attachments", [])),
            kind=str(data.get("kind") or MessageKind.DEFAULT.value),
        )
