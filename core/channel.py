"""The Channel protocol every adapter implements, its capabilities, and graceful degradation."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable

from core.errors import ConfigError
from core.messages import ConversationRef, OutboundMessage

# The names tickets and conversations are stored under, one per network kefu speaks (reports filter on them).
CHANNEL_NAMES = ("web", "wechat", "wecom", "telegram")


@dataclass(frozen=True, slots=True)
class ChannelCapabilities:
    """What a network can show, so the engine can degrade instead of failing."""

    buttons: bool = False
    max_text_length: int = 2000
    reply_window: timedelta | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of one send: the network's id for the message, if it gives one."""

    external_id: str | None = None
    # Delivery is the reader fetching it (the web chat's stream): once the row is recorded as sent, a
    # "delivered" live event tells the reader's process, whichever one it is, to look now.
    announce: bool = False


class PermanentSendError(Exception):
    """The network refused the message for good (blocked bot, closed window): do not retry."""


class RecipientGone(PermanentSendError):
    """The client blocked the bot or left (Telegram 403, WeChat unfollow): stop writing to them."""


class WindowClosed(PermanentSendError):
    """The network's reply window is closed (e.g. WeChat's 48 hours): park until the client writes again."""


class TransientSendError(Exception):
    """The network failed this time (5xx, timeout, rate limit): retry later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Throttled(TransientSendError):
    """A rate limit (ours or the network's) said "later": wait, without using up one of the row's attempts."""


@dataclass(frozen=True, slots=True)
class RepInfo:
    """The rep a conversation is handed to, as a channel needs to know them."""

    user_id: int
    username: str
    display_name: str


class HandoverKind(enum.StrEnum):
    """What happened to a conversation, as a channel that routes to people itself (WeCom kf) must hear it."""

    CLAIM = "claim"  # a rep holds it (a claim, a reply, a transfer to that rep)
    RELEASE = "release"  # back to the bot
    QUEUE = "queue"  # transferred to a department: waits for one of its reps, never back with the bot
    RESOLVE = "resolve"  # the ticket was resolved: the feedback prompt is still to reach the client
    END = "end"  # the ticket was closed and everything queued for the client went out

    @property
    def to_human(self) -> bool:
        return self in (HandoverKind.CLAIM, HandoverKind.QUEUE)


class Handover(Protocol):
    """A channel that must be told when a person takes a conversation over or gives it back (WeCom kf)."""

    async def handover(self, ref: ConversationRef, kind: HandoverKind, rep: RepInfo | None) -> None: ...


@runtime_checkable
class WindowFallback(Protocol):
    """A channel that can still reach a client outside its reply window, for some of its accounts (a template)."""

    def reaches_outside_window(self, account: str) -> bool: ...


def outside_window(channel: object, account: str) -> str:
    """What a message outside the reply window becomes: "template" where the channel can send one, else "parked"."""
    if isinstance(channel, WindowFallback) and channel.reaches_outside_window(account):
        return "template"
    return "parked"


class Channel(Protocol):
    """A network kefu can talk through."""

    name: str
    capabilities: ChannelCapabilities

    async def send(self, ref: ConversationRef, message: OutboundMessage) -> SendResult: ...


class TurnOutcome(Protocol):
    """What a channel's hooks see of a finished turn (the engine's ReceiveResult; the engine builds on this module)."""

    @property
    def replies(self) -> Sequence[OutboundMessage]: ...

    @property
    def unparked(self) -> int: ...


class TurnHooks:
    """What a channel adds to a client's turn; as it stands, the replies are delivered once the turn commits.

    A channel that answers in its own HTTP response (WeChat's passive reply) overrides these: `hold` keeps the
    turn's replies from the dispatcher that long, `deliver` False leaves their delivery to the channel,
    `before` runs first in the turn's transaction (the channel's own record of the message, committed with
    the turn), and `answer` is asked once the turn is done, before it commits: True means the channel's
    response carries the replies, so they are written as sent in that same transaction.
    """

    deliver: bool = True
    hold: timedelta | None = None
    # The replies are sent as soon as the turn commits: the first may be written claimed (see Outgoing.claimed).
    claim: bool = True

    async def before(self, session: Any) -> None:
        """Run first in the turn's transaction (`session` is its SQLAlchemy AsyncSession)."""

    def answer(self, result: TurnOutcome) -> bool:
        """Whether the channel's own response carries this turn's replies."""
        return False


# A turn with no channel of its own to speak: deliver its replies once it commits.
DELIVER = TurnHooks()


class Undelivered(TurnHooks):
    """The caller delivers the replies itself (in the background, or a test that plays a crash before it)."""

    deliver = False

    def __init__(self, hold: timedelta | None = None, *, claim: bool = False) -> None:
        self.hold = hold
        # True when the caller sends the turn's claimed reply itself (`OutboxDispatcher.deliver_turn`).
        self.claim = claim


class ChannelRegistry:
    """Channels by name; the composition root registers the ones that are configured."""

    def __init__(self) -> None:
        self._channels: dict[str, Channel] = {}

    def register(self, channel: Channel) -> None:
        self._channels[channel.name] = channel

    def get(self, name: str) -> Channel:
        try:
            return self._channels[name]
        except KeyError:
            raise ConfigError(f"channel {name!r} is not configured") from None

    def find(self, name: str) -> Channel | None:
        return self._channels.get(name)

    def capabilities(self, name: str) -> ChannelCapabilities:
        channel = self._channels.get(name)
        return channel.capabilities if channel else ChannelCapabilities()

    def names(self) -> list[str]:
        return sorted(self._channels)


def degrade(message: OutboundMessage, caps: ChannelCapabilities, options_line: Callable[[str], str]) -> OutboundMessage:
    """Turn buttons into numbered options where the channel has none.

    `options_line` frames the options ("1 咨询 · 2 投诉") in the client's language.
    The engine accepts the number as the answer, whatever the channel.
    """
    if caps.buttons or not message.buttons:
        return message
    # A label that already starts with its number ("1 很不满意") is not numbered twice.
    options = " · ".join(
        b.label if b.label.startswith(f"{i} ") else f"{i} {b.label}" for i, b in enumerate(message.buttons, start=1)
    )
    text = f"{message.text}\n{options_line(options)}" if message.text else options_line(options)
    return OutboundMessage(text=text, attachments=message.attachments, kind=message.kind)


def split_text(text: str, limit: int) -> list[str]:
    """Split text into pieces of at most `limit` characters, preferring line and sentence breaks."""
    if limit <= 0:
        raise ValueError("limit must be positive")
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n"), window.rfind("。"), window.rfind(". "))
        cut = cut + 1 if cut >= limit // 2 else limit
        pieces.append(rest[:cut])
        rest = rest[cut:]
    if rest or not pieces:
        pieces.append(rest)
    return pieces
