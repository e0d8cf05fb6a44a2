"""Canned replies from config/canned_replies.yaml, with {client_name} and {ticket_no} filled in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.texts import placeholders
from core.yaml_files import load_file

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
        return cls.from_mapping(load_file(path) or {}, default_language)

    @classmethod
    def from_mapping(cls, data: Any, default_language: str) -> CannedReplies:
        """Build from the document of config/canned_replies.yaml (or its saved version); ConfigError says why not."""
        if not isinstance(data, dict) or not isinstance(data.get("replies", []), list):
            raise ConfigError("canned replies: expected {replies: [{id, title, text}]}")
        replies: list[CannedReply] = []
        for i, item in enumerate(data.get("replies", []), 1):
            if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"].strip():
                raise ConfigError(f"canned reply {i} has no id")
            rid = item["id"].strip()
            if any(r.id == rid for r in replies):
                raise ConfigError(f"canned reply id {rid} is used twice")
            title, text = _by_language(item.get("title"), rid, "title"), _by_language(item.get("text"), rid, "text")
            for body in text.values():
                try:
                    used = placeholders(body)
                except ValueError as exc:
                    raise ConfigError(f"canned reply {rid} has a malformed placeholder: {exc}") from None
                if not used <= PLACEHOLDERS:
                    raise ConfigError(
                        f"canned reply {rid} uses unknown placeholders {sorted(used - PLACEHOLDERS)}"
                        f" (known: {', '.join(sorted(PLACEHOLDERS))})"
                    )
            if default_language not in text or default_language not in title:
                raise ConfigError(f"canned reply {rid} has no {default_language} text")
            replies.append(CannedReply(rid, title, text))
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


def _by_language(value: Any, rid: str, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigError(f"canned reply {rid}: {what} must map a language to a text")
    cleaned = {str(k): v.strip() for k, v in value.items() if v.strip()}
    if any(len(v) > 2000 for v in cleaned.values()):
        raise ConfigError(f"canned reply {rid}: {what} is longer than 2000 characters")
    return cleaned
