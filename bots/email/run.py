"""The mailbox readers of a worker process: one long-lived task per account, cancelled at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

from bots.email.reader import MailboxReader
from bots.email.receiver import MailReceiver
from bots.email.settings import EmailAccount
from core.channel_state import ChannelStateStore
from core.engine import Engine


class MailReaders:
    """Reads every configured mailbox into the engine while started."""

    def __init__(self, accounts: Iterable[EmailAccount], engine: Engine, state: ChannelStateStore) -> None:
        self.receiver = MailReceiver(engine)
        self.readers = [MailboxReader(a, state, self.receiver, engine.clock) for a in accounts]
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(r.run(), name=f"email-{r.account.name}") for r in self.readers]

    async def stop(self) -> None:
        # A turn in flight is one transaction: cancelled, it rolls back, and the mail's cursor was not moved.
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
