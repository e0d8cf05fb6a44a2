"""Photos, documents, voice notes and videos clients send, fetched with getFile into kefu's media store."""

from __future__ import annotations

import logging
import mimetypes
from pathlib import Path

from aiogram import Bot

from core.db.session import Database
from core.media import MediaStore, record_local_path, type_of
from core.messages import Attachment, InboundMessage

log = logging.getLogger(__name__)

KINDS = frozenset({"image", "file", "voice", "video"})
# Telegram re-encodes every photo as JPEG; documents keep the type the sender's app declared.
_DEFAULT_TYPES = {"image": "image/jpeg", "voice": "audio/ogg", "video": "video/mp4"}
CHUNK = 64 * 1024


def store_key(message: InboundMessage, attachment: Attachment) -> str:
    """file_unique_id is the same file whoever sends it again; file_id differs per bot and over time."""
    unique = message.payload.get("file_unique_id")
    return f"telegram:{unique}" if isinstance(unique, str) and unique else f"telegram:{attachment.media_id}"


def content_type_of(attachment: Attachment, file_path: str | None) -> str:
    if attachment.mime_type:
        return attachment.mime_type.lower()
    guessed = mimetypes.guess_type(attachment.name or file_path or "")[0]
    return guessed or _DEFAULT_TYPES.get(attachment.kind, "application/octet-stream")


class TelegramMedia:
    """getFile, then the file's download URL on the same API server, streamed into the store."""

    def __init__(self, bot: Bot, store: MediaStore, *, timeout: int = 60) -> None:
        self.bot = bot
        self.store = store
        self.timeout = timeout

    async def download(self, attachment: Attachment, key: str) -> tuple[Path, str]:
        """The local file of the attachment and its content type; fetched once, later calls find the file."""
        existing = self.store.existing(key)
        if existing is not None:
            return existing, type_of(existing)
        assert attachment.media_id is not None
        file = await self.bot.get_file(attachment.media_id)
        # The Bot API serves files up to 20 MB; a larger limit than ours is refused before downloading.
        self.store.check_declared(file.file_size)
        if not file.file_path:
            raise ValueError(f"getFile gave no file_path for {attachment.media_id}")
        content_type = content_type_of(attachment, file.file_path)
        url = self.bot.session.api.file_url(self.bot.token, file.file_path)
        with self.store.writer(key, content_type) as out:
            async for chunk in self.bot.session.stream_content(url, timeout=self.timeout, chunk_size=CHUNK):
                out.write(chunk)
        return out.target, content_type

    async def fetch_message(self, db: Database, message: InboundMessage) -> None:
        """Download every attachment of a stored inbound message and record where each is kept."""
        for attachment in message.attachments:
            if attachment.kind not in KINDS or not attachment.media_id:
                continue
            try:
                path, content_type = await self.download(attachment, store_key(message, attachment))
            # One expired or oversized file must not keep the others (or the turn) from being saved.
            except Exception as exc:
                log.warning("telegram file %s not downloaded: %s", attachment.media_id, exc)
                continue
            await record_local_path(db, message, attachment, path, content_type)


def has_media(message: InboundMessage) -> bool:
    return any(a.kind in KINDS and a.media_id for a in message.attachments)
