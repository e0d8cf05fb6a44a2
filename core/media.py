"""kefu's media store: files clients sent, kept under settings.media_dir and recorded on their message."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import select

from core.db.models import Message
from core.db.session import Database
from core.messages import Attachment, Direction, InboundMessage

EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "audio/amr": ".amr",
    "audio/speex": ".speex",
    "audio/mpeg": ".mp3",
    "audio/ogg": ".ogg",
    "video/mp4": ".mp4",
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "text/plain": ".txt",
    "text/csv": ".csv",
    "application/msword": ".doc",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
}


class MediaTooLarge(Exception):
    """The file is larger than the configured limit; nothing is kept."""


def media_file_stem(media_id: str) -> str:
    """The file name without extension: a hash, so ids never become paths."""
    return hashlib.sha256(media_id.encode("utf-8")).hexdigest()[:32]


def extension(content_type: str) -> str:
    return EXTENSIONS.get(content_type, ".bin")


def type_of(path: Path) -> str:
    """The content type a stored file was saved as (its extension), else application/octet-stream."""
    return next((t for t, ext in EXTENSIONS.items() if ext == path.suffix), "application/octet-stream")


class MediaStore:
    """One folder of downloaded media, named by a hash of the channel's media key, size-limited."""

    def __init__(self, media_dir: Path, max_bytes: int) -> None:
        self.media_dir = media_dir
        self.max_bytes = max_bytes

    def existing(self, key: str) -> Path | None:
        """The file already kept for `key` (a retried message, a second download), if any."""
        if not self.media_dir.is_dir():
            return None
        return next(iter(sorted(self.media_dir.glob(media_file_stem(key) + ".*"))), None)

    def check_declared(self, declared: str | int | None) -> None:
        """Refuse before downloading when the network already says the file is too large."""
        if declared is not None and str(declared).isdigit() and int(declared) > self.max_bytes:
            raise MediaTooLarge(f"{declared} bytes declared, limit {self.max_bytes}")

    def writer(self, key: str, content_type: str) -> MediaWriter:
        return MediaWriter(self, self.media_dir / (media_file_stem(key) + extension(content_type)))


class MediaWriter:
    """Writes one file aside and renames it on success, so a reader never sees half a file and a failure leaves none."""

    def __init__(self, store: MediaStore, target: Path) -> None:
        self.store = store
        self.target = target
        self.size = 0
        self._fd: int | None = None
        self._partial: Path | None = None

    def __enter__(self) -> MediaWriter:
        self.store.media_dir.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=self.store.media_dir, suffix=".part")
        self._fd, self._partial = fd, Path(partial)
        return self

    def write(self, chunk: bytes) -> None:
        assert self._fd is not None
        self.size += len(chunk)
        if self.size > self.store.max_bytes:
            raise MediaTooLarge(f"over {self.store.max_bytes} bytes")
        os.write(self._fd, chunk)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        assert self._fd is not None and self._partial is not None
        os.close(self._fd)
        if kind is None:
            os.replace(self._partial, self.target)
        else:
            self._partial.unlink(missing_ok=True)


async def record_local_path(
    db: Database, message: InboundMessage, attachment: Attachment, path: Path, content_type: str
) -> None:
    """Write the local path (and type, if unknown) into the stored message's attachment."""
    async with db.transaction() as session:
        row = (
            await session.execute(
                select(Message).where(
                    Message.channel == message.ref.channel,
                    Message.account == message.ref.account,
                    Message.external_id == message.external_id,
                    Message.direction == Direction.INBOUND.value,
                )
            )
        ).scalar_one_or_none()
        if row is None:
            return
        payload = dict(row.payload or {})
        attachments: list[dict[str, Any]] = []
        for item in payload.get("attachments", []):
            item = dict(item)
            if item.get("media_id") == attachment.media_id:
                item["local_path"] = str(path)
                item.setdefault("mime_type", content_type)
            attachments.append(item)
        payload["attachments"] = attachments
        # A new dict, so the JSON column is seen as changed.
        row.payload = payload
