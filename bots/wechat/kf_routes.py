"""The WeCom kf callback: URL verification, encrypted kf_msg_or_event notices, and the kf/sync_msg pull they trigger."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from bots.common import BackgroundTasks, read_body_or_refusal
from bots.wechat.envelope import BadEnvelope, EnvelopeKey, fresh, xml_root
from bots.wechat.kf_channel import WeComKfChannel
from bots.wechat.kf_convert import MAX_ACCOUNT, servicer_text, session_change, to_inbound
from bots.wechat.signing import BadSignature
from bots.wechat.token import StateStore
from bots.wechat.window import OpensWindow
from core.channel import PermanentSendError, TransientSendError
from core.engine import Engine

log = logging.getLogger(__name__)

# What WeCom expects once the callback is taken: it neither shows anything nor retries.
SUCCESS = "success"
KF_EVENT = "kf_msg_or_event"
# A runaway has_more (the same cursor again and again) must not pull forever.
MAX_PAGES = 100
# The pull lease: renewed while a pull runs, so a process that dies delays the next pull by this much at most.
PULL_LEASE = timedelta(seconds=10)


class BadCallback(BadEnvelope):
    """The callback decrypted from a good envelope holds nothing kefu can read."""


def cursor_key(open_kfid: str) -> str:
    """Where the next sync_msg cursor of one kf account is kept, so a restart resumes there."""
    return f"wecom:kf:cursor:{open_kfid}"


def _pull_lock_key(open_kfid: str) -> str:
    return f"wecom:kf:pull:{open_kfid}"


class WeComKfWebhook:
    """The kf app's callback; each notice starts a background pull of the kf account's new messages."""

    def __init__(
        self,
        *,
        engine: Engine,
        channel: WeComKfChannel,
        store: StateStore,
        max_body_bytes: int,
        lock_ttl: timedelta = PULL_LEASE,
        poll_seconds: float = 0.2,
    ) -> None:
        self.engine = engine
        self.channel = channel
        self.account = channel.account
        self.store = store
        self.max_body_bytes = max_body_bytes
        self.lock_ttl = lock_ttl
        self.poll_seconds = poll_seconds
        self._envelope = EnvelopeKey(
            token=self.account.token.get_secret_value(),
            encoding_aes_key=self.account.aes_key.get_secret_value(),
            receiver_id=self.account.corp_id,
        )
        # Unique per webhook: the store lets a holder retake its own lock, so two processes must differ.
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # Pulls of one kf account queue here instead of polling the database for the same lock.
        self._locks: dict[str, asyncio.Lock] = {}
        self._background = BackgroundTasks(log, "wecom kf background pull failed")

    # ------------------------------------------------------------ checks

    def _fresh(self, timestamp: str) -> bool:
        return fresh(timestamp, now=self.engine.clock.now(), skew_seconds=self.account.max_clock_skew_seconds)

    def _open(self, body: bytes, msg_signature: str, timestamp: str, nonce: str) -> dict[str, Any]:
        """The callback's inner XML as a dict, after the signature over its Encrypt field checked out."""
        xml = self._envelope.open(body, msg_signature=msg_signature, timestamp=timestamp, nonce=nonce)
        inner = xml_root(xml, "callback")
        if not isinstance(inner, dict):
            raise BadCallback("empty callback")
        return inner

    # ------------------------------------------------------------ endpoints

    async def verify(self, request: Request) -> Response:
        """GET: WeCom checks the URL by asking it to decrypt `echostr` under a valid signature."""
        q = request.query_params
        timestamp = q.get("timestamp", "")
        if not self._fresh(timestamp):
            return PlainTextResponse("forbidden", status_code=403)
        try:
            echo = self._envelope.decrypt_signed(
                q.get("echostr", ""),
                msg_signature=q.get("msg_signature", ""),
                timestamp=timestamp,
                nonce=q.get("nonce", ""),
            )
        except BadSignature:
            return PlainTextResponse("forbidden", status_code=403)
        except BadEnvelope as exc:
            log.info("wecom kf verification: %s", exc)
            return PlainTextResponse("bad request", status_code=400)
        return PlainTextResponse(echo)

    async def receive(self, request: Request) -> Response:
        """POST: a notice that a kf account has news; answered at once, the messages are pulled in the background."""
        q = request.query_params
        timestamp, nonce = q.get("timestamp", ""), q.get("nonce", "")
        if not self._fresh(timestamp):
            return PlainTextResponse("stale timestamp", status_code=403)
        body = await read_body_or_refusal(request, self.max_body_bytes)
        if isinstance(body, Response):
            return body
        try:
            callback = self._open(body, q.get("msg_signature", ""), timestamp, nonce)
        except BadSignature:
            return PlainTextResponse("forbidden", status_code=403)
        # An envelope that cannot be opened (BadEnvelope) or a callback inside it that cannot be read (BadCallback).
        except BadEnvelope as exc:
            log.info("wecom kf callback: %s", exc)
            return PlainTextResponse("bad request", status_code=400)
        if callback.get("MsgType") != "event" or callback.get("Event") != KF_EVENT:
            # Other events of the same app (contact changes and the like) are not kefu's business.
            return PlainTextResponse(SUCCESS)
        open_kfid, token = callback.get("OpenKfId"), callback.get("Token")
        if not isinstance(open_kfid, str) or not open_kfid or len(open_kfid) > MAX_ACCOUNT:
            return PlainTextResponse("bad request", status_code=400)
        # The callback's token lifts sync_msg's strict rate limit for 10 minutes; without one the pull still works.
        sync_token = token if isinstance(token, str) and len(token) <= 128 else ""
        self._background.spawn(self._pull_logged(open_kfid, sync_token))
        return PlainTextResponse(SUCCESS)

    # ------------------------------------------------------------ pulling

    async def pull(self, open_kfid: str, sync_token: str = "") -> int:
        """Pull every new item of one kf account into the engine; returns how many were new (not duplicates).

        One pull per kf account at a time (an asyncio lock here, the store's lease across processes):
        the cursor moves forward only, and each page's messages are handled before it is stored,
        so a crash re-pulls them and the engine's dedupe on msgid makes them duplicates.
        """
        lock = self._locks.setdefault(open_kfid, asyncio.Lock())
        async with lock:
            lock_key = _pull_lock_key(open_kfid)
            if not await self._take(lock_key):
                log.warning("wecom kf %s: another process kept the pull lock; this notice's pull skipped", open_kfid)
                return 0
            try:
                return await self._pull_pages(open_kfid, sync_token, lock_key)
            finally:
                await self.store.unlock(lock_key, self.holder)

    async def pull_all(self) -> int:
        """Pull every kf account of the app once (start-up): what arrived while no process ran is answered now."""
        try:
            accounts = await self.channel.account_ids()
        except (TransientSendError, PermanentSendError) as exc:
            log.warning("wecom kf: kf/account/list failed, nothing pulled at start: %s", exc)
            return 0
        received = 0
        for open_kfid in accounts:
            try:
                received += await self.pull(open_kfid)
            except (TransientSendError, PermanentSendError) as exc:
                log.warning("wecom kf %s: start-up pull failed: %s", open_kfid, exc)
        log.info("wecom kf: start-up pull of %d accounts, %d new messages", len(accounts), received)
        return received

    def start(self) -> None:
        """Start the start-up pull in the background (the app's lifespan calls it)."""
        self._background.spawn(self.pull_all())

    async def _take(self, lock_key: str) -> bool:
        # Waiting up to one lease: a holder that died frees the lock by then, a live one has finished.
        polls = max(1, int(self.lock_ttl.total_seconds() / self.poll_seconds))
        for _ in range(polls + 1):
            if await self.store.try_lock(lock_key, self.holder, self.lock_ttl):
                return True
            await asyncio.sleep(self.poll_seconds)
        return False

    async def _pull_pages(self, open_kfid: str, sync_token: str, lock_key: str) -> int:
        key = cursor_key(open_kfid)
        stored = await self.store.get(key)
        cursor = str(stored.get("cursor", "")) if stored else ""
        received = 0
        renewed = self.engine.clock.now()
        for _ in range(MAX_PAGES):
            page = await self.channel.sync_page(open_kfid, cursor, sync_token)
            items = page.get("msg_list")
            for item in items if isinstance(items, list) else []:
                # The lease is short; a long page renews it before a third of it is gone.
                if self.engine.clock.now() - renewed >= self.lock_ttl / 3:
                    await self.store.try_lock(lock_key, self.holder, self.lock_ttl)
                    renewed = self.engine.clock.now()
                await self._follow_session(item)
                await self._mirror_servicer(item)
                inbound = to_inbound(item)
                if inbound is None:
                    continue
                result = await self.engine.receive(inbound, OpensWindow(self.channel.window, inbound))
                received += result.status == "accepted"
            next_cursor = page.get("next_cursor")
            advanced = isinstance(next_cursor, str) and bool(next_cursor) and next_cursor != cursor
            if advanced:
                cursor = str(next_cursor)
                await self.store.put(key, {"cursor": cursor})
            if not page.get("has_more"):
                break
            if not advanced:
                log.warning("wecom kf %s: has_more without a new cursor; pull stopped", open_kfid)
                break
            # Renew the lease for the next page: a long backlog outlasts one lease.
            await self.store.try_lock(lock_key, self.holder, self.lock_ttl)
            renewed = self.engine.clock.now()
        return received

    async def _mirror_servicer(self, item: Any) -> None:
        """A 接待人员's words from WeCom's client join the transcript, under the kefu user mapped to them."""
        said = servicer_text(item)
        if said is None:
            return
        ref, text, msgid, servicer = said
        usernames = [name for name, userid in self.account.servicers.items() if userid == servicer]
        await self.engine.record_sent_elsewhere(ref, text, msgid, username=usernames[0] if usernames else None)

    async def _follow_session(self, item: Any) -> None:
        """A 接待人员 took or ended a session in WeCom's own client: kefu stops or resumes writing to it."""
        change = session_change(item)
        if change is None:
            return
        ref, ended = change
        if ended:
            await self.channel.session_ended(ref.account, ref.external_user_id)
            # The client's parked replies go out once the client writes again and WeCom restarts the session.
            await self.engine.session_ended_on_channel(ref)
        else:
            await self.channel.session_taken(ref.account, ref.external_user_id)

    async def _pull_logged(self, open_kfid: str, sync_token: str) -> None:
        try:
            await self.pull(open_kfid, sync_token)
        except (TransientSendError, PermanentSendError) as exc:
            # The cursor stays where it was: the next notice pulls the same items again.
            log.warning("wecom kf %s: sync_msg failed: %s", open_kfid, exc)

    # ------------------------------------------------------------ background

    async def drain(self) -> None:
        """Wait for background pulls (shutdown, tests)."""
        await self._background.drain()

    def router(self, path: str = "/wecom/kf") -> APIRouter:
        """GET verification and POST callbacks at `path`."""
        router = APIRouter()
        router.add_api_route(path, self.verify, methods=["GET"], include_in_schema=False)
        router.add_api_route(path, self.receive, methods=["POST"], include_in_schema=False)
        return router
