"""Media by MediaId: downloaded after the turn into the media directory, size-limited, recorded on the message."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bots.wechat.channel import WeChatChannel
from bots.wechat.media import MediaDownloader, MediaTooLarge, media_file_stem
from core.channel import PermanentSendError
from core.db.models import Message
from handlers.services import Services
from tests.channels.wechat.conftest import WeChatFactory, WeChatServer, make_account
from tests.channels.wechat.fake_api import FakeWeChatAPI

JPEG = b"\xff\xd8\xff\xe0" + b"jpeg-bytes" * 100


def _read(path: str) -> bytes:
    return Path(path).read_bytes()


async def _stored_attachments(services: Services) -> list[dict[str, str]]:
    async with services.db.transaction() as session:
        row = (await session.execute(select(Message).where(Message.direction == "in"))).scalar_one()
        return list(row.payload["attachments"])


async def test_image_is_downloaded_after_the_passive_reply_and_recorded(
    make_wechat: WeChatFactory, fake_api: FakeWeChatAPI, services: Services
) -> None:
    wechat = await make_wechat(passive_budget_seconds=2)
    fake_api.media["img-1"] = (JPEG, "image/jpeg")
    xml = wechat.xml("image", {"PicUrl": "http://mmbiz/x.jpg", "MediaId": "img-1"}, msg_id=wechat.next_id())
    reply = wechat.reply_text(await wechat.post(xml))
    assert reply is not None, "the download must not cost the passive reply"
    await wechat.webhook.drain()
    path = services.settings.media_dir / (media_file_stem("img-1") + ".jpg")
    assert path.read_bytes() == JPEG
    [attachment] = await _stored_attachments(services)
    assert attachment["local_path"] == str(path) and attachment["mime_type"] == "image/jpeg"
    assert attachment["media_id"] == "img-1"
    # WeChat's retry of the same MsgId downloads nothing again.
    await wechat.post(xml)
    await wechat.webhook.drain()
    assert len(fake_api.media_calls()) == 1


async def test_voice_of_a_slow_turn_is_downloaded_too(
    make_wechat: WeChatFactory, fake_api: FakeWeChatAPI, services: Services
) -> None:
    wechat = await make_wechat(passive_budget_seconds=0.0001)
    fake_api.media["v-1"] = (b"#!AMR\n" + b"\x00" * 50, "audio/amr")
    xml = wechat.xml("voice", {"MediaId": "v-1", "Format": "amr", "Recognition": "你好"}, msg_id=wechat.next_id())
    assert wechat.reply_text(await wechat.post(xml)) is None
    await wechat.webhook.drain()
    [attachment] = await _stored_attachments(services)
    assert attachment["local_path"] == str(services.settings.media_dir / (media_file_stem("v-1") + ".amr"))
    assert _read(attachment["local_path"]).startswith(b"#!AMR")


@pytest.fixture
def downloader(fake_api: FakeWeChatAPI, tmp_path: Path) -> MediaDownloader:
    channel = WeChatChannel(make_account(fake_api, media_max_bytes=1000), media_dir=tmp_path / "media")
    assert channel.media is not None
    return channel.media


async def test_video_comes_through_its_link(
    downloader: MediaDownloader, fake_api: FakeWeChatAPI, tmp_path: Path
) -> None:
    fake_api.videos["vid-1"] = b"mp4-bytes"
    path, content_type = await downloader.download("vid-1")
    assert path.read_bytes() == b"mp4-bytes" and path.suffix == ".mp4" and content_type == "video/mp4"


async def test_oversized_media_leaves_no_file(downloader: MediaDownloader, fake_api: FakeWeChatAPI) -> None:
    fake_api.media["big"] = (b"x" * 5000, "image/png")
    with pytest.raises(MediaTooLarge):
        await downloader.download("big")
    assert not downloader.media_dir.exists() or list(downloader.media_dir.iterdir()) == []


async def test_rejected_token_is_refreshed_for_media(downloader: MediaDownloader, fake_api: FakeWeChatAPI) -> None:
    fake_api.media["img"] = (b"png", "image/png")
    await downloader.api.tokens.get()
    fake_api.revoke_token()
    path, _ = await downloader.download("img")
    assert path.read_bytes() == b"png"
    assert len(fake_api.token_calls()) == 2 and len(fake_api.media_calls()) == 2


async def test_unknown_media_id_is_permanent(downloader: MediaDownloader) -> None:
    with pytest.raises(PermanentSendError):
        await downloader.download("expired-after-3-days")
    assert not downloader.media_dir.exists() or list(downloader.media_dir.iterdir()) == []


async def test_failed_download_keeps_the_message_as_it_was(
    wechat: WeChatServer, fake_api: FakeWeChatAPI, services: Services
) -> None:
    xml = wechat.xml("image", {"PicUrl": "http://mmbiz/x.jpg", "MediaId": "gone"}, msg_id=wechat.next_id())
    await wechat.post(xml)
    await wechat.webhook.drain()
    [attachment] = await _stored_attachments(services)
    assert "local_path" not in attachment
