"""Media the client sends (image, voice, video), fetched by MediaId before WeChat drops them after 3 days."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from sqlalchemy import select
from wechatpy.exceptions import WeChatClientException

from core.db.models import Message
from core.db.session import Database
from core.messages import Attachment, Direction, InboundMessage

if TYPE_CHECKING:
    from bots.wechat.channel import WeChatChannel

log = logging.getLogger(__name__)

KINDS = frozenset({"image", "voice", "video"})
# media/get answers errors (and, for videos, a download link) as JSON instead of the file.
_JSON_TYPES = ("application/json", "text/plain")
_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "audio/amr": ".amr",
    "audio/speex": ".speex",
    "audio/mpeg": ".mp3",
    "video/mp4": ".mp4",
}


class MediaTooLarge(Exception):
    """The file is larger than the configured limit; nothing is kept."""


def media_file_stem(media_id: str) -> str:
    """The file name without extension: a hash, so ids never become paths."""
    return hashlib.sha256(media_id.encode("utf-8")).hexdigest()[:32]


def extension(content_type: str) -> str:
    return _EXTENSIONS.get(content_type, ".bin")


class MediaDownloader:
    """Downloads media/get into `media_dir` (size-limited), with the channel's shared token."""

    def __init__(self, channel: WeChatChannel, media_dir: Path, max_bytes: int) -> None:
        self.channel = channel
        self.media_dir = media_dir
        self.max_bytes = max_bytes

    async def download(self, media_id: str) -> tuple[Path, str]:
        """The local file of `media_id` and its Content-Type; fetched once, later calls find the file."""
        existing = self._existing(media_id)
        if existing is not None:
            return existing, _type_of(existing)
        return await self.channel.api(lambda token: self._fetch(media_id, token))

    async def fetch_message(self, db: Database, message: InboundMessage) -> None:
        """Download every attachment of a stored inbound message and record where each is kept."""
        for attachment in message.attachments:
            if attachment.kind not in KINDS or not attachment.media_id:
                continue
            try:
                path, content_type = await self.download(attachment.media_id)
            # One expired or oversized file must not keep the others from being saved.
            except Exception as exc:
                log.warning("wechat media %s not downloaded: %s", attachment.media_id, exc)
                continue
            await record_local_path(db, message, attachment, path, content_type)

    def _existing(self, media_id: str) -> Path | None:
        if not self.media_dir.is_dir():
            return None
        return next(iter(sorted(self.media_dir.glob(media_file_stem(media_id) + ".*"))), None)

    def _fetch(self, media_id: str, token: str) -> tuple[Path, str]:
        client = self.channel.client
        response = client._http.get(
            f"{client.API_BASE_URL}media/get",
            params={"access_token": token, "media_id": media_id},
            timeout=client.timeout,
            stream=True,
        )
        with response:
            response.raise_for_status()
            content_type = _content_type(response)
            if content_type in _JSON_TYPES:
                answer = _json(response)
                video_url = answer.get("video_url")
                if not isinstance(video_url, str) or not video_url:
                    code = answer.get("errcode")
                    errcode = int(code) if isinstance(code, int | str) and str(code).lstrip("-").isdigit() else None
                    raise WeChatClientException(errcode, answer.get("errmsg"), client=client, response=response)
                # Videos come as a link to the file rather than the file itself.
                with client._http.get(video_url, timeout=client.timeout, stream=True) as video:
                    video.raise_for_status()
                    return self._save(media_id, video), _content_type(video)
            return self._save(media_id, response), content_type

    def _save(self, media_id: str, response: requests.Response) -> Path:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise MediaTooLarge(f"{declared} bytes declared, limit {self.max_bytes}")
        self.media_dir.mkdir(parents=True, exist_ok=True)
        target = self.media_dir / (media_file_stem(media_id) + extension(_content_type(response)))
        # Written aside and renamed, so a reader never sees half a file and a failure leaves nothing.
        fd, partial = tempfile.mkstemp(dir=self.media_dir, suffix=".part")
        try:
            size = 0
            with os.fdopen(fd, "wb") as out:
                for chunk in response.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise MediaTooLarge(f"over {self.max_bytes} bytes")
                    out.write(chunk)
            os.replace(partial, target)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        return target


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


def _content_type(response: requests.Response) -> str:
    return response.headers.get("Content-Type", "").split(";")[0].strip().lower()


def _type_of(path: Path) -> str:
    return next((t for t, ext in _EXTENSIONS.items() if ext == path.suffix), "application/octet-stream")


def _json(response: requests.Response) -> dict[str, Any]:
    # Error answers are tiny; reading a bounded amount keeps a mislabelled file from filling memory.
    raw = response.raw.read(64 * 1024, decode_content=True)
    try:
        answer = json.loads(raw.decode("utf-8", "replace"))
    except ValueError:
        answer = None
    return answer if isinstance(answer, dict) else {"errcode": None, "errmsg": "unreadable media/get answer"}
