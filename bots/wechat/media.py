"""Media the client sends (image, voice, video), fetched by MediaId before WeChat drops them after 3 days."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from wechatpy.exceptions import WeChatClientException

from core.db.session import Database
from core.media import MediaStore, MediaTooLarge, extension, media_file_stem, record_local_path, type_of
from core.messages import InboundMessage

if TYPE_CHECKING:
    from bots.wechat.api import WeChatApi

log = logging.getLogger(__name__)

KINDS = frozenset({"image", "voice", "video"})
# media/get answers errors (and, for videos, a download link) as JSON instead of the file.
_JSON_TYPES = ("application/json", "text/plain")
# Names the WeChat tests and adapters import from here; they live in kefu's shared media store.
__all__ = ["KINDS", "MediaDownloader", "MediaTooLarge", "extension", "media_file_stem", "record_local_path"]


class MediaDownloader:
    """Downloads media/get into `media_dir` (size-limited), through the account's API and its shared token."""

    def __init__(self, api: WeChatApi, media_dir: Path, max_bytes: int) -> None:
        self.api = api
        self.media_dir = media_dir
        self.max_bytes = max_bytes
        self.store = MediaStore(media_dir, max_bytes)

    async def download(self, media_id: str) -> tuple[Path, str]:
        """The local file of `media_id` and its Content-Type; fetched once, later calls find the file."""
        existing = self.store.existing(media_id)
        if existing is not None:
            return existing, type_of(existing)
        return await self.api(lambda token: self._fetch(media_id, token))

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

    def _fetch(self, media_id: str, token: str) -> tuple[Path, str]:
        response = self.api.stream("media/get", {"access_token": token, "media_id": media_id})
        with response:
            response.raise_for_status()
            content_type = _content_type(response)
            if content_type in _JSON_TYPES:
                answer = _json(response)
                video_url = answer.get("video_url")
                if not isinstance(video_url, str) or not video_url:
                    code = answer.get("errcode")
                    errcode = int(code) if isinstance(code, int | str) and str(code).lstrip("-").isdigit() else None
                    raise WeChatClientException(
                        errcode, answer.get("errmsg"), client=self.api.client, response=response
                    )
                # Videos come as a link to the file rather than the file itself.
                with self.api.stream(video_url) as video:
                    video.raise_for_status()
                    return self._save(media_id, video), _content_type(video)
            return self._save(media_id, response), content_type

    def _save(self, media_id: str, response: requests.Response) -> Path:
        self.store.check_declared(response.headers.get("Content-Length"))
        with self.store.writer(media_id, _content_type(response)) as out:
            for chunk in response.iter_content(64 * 1024):
                out.write(chunk)
        return out.target


def _content_type(response: requests.Response) -> str:
    return response.headers.get("Content-Type", "").split(";")[0].strip().lower()


def _json(response: requests.Response) -> dict[str, Any]:
    # Error answers are tiny; reading a bounded amount keeps a mislabelled file from filling memory.
    raw = response.raw.read(64 * 1024, decode_content=True)
    try:
        answer = json.loads(raw.decode("utf-8", "replace"))
    except ValueError:
        answer = None
    return answer if isinstance(answer, dict) else {"errcode": None, "errmsg": "unreadable media/get answer"}
