"""Make client text storable everywhere: PostgreSQL rejects NUL characters and lone surrogates."""

from __future__ import annotations

import dataclasses
from typing import Any

from core.messages import InboundMessage


def clean_text(text: str) -> str:
    """Drop NUL and replace unpaired surrogates, which no UTF-8 database column accepts."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def clean_json(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return value


def clean_inbound(msg: InboundMessage) -> InboundMessage:
    """The same message with every client-controlled string made storable."""
    return dataclasses.replace(
        msg,
        ref=dataclasses.replace(
            msg.ref,
            external_user_id=clean_text(msg.ref.external_user_id),
            extra=clean_json(dict(msg.ref.extra)),
        ),
        external_id=clean_text(msg.external_id),
        text=clean_text(msg.text),
        button_id=clean_text(msg.button_id) if msg.button_id is not None else None,
        payload=clean_json(dict(msg.payload)),
        display_name=clean_text(msg.display_name) if msg.display_name is not None else None,
    )
