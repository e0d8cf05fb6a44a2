"""Photos and documents: fetched with getFile after the turn into the media store, recorded on the message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from core.db.models import Message
from core.media import media_file_stem
from handlers.services import Services
from tests.channels.telegram.conftest import TelegramClient
from tests.channels.telegram.fake_api import FakeBotAPI

JPEG = b"\xff\xd8\xff\xe0" + b"jpeg-bytes" * 100
PDF = b"%PDF-1.7\n" + b"0" * 500


def _read(path: str) -> bytes:
    return Path(path).read_bytes()


async def _attachments(services: Services) -> list[dict[str, Any]]:
    async with services.db.transaction() as session:
        rows = (await session.execute(select(Message).where(Message.direction == "in").order_by(Message.id))).scalars()
        return [a for row in rows for a in row.payload.get("attachments", [])]


def _photo(file_id: str, unique: str) -> dict[str, Any]:
    small = {"file_id": "thumb-" + file_id, "file_unique_id": "t" + unique, "width": 90, "height": 90}
    large = {"file_id": file_id, "file_unique_id": unique, "width": 1280, "height": 960, "file_size": len(JPEG)}
    return {"photo": [small, large], "caption": "投放后台截图"}


async def test_photo_and_document_are_downloaded_into_the_media_store(
    telegram: TelegramClient, fake_api: FakeBotAPI, services: Services
) -> None:
    fake_api.files["ph-1"] = (JPEG, "photos/file_1.jpg")
    fake_api.files["doc-1"] = (PDF, "documents/file_2.pdf")
    photo = telegram.message_update(**_photo("ph-1", "uq-ph"))
    await telegram.send(photo)
    document = {"file_id": "doc-1", "file_unique_id": "uq-doc", "file_name": "合同.pdf", "mime_type": "application/pdf"}
    await telegram.send(telegram.message_update(document=document, caption="合同"))

    image, doc = await _attachments(services)
    media_dir = services.settings.media_dir
    assert image["kind"] == "image" and image["media_id"] == "ph-1"
    assert image["local_path"] == str(media_dir / (media_file_stem("telegram:uq-ph") + ".jpg"))
    assert _read(image["local_path"]) == JPEG and image["mime_type"] == "image/jpeg"
    assert doc["name"] == "合同.pdf" and doc["mime_type"] == "application/pdf"
    assert doc["local_path"] == str(media_dir / (media_file_stem("telegram:uq-doc") + ".pdf"))
    assert _read(doc["local_path"]) == PDF
    assert [c.data["file_id"] for c in fake_api.of("getFile")] == ["ph-1", "doc-1"]
    assert [c.data["path"] for c in fake_api.of("download")] == ["photos/file_1.jpg", "documents/file_2.pdf"]
    # No half-written files are left beside them.
    assert sorted(p.suffix for p in media_dir.iterdir()) == [".jpg", ".pdf"]

    # Telegram redelivers the update: stored once, downloaded once.
    assert (await telegram.post(photo)).status_code == 200
    await telegram.webhook.drain()
    assert len(fake_api.of("getFile")) == 2


async def test_the_same_file_sent_again_is_not_downloaded_again(
    telegram: TelegramClient, fake_api: FakeBotAPI, services: Services
) -> None:
    fake_api.files["ph-1"] = (JPEG, "photos/file_1.jpg")
    fake_api.files["ph-2"] = (JPEG, "photos/file_1.jpg")
    await telegram.send(telegram.message_update(**_photo("ph-1", "same")))
    await telegram.send(telegram.message_update(**_photo("ph-2", "same")))
    first, second = await _attachments(services)
    assert first["local_path"] == second["local_path"]
    assert len(fake_api.of("download")) == 1


async def test_oversized_or_unknown_files_leave_nothing_and_the_turn_still_answers(
    telegram: TelegramClient, fake_api: FakeBotAPI, services: Services
) -> None:
    fake_api.files["huge"] = (b"x" * 1_000_001, "documents/huge.bin")
    big = {"file_id": "huge", "file_unique_id": "uq-huge", "file_name": "a.bin"}
    await telegram.send(telegram.message_update(document=big))
    gone = {"file_id": "expired", "file_unique_id": "uq-x", "file_name": "b.txt"}
    await telegram.send(telegram.message_update(document=gone))
    attachments = await _attachments(services)
    assert [a.get("local_path") for a in attachments] == [None, None]
    media_dir = services.settings.media_dir
    assert not media_dir.exists() or list(media_dir.iterdir()) == []
