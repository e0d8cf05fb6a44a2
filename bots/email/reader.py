"""Reads an account's folder for ever: new mails in UID order, a cursor that survives restarts, IDLE or polling.

The cursor (UIDVALIDITY and the last UID handed over) is written after each mail, so a restart reads on from
the next one; a crash between a mail's turn and its cursor reads that mail again, and the engine's unique
Message-ID keeps it from being answered twice. A changed UIDVALIDITY (the folder was rebuilt) re-reads the
mails of the days since the cursor last moved, for the same reason without repeats.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bots.email.imap import ImapError, ImapFolder
from bots.email.settings import EmailAccount
from core.channel_state import ChannelStateStore
from core.clock import Clock

log = logging.getLogger(__name__)

Receive = Callable[[EmailAccount, bytes], Awaitable[str]]
# One reader of a mailbox at a time across processes; a crashed holder's lock runs out after this.
LOCK_TTL = timedelta(minutes=5)
# A mail whose turn failed this many times is left in the mailbox and reading goes on (a poison mail must
# not hold up every mail after it); fewer failures are taken for an outage (the database restarting).
MAX_ATTEMPTS = 3
# After a failed connection, waits grow from poll_seconds up to this.
MAX_BACKOFF_SECONDS = 600.0
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def imap_date(moment: datetime) -> str:
    """RFC 3501's date for SEARCH SINCE ("6-Dec-2026"), whatever the locale."""
    return f"{moment.day}-{_MONTHS[moment.month - 1]}-{moment.year}"


class MailboxReader:
    """Hands every new mail of one account to `receive`, exactly once as far as kefu can tell."""

    def __init__(
        self,
        account: EmailAccount,
        state: ChannelStateStore,
        receive: Receive,
        clock: Clock,
        *,
        folder_factory: Callable[[EmailAccount], ImapFolder] = ImapFolder,
    ) -> None:
        self.account = account
        self.state = state
        self.receive = receive
        self.clock = clock
        self.folder_factory = folder_factory
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        # Mails handed over since start, for the health page and the figures.
        self.handed = 0

    @property
    def cursor_key(self) -> str:
        return f"email:cursor:{self.account.name}"

    @property
    def lock_key(self) -> str:
        return f"email:reader:{self.account.name}"

    async def catch_up(self, folder: ImapFolder) -> int:
        """Hand over every mail after the cursor; how many. Stops (cursor kept) at a mail whose turn fails."""
        if not await self.state.try_lock(self.lock_key, self.holder, LOCK_TTL):
            return 0
        try:
            return await self._catch_up(folder)
        finally:
            await self.state.unlock(self.lock_key, self.holder)

    async def _catch_up(self, folder: ImapFolder) -> int:
        cursor = await self.state.get(self.cursor_key)
        if cursor is None:
            # A mailbox connected for the first time: what is already there was people's business, not the bot's.
            uids = await folder.uids_after(0)
            await self._move(folder.uidvalidity, max(uids, default=0))
            log.info("e-mail account %s: reading from UID %s on", self.account.name, max(uids, default=0) + 1)
            return 0
        if cursor.get("uidvalidity") == folder.uidvalidity:
            uids = await folder.uids_after(int(cursor.get("last_uid", 0)))
        else:
            since = datetime.fromisoformat(str(cursor.get("moved_at"))) if cursor.get("moved_at") else self.clock.now()
            log.warning(
                "e-mail account %s: UIDVALIDITY changed (%s → %s); re-reading mails since %s",
                self.account.name,
                cursor.get("uidvalidity"),
                folder.uidvalidity,
                imap_date(since - timedelta(days=1)),
            )
            uids = await folder.uids_since(imap_date(since - timedelta(days=1)))
        handed = 0
        for uid in uids:
            fetched = await folder.fetch(uid)
            if fetched is None:
                pass  # expunged since the search
            elif fetched.raw is None:
                log.warning(
                    "e-mail account %s: UID %s of %s bytes is over the limit; left in the mailbox",
                    self.account.name,
                    uid,
                    fetched.size,
                )
            else:
                try:
                    await self.receive(self.account, fetched.raw)
                except Exception:
                    if await self._failed(uid) < MAX_ATTEMPTS:
                        raise
                    log.exception(
                        "e-mail account %s: UID %s failed %s times; left in the mailbox, reading goes on",
                        self.account.name,
                        uid,
                        MAX_ATTEMPTS,
                    )
                else:
                    handed += 1
                    self.handed += 1
            await self._move(folder.uidvalidity, uid)
        return handed

    async def _failed(self, uid: int) -> int:
        """Count one more failure of this UID in the cursor; how many it has had."""
        cursor = await self.state.get(self.cursor_key) or {}
        failures = cursor.get("failures") or {}
        attempts = int(failures.get(str(uid), 0)) + 1
        await self.state.put(self.cursor_key, {**cursor, "failures": {str(uid): attempts}})
        return attempts

    async def _move(self, uidvalidity: int, last_uid: int) -> None:
        value = {"uidvalidity": uidvalidity, "last_uid": last_uid, "moved_at": self.clock.now().isoformat()}
        await self.state.put(self.cursor_key, value)

    async def poll_once(self) -> int:
        """Connect, hand over what is new, disconnect."""
        folder = self.folder_factory(self.account)
        try:
            await folder.open()
            return await self.catch_up(folder)
        finally:
            await folder.close()

    async def run(self) -> None:
        """Read until cancelled: IDLE (or a sleep) between catch-ups, a reconnect with backoff after failures."""
        backoff = self.account.poll_seconds
        while True:
            folder = self.folder_factory(self.account)
            try:
                await folder.open()
                backoff = self.account.poll_seconds
                while True:
                    await self.catch_up(folder)
                    wait = (
                        self.account.idle_seconds
                        if folder.can_idle and self.account.idle
                        else self.account.poll_seconds
                    )
                    await folder.wait_for_news(wait)
            except ImapError as exc:
                log.warning("e-mail account %s: %s; reconnecting in %.0f s", self.account.name, exc, backoff)
            except Exception:
                # The database restarting, a bug in one mail's turn: the cursor stayed, the mail is read again.
                log.exception("e-mail account %s: reading failed; again in %.0f s", self.account.name, backoff)
            finally:
                await folder.close()
            await asyncio.sleep(backoff)
            backoff = min(MAX_BACKOFF_SECONDS, backoff * 2)
