"""One account's IMAP folder read with aioimaplib: UIDVALIDITY and UIDs, whole mails by UID, IDLE."""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from dataclasses import dataclass

import aioimaplib

from bots.email.settings import EmailAccount

_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_FETCH_HEAD = re.compile(rb"^\d+ FETCH \(.*?UID (\d+)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


class ImapError(Exception):
    """The server refused a command or the connection failed: the reader reconnects later."""


@dataclass(frozen=True, slots=True)
class FetchedMail:
    """A mail as the folder holds it; `raw` is None when it is over the account's size limit."""

    uid: int
    size: int
    raw: bytes | None


def _check(response: aioimaplib.Response, what: str) -> aioimaplib.Response:
    if response.result != "OK":
        raise ImapError(f"{what}: {response.result} {response.lines[-1:]!r}")
    return response


class ImapFolder:
    """A logged-in connection with the account's folder selected; mails are read with BODY.PEEK (flags untouched)."""

    def __init__(self, account: EmailAccount) -> None:
        self.account = account
        self.client: aioimaplib.IMAP4 | None = None
        self.uidvalidity = 0

    async def open(self) -> int:
        """Connect, log in, select the folder; returns its UIDVALIDITY."""
        account = self.account
        timeout = account.imap_timeout_seconds
        if account.imap_security == "ssl":
            client: aioimaplib.IMAP4 = aioimaplib.IMAP4_SSL(
                host=account.imap_host,
                port=account.imap_port,
                timeout=timeout,
                ssl_context=ssl.create_default_context(),
            )
        else:
            client = aioimaplib.IMAP4(host=account.imap_host, port=account.imap_port, timeout=timeout)
        self.client = client
        try:
            await client.wait_hello_from_server()
            _check(await client.login(account.username, account.password.get_secret_value()), "LOGIN")
            selected = _check(await client.select(account.folder), f"SELECT {account.folder}")
        except (OSError, TimeoutError, aioimaplib.AioImapException) as exc:
            await self.close()
            raise ImapError(f"{type(exc).__name__}: {exc}") from None
        found = next((m for m in (_UIDVALIDITY.search(bytes(line)) for line in selected.lines) if m), None)
        if found is None:
            await self.close()
            raise ImapError(f"SELECT {account.folder} gave no UIDVALIDITY")
        self.uidvalidity = int(found.group(1))
        return self.uidvalidity

    @property
    def can_idle(self) -> bool:
        return self.client is not None and "IDLE" in self.client.protocol.capabilities

    def _client(self) -> aioimaplib.IMAP4:
        if self.client is None:
            raise ImapError("not connected")
        return self.client

    async def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above `last_uid`, ascending. ("n:*" also names the highest UID when it is below n: filtered.)"""
        # NOOP first: a connection kept open learns of mail delivered since its last command (RFC 3501 6.1.2).
        _check(await self._client().noop(), "NOOP")
        response = _check(await self._client().uid_search(f"UID {last_uid + 1}:*", charset=None), "UID SEARCH")
        uids: set[int] = set()
        for line in response.lines[:-1]:
            uids.update(int(t) for t in bytes(line).split() if t.isdigit())
        return sorted(u for u in uids if u > last_uid)

    async def uids_since(self, day: str) -> list[int]:
        """UIDs of the mails that arrived on or after `day` ("6-Dec-2026"), ascending."""
        response = _check(await self._client().uid_search(f"SINCE {day}", charset=None), "UID SEARCH SINCE")
        return sorted({int(t) for line in response.lines[:-1] for t in bytes(line).split() if t.isdigit()})

    async def fetch(self, uid: int) -> FetchedMail | None:
        """The mail with this UID (None when it was expunged meanwhile); over the size limit, only its size."""
        client = self._client()
        sized = _check(await client.uid("fetch", str(uid), "(UID RFC822.SIZE)"), "UID FETCH SIZE")
        size = next((int(m.group(1)) for m in (_SIZE.search(bytes(line)) for line in sized.lines) if m), None)
        if size is None:
            return None
        if size > self.account.max_mail_bytes:
            return FetchedMail(uid, size, None)
        response = _check(await client.uid("fetch", str(uid), "(UID BODY.PEEK[])"), "UID FETCH")
        lines = response.lines
        for i, line in enumerate(lines[:-1]):
            head = _FETCH_HEAD.match(bytes(line))
            if head and int(head.group(1)) == uid and isinstance(lines[i + 1], bytearray):
                return FetchedMail(uid, size, bytes(lines[i + 1]))
        return None

    async def wait_for_news(self, seconds: float) -> None:
        """Return when the server announces new mail (IDLE) or after `seconds`, whichever comes first."""
        client = self._client()
        if not (self.account.idle and self.can_idle):
            await asyncio.sleep(seconds)
            return
        try:
            idle = await client.idle_start(timeout=seconds)
            while client.has_pending_idle():
                pushed = await client.wait_server_push(timeout=seconds + 5)
                if pushed == aioimaplib.STOP_WAIT_SERVER_PUSH or any(b"EXISTS" in bytes(p) for p in pushed):
                    break
            client.idle_done()
            await asyncio.wait_for(idle, self.account.imap_timeout_seconds)
        except (OSError, TimeoutError, aioimaplib.AioImapException) as exc:
            raise ImapError(f"IDLE: {type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.logout(), 5)
