"""The customer-service window of WeChat and WeCom kf: 48 hours after a client message, at most 5 sends per message."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bots.wechat.token import StateStore
from core.channel import TurnHooks
from core.channel_state import ChannelStateStore
from core.messages import InboundMessage, MessageType

# How long a client's record is kept: long after the window, so "closed by time" is known without asking WeChat.
KEEP = timedelta(days=30)
# WeChat counts a follow, a menu click and a scan as the client writing; an unfollow or a location report does not.
OPENING_EVENTS = frozenset({"subscribe", "click", "scan", "scancode_push", "scancode_waitmsg", "enter_session"})


def opens_window(message: InboundMessage) -> bool:
    """Whether this inbound message lets kefu send customer-service messages again."""
    if message.type != MessageType.EVENT:
        return True
    return str(message.payload.get("event", "")) in OPENING_EVENTS


class ReplyWindow:
    """Per client: when they last wrote and how many messages went out since, kept in the shared store.

    Sends beyond `limit` per client message are refused here (the caller parks them until the client
    writes). A client kefu has no record of (none kept, or older than KEEP) is left to the network to
    judge (its 45015 / 95002 errors).
    """

    def __init__(
        self, store: StateStore, prefix: str, *, limit: int = 5, span: timedelta = timedelta(hours=48)
    ) -> None:
        self.store = store
        self.prefix = prefix
        self.limit = limit
        self.span = span

    def _key(self, account: str, user: str) -> str:
        return f"{self.prefix}:window:{account}:{user}"

    async def opened(self, message: InboundMessage) -> None:
        """The client wrote: a new window of `limit` sends; a retry of the same message changes nothing."""
        if not opens_window(message):
            return
        key = self._key(message.account, message.ref.external_user_id)
        current = await self.store.get(key)
        if current is None or current.get("msg") != message.external_id:
            await self.store.put(key, *self._fresh(message))

    async def opened_in(self, session: AsyncSession, message: InboundMessage) -> None:
        """`opened` inside the turn's transaction when the store is the database: no transactions of its own."""
        store = self.store
        if not isinstance(store, ChannelStateStore):
            # Kept elsewhere (Redis, memory): written at once, as `opened` does.
            await self.opened(message)
            return
        if not opens_window(message):
            return
        # One statement on every client message: a retry of the same message (same "msg") leaves the count alone.
        key = self._key(message.account, message.ref.external_user_id)
        await store.put_new_in(session, key, *self._fresh(message), marker="msg")

    def _fresh(self, message: InboundMessage) -> tuple[dict[str, Any], datetime]:
        """A new window's record and its expiry."""
        now = self.store.clock.now()
        return {"msg": message.external_id, "at": now.isoformat(), "sent": 0}, now + KEEP

    async def remaining(self, account: str, user: str) -> int | None:
        """Sends still allowed to the client now: 0 when the window is used up or over, None when unknown."""
        current = await self.store.get(self._key(account, user))
        if current is None:
            return None
        opened_at = datetime.fromisoformat(str(current["at"]))
        if self.store.clock.now() - opened_at >= self.span:
            return 0
        return max(0, self.limit - int(current.get("sent", 0)))

    async def used(self, account: str, user: str, count: int) -> None:
        """Count `count` sends that went out in the client's current window."""
        key = self._key(account, user)
        current = await self.store.get(key)
        if current is None:
            return
        opened_at = datetime.fromisoformat(str(current["at"]))
        current["sent"] = int(current.get("sent", 0)) + count
        await self.store.put(key, current, opened_at + KEEP)


class OpensWindow(TurnHooks):
    """A client's turn that records the message in the reply window inside the turn's transaction.

    Replies the turn unparks (written while the window was closed) may then be sent once it commits.
    """

    def __init__(self, window: ReplyWindow, message: InboundMessage) -> None:
        self.window = window
        self.message = message

    async def before(self, session: Any) -> None:
        await self.window.opened_in(session, message=self.message)
