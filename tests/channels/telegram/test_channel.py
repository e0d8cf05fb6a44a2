"""TelegramChannel against a real HTTP fake of the Bot API: keyboards, splitting, errors through the outbox."""

from __future__ import annotations

import gc
import weakref
from datetime import timedelta

import pytest
from aiogram import Bot
from aiogram.methods.base import Response
from aiogram.types import Message
from sqlalchemy import select

from bots.telegram.channel import MAX_TEXT, TelegramChannel, keyboard
from bots.telegram.poll import set_webhook
from bots.telegram.ratelimit import RateLimiter
from bots.telegram.settings import TelegramSettings, default_bot
from core.channel import PermanentSendError, RecipientGone, TransientSendError
from core.clock import ManualClock, as_utc
from core.db.models import ChannelIdentity
from core.errors import ConfigError
from core.messages import Button, ConversationRef, OutboundMessage
from handlers.services import Services
from tests.channels.telegram.conftest import SECRET, TelegramClient, manual_sleep
from tests.channels.telegram.fake_api import FakeBotAPI

REF = ConversationRef(channel="telegram", account="42", external_user_id="777", external_chat_id="777")


@pytest.fixture
def channel(bot: Bot) -> TelegramChannel:
    clock = ManualClock()
    return TelegramChannel(bot, RateLimiter(clock), sleep=manual_sleep(clock))


async def test_the_model_of_the_bot_api_s_answer_is_built_once_and_outlives_garbage_collections(
    channel: TelegramChannel, fake_api: FakeBotAPI
) -> None:
    assert (await channel.send(REF, OutboundMessage("你好"))).external_id == "1"
    # aiogram parametrizes it per call; weakly kept, a collection would free it and the next answer rebuild it.
    answer = weakref.ref(Response[Message])
    gc.collect()
    assert answer() is not None
    assert (await channel.send(REF, OutboundMessage("再见"))).external_id == "2"
    assert Response[Message] is answer()


async def test_send_posts_plain_text_with_an_inline_keyboard(channel: TelegramChannel, fake_api: FakeBotAPI) -> None:
    buttons = (Button("confirm:yes", "确认提交"), Button("confirm:edit", "修改"), Button("confirm:cancel", "取消"))
    result = await channel.send(REF, OutboundMessage("请确认 <b>*信息*</b>", buttons))
    assert result.external_id == "1"
    call = fake_api.sends()[0]
    assert call.data["chat_id"] == "777"
    assert call.data["text"] == "请确认 <b>*信息*</b>"
    assert "parse_mode" not in call.data
    assert call.data["reply_markup"]["inline_keyboard"] == [
        [{"text": "确认提交", "callback_data": "confirm:yes"}, {"text": "修改", "callback_data": "confirm:edit"}],
        [{"text": "取消", "callback_data": "confirm:cancel"}],
    ]


def test_long_labels_get_a_row_each_and_long_ids_fall_back_to_labels() -> None:
    markup = keyboard((Button("a", "一个相当长的按钮标签，放不下两个"), Button("x" * 65, "长")))
    assert markup is not None
    rows = [[(b.text, b.callback_data) for b in row] for row in markup.inline_keyboard]
    assert rows == [[("一个相当长的按钮标签，放不下两个", "a")], [("长", "~2")]]
    # 64 bytes is the limit in UTF-8, not in characters.
    markup = keyboard((Button("选" * 22, "x"),))
    assert markup is not None and markup.inline_keyboard[0][0].callback_data == "~1"
    assert keyboard(()) is None


async def test_long_text_is_split_with_the_keyboard_on_the_last_piece(
    channel: TelegramChannel, fake_api: FakeBotAPI
) -> None:
    text = "\n".join(["这是一句比较长的话，用来测试拆分。"] * 600)
    await channel.send(REF, OutboundMessage(text, (Button("b", "好"),)))
    sends = fake_api.sends()
    assert len(sends) > 1 and all(len(c.data["text"]) <= MAX_TEXT for c in sends)
    assert "".join(c.data["text"] for c in sends) == text
    assert [("reply_markup" in c.data) for c in sends] == [False] * (len(sends) - 1) + [True]


@pytest.mark.parametrize(
    ("failure", "error"),
    [(429, TransientSendError), (502, TransientSendError), (403, RecipientGone), (400, PermanentSendError)],
)
async def test_api_errors_map_to_the_outbox_vocabulary(
    channel: TelegramChannel, fake_api: FakeBotAPI, failure: int, error: type[Exception]
) -> None:
    fake_api.failures.append(failure)
    with pytest.raises(error) as caught:
        await channel.send(REF, OutboundMessage("x"))
    if failure == 429:
        assert isinstance(caught.value, TransientSendError) and caught.value.retry_after == fake_api.retry_after
    if failure == 400:
        assert not isinstance(caught.value, RecipientGone)


async def test_unreachable_api_is_transient(fake_api: FakeBotAPI) -> None:
    settings = TelegramSettings(token="42:TEST", api_base="http://127.0.0.1:9", api_timeout_seconds=1)
    bot = settings.bot()
    try:
        with pytest.raises(TransientSendError):
            await TelegramChannel(bot).send(REF, OutboundMessage("x"))
    finally:
        await bot.session.close()


async def test_a_busy_chat_goes_back_to_the_outbox_instead_of_blocking(bot: Bot, fake_api: FakeBotAPI) -> None:
    clock = ManualClock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(timedelta(seconds=seconds))

    channel = TelegramChannel(bot, RateLimiter(clock), sleep=sleep)
    await channel.send(REF, OutboundMessage("一"))
    # The next message to the chat waits its second here, on the clock.
    await channel.send(REF, OutboundMessage("二"))
    assert slept == [1.0]
    # A longer wait (after a 429 here) is not slept through: the outbox reschedules the row.
    fake_api.failures.append(429)
    with pytest.raises(TransientSendError):
        await channel.send(REF, OutboundMessage("三"))
    with pytest.raises(TransientSendError) as caught:
        await channel.send(REF, OutboundMessage("三"))
    # Back in the outbox until the rest of the wait fits the second the channel waits itself.
    assert caught.value.retry_after == pytest.approx(fake_api.retry_after - 1.0)
    assert fake_api.sent_texts() == ["一", "二", "三"]


async def test_429_leaves_the_row_pending_until_retry_after(
    telegram: TelegramClient, fake_api: FakeBotAPI, services: Services
) -> None:
    fake_api.failures.append(429)
    assert (await telegram.post(telegram.message_update("你好"))).status_code == 200
    await telegram.webhook.drain()
    [row] = await telegram.outbox_rows()
    # Flood control is a wait, not a failure: the attempt is given back.
    assert row.status == "pending" and row.attempts == 0
    assert as_utc(row.next_attempt_at) == telegram.clock.now() + timedelta(seconds=fake_api.retry_after)
    telegram.clock.advance(timedelta(seconds=fake_api.retry_after - 1))
    assert await services.dispatcher.deliver_due() == 0
    telegram.clock.advance(timedelta(seconds=1))
    assert await services.dispatcher.deliver_due() == 1
    assert [r.status for r in await telegram.outbox_rows()] == ["sent"]
    assert len(fake_api.sends()) == 2


async def test_5xx_is_retried_with_backoff(telegram: TelegramClient, fake_api: FakeBotAPI, services: Services) -> None:
    fake_api.failures.append(502)
    await telegram.post(telegram.message_update("你好"))
    await telegram.webhook.drain()
    [row] = await telegram.outbox_rows()
    assert row.status == "pending" and "TelegramServerError" in (row.last_error or "")
    telegram.clock.advance(timedelta(seconds=2))
    assert await services.dispatcher.deliver_due() == 1


async def test_403_fails_for_good_and_marks_the_client_unreachable(
    telegram: TelegramClient, fake_api: FakeBotAPI, services: Services
) -> None:
    fake_api.failures.append(403)
    await telegram.post(telegram.message_update("你好"))
    await telegram.webhook.drain()
    [row] = await telegram.outbox_rows()
    assert row.status == "failed"
    telegram.clock.advance(timedelta(hours=1))
    assert await services.dispatcher.deliver_due() == 0
    assert len(fake_api.sends()) == 1
    async with services.db.transaction() as session:
        identity = (await session.execute(select(ChannelIdentity))).scalar_one()
    assert identity.reachable is False
    # The client unblocked the bot and writes again: reachable, answered.
    await telegram.say("我要投诉")
    async with services.db.transaction() as session:
        identity = (await session.execute(select(ChannelIdentity))).scalar_one()
    assert identity.reachable is True


async def test_set_webhook_sends_url_and_secret(bot: Bot, fake_api: FakeBotAPI) -> None:
    assert await set_webhook(bot, "https://kefu.example.com/telegram", SECRET) is True
    [call] = fake_api.of("setWebhook")
    assert call.data["url"] == "https://kefu.example.com/telegram"
    assert call.data["secret_token"] == SECRET
    assert call.data["allowed_updates"] == ["message", "callback_query"]
    with pytest.raises(ConfigError):
        await set_webhook(bot, "https://kefu.example.com/telegram", "")


def test_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TOKEN", "SECRET", "API_BASE", "REPS_CHAT_ID"):
        monkeypatch.delenv(f"KEFU_TELEGRAM_{name}", raising=False)
    monkeypatch.chdir("/")  # no .env
    assert default_bot() is None
    monkeypatch.setenv("KEFU_TELEGRAM_TOKEN", "42:TEST")
    monkeypatch.setenv("KEFU_TELEGRAM_REPS_CHAT_ID", "-1001234")
    settings = TelegramSettings()
    assert settings.api_base == "https://api.telegram.org" and settings.reps_chat_id == -1001234
    bot = default_bot(settings)
    assert bot is not None and bot.id == 42
    with pytest.raises(ValueError, match="KEFU_TELEGRAM_SECRET"):
        TelegramSettings(secret="has spaces")
