"""Canned replies from config/canned_replies.yaml, with {client_name} and {ticket_no} filled in."""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError

PLACEHOLDERS = frozenset({"client_name", "ticket_no"})


@dataclass(frozen=True)
class CannedReply:
    """One reply: its id, a title and a text per language."""

    id: str
    title: dict[str, str]
    text: dict[str, str]


class CannedReplies:
    """The replies a rep can insert into the reply box; checked when loaded so a typo fails at start."""

    def __init__(self, replies: list[CannedReply], default_language: str) -> None:
        self.replies = replies
        self.default = default_language

    @classmethod
    def load(cls, path: Path, default_language: str) -> CannedReplies:
        if not path.exists():
            return cls([], default_language)
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        replies = []
        for item in data.get("replies", []):
            reply = CannedReply(str(item["id"]), dict(item["title"]), dict(item["text"]))
            for text in reply.text.values():
                used = {name for _, name, _, _ in string.Formatter().parse(text) if name}
                if not used <= PLACEHOLDERS:
                    raise ConfigError(
                        f"canned reply {reply.id} uses unknown placeholders {sorted(used - PLACEHOLDERS)}"
                    )
            if default_language not in reply.text or default_language not in reply.title:
                raise ConfigError(f"canned reply {reply.id} has no {default_language} text")
            replies.append(reply)
        return cls(replies, default_language)

    def render(self, language: str, *, client_name: str, ticket_no: str) -> list[dict[str, str]]:
        """Every reply in the client's language (else the default), placeholders filled."""
        shown = []
        for reply in self.replies:
            text = reply.text.get(language) or reply.text[self.default]
            title = reply.title.get(language) or reply.title[self.default]
            shown.append(
                {"id": reply.id, "title": title, "text": text.format(client_name=client_name, ticket_no=ticket_no)}
            )
        return shown
