"""One WeChat turn's passive reply: the turn may answer in the HTTP response, else its replies go through the outbox.

WeChat waits about 5 s for the response to a pushed message and shows a reply carried in it at no cost (no
customer-service quota, no 48-hour window). `PassiveReply` is the turn's `TurnHooks`: it records the message's
reply window in the turn's transaction, holds the turn's replies from the dispatcher, and offers to carry them;
then `respond` waits for the turn within the account's budget and decides what the response is and what
follows in the background. `routes.py` keeps only HTTP, the signature and the crypto.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any

from fastapi.responses import PlainTextResponse, Response

from bots.common import BackgroundTasks
from bots.wechat.channel import MAX_TEXT, WeChatChannel
from bots.wechat.media import KINDS, MediaDownloader
from bots.wechat.window import OpensWindow
from core.channel import TurnHooks, TurnOutcome
from core.db.session import Database
from core.engine import ReceiveResult
from core.messages import InboundMessage
from core.outbox import OutboxDispatcher

# Replies stay out of the dispatcher's reach this long, so the webhook can carry them itself;
# if the process dies meanwhile, the sweep sends them once the hold ends.
HOLD = timedelta(seconds=10)
# What WeChat expects when there is no passive reply: it neither shows anything nor retries.
SUCCESS = "success"


class PassiveReply(TurnHooks):
    """The response to one pushed message, and what its turn leaves to do after the response.

    The offer to carry the replies is taken by the turn just before it commits (its replies are then written
    as sent, in the same transaction) or withdrawn when the budget runs out ("success" is answered). The event
    loop runs one of them at a time, so the two never both win.
    """

    deliver = False
    hold = HOLD
    claim = False

    def __init__(
        self,
        inbound: InboundMessage,
        *,
        budget: float,
        render: Callable[[str], Response],
        dispatcher: OutboxDispatcher,
        db: Database,
        channel: WeChatChannel | None,
        media: MediaDownloader | None,
        background: BackgroundTasks,
    ) -> None:
        self.inbound = inbound
        # The reply window opens in the turn's transaction: replies it unparks may be sent once it commits.
        self.opens = OpensWindow(channel.window, inbound) if channel is not None else None
        self.render = render
        self.dispatcher = dispatcher
        self.db = db
        self.media = media
        self.background = background
        self.budget = budget
        self.deadline = asyncio.get_running_loop().time() + budget
        self.taken = False
        self.withdrawn = False
        self.text = ""

    # ------------------------------------------------------------ the turn's hooks

    async def before(self, session: Any) -> None:
        if self.opens is not None:
            await self.opens.before(session)

    def answer(self, result: TurnOutcome) -> bool:
        if self.withdrawn or asyncio.get_running_loop().time() > self.deadline:
            return False
        text = "\n".join(r.text for r in result.replies if r.text)
        # Parked replies from a closed window are older: they must reach the client first, so no passive reply.
        if not text or len(text) > MAX_TEXT or result.unparked:
            return False
        self.taken, self.text = True, text
        return True

    def _withdraw(self) -> bool:
        """False when the turn has taken the offer already."""
        if self.taken:
            return False
        self.withdrawn = True
        return True

    # ------------------------------------------------------------ the response

    async def respond(self, receive: Coroutine[Any, Any, ReceiveResult]) -> Response:
        """Run the turn and answer: the replies themselves when the turn took the offer, else "success"."""
        turn = asyncio.create_task(receive)
        try:
            try:
                # shield: a budget that runs out must not cancel the turn, only stop waiting for it.
                async with asyncio.timeout(self.budget):
                    result = await asyncio.shield(turn)
            except TimeoutError:
                if self._withdraw():
                    # "success" only once the message is stored: WeChat never retries a "success", so answering
                    # before the commit would lose the message to a crash. A turn past WeChat's 5 s makes it
                    # retry, and the retry is answered as a duplicate once this turn has committed.
                    await asyncio.shield(turn)
                    self.background.spawn(self._finish_late(turn))
                    return PlainTextResponse(SUCCESS)
                # The turn took the offer before the budget ran out and is committing: its reply is ours.
                result = await asyncio.shield(turn)
        except asyncio.CancelledError:
            # No response will go out: the replies leave through the outbox instead.
            self.background.spawn(self._finish_late(turn) if self._withdraw() else self._resend(turn))
            raise

        self._fetch_media(result)
        if result.status == "duplicate":
            # WeChat retries only when it got no answer: if the first answer was to carry the replies, this one does.
            inbound = self.inbound
            again = await self.dispatcher.replies_for_retry(
                inbound.channel, inbound.account, inbound.external_id, max_text=MAX_TEXT
            )
            text = "\n".join(r.text for r in again if r.text)
            return self.render(text) if text else PlainTextResponse(SUCCESS)
        if not result.outbox_ids:
            # A silent turn (a rep holds the conversation) may still have unparked older replies.
            if result.unparked:
                self.background.spawn(self._deliver_rest(result))
            return PlainTextResponse(SUCCESS)
        if self.taken:
            if result.earlier_unsent:
                # Replies older than this turn's are waiting (parked, retrying): give them a push now.
                self.background.spawn(self._deliver_rest(result))
            return self.render(self.text)
        # Too long for one passive reply or behind parked ones: the outbox sends it in order.
        self.background.spawn(self._release(result.outbox_ids))
        return PlainTextResponse(SUCCESS)

    # ------------------------------------------------------------ after the response

    async def _release(self, outbox_ids: list[int]) -> None:
        await self.dispatcher.send_held_now(outbox_ids)

    async def _resend(self, turn: Awaitable[ReceiveResult]) -> None:
        result = await turn
        await self.dispatcher.resend(result.outbox_ids)

    async def _finish_late(self, turn: Awaitable[ReceiveResult]) -> None:
        """The client got "success": once the turn commits, its replies go out as customer-service messages."""
        result = await turn
        self._fetch_media(result)
        if result.status == "accepted":
            await self.dispatcher.send_held_now(result.outbox_ids)
            if result.unparked and not result.outbox_ids:
                await self._deliver_rest(result)

    def _fetch_media(self, result: ReceiveResult) -> None:
        """Download the message's media after its turn, in the background: never inside the passive budget."""
        # A retried MsgId was stored by its first delivery, which fetches the media.
        if self.media is None or result.status != "accepted":
            return
        if any(a.kind in KINDS and a.media_id for a in self.inbound.attachments):
            self.background.spawn(self.media.fetch_message(self.db, self.inbound))

    async def _deliver_rest(self, result: ReceiveResult) -> None:
        # Replies parked while the window was closed became due in this turn; nothing else sends them now.
        if result.conversation_id is not None:
            await self.dispatcher.deliver_conversation(result.conversation_id)
