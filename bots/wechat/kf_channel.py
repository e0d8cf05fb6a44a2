"""WeCom 微信客服 (kf) channel: kf/send_msg, kf/sync_msg and session states as WeCom allows them, in a worker thread."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

from wechatpy.work import WeChatClient

from bots.wechat.api import WeChatApi
from bots.wechat.api_client import ExplicitTokenMixin
from bots.wechat.kf_settings import CHANNEL, RepMode, WeComKfAccount
from bots.wechat.kf_states import SEND_REFUSED, ServiceState, may_move
from bots.wechat.token import MemoryStateStore, StateStore, TokenProvider
from bots.wechat.window import ReplyWindow
from core.channel import (
    ChannelCapabilities,
    HandoverKind,
    PermanentSendError,
    RepInfo,
    SendResult,
    WindowClosed,
    split_text,
)
from core.clock import SystemClock
from core.messages import ConversationRef, OutboundMessage

log = logging.getLogger(__name__)
T = TypeVar("T")

# 95001: too many messages since the client last wrote; 95002: the client has not written for 48 hours;
# 95013: the session has ended; SEND_REFUSED: a 接待人员 has the session. All lift when the client writes
# again (or the servicer's session ends), so the reply is parked.
WINDOW_CLOSED = frozenset({95001, 95002, 95013, SEND_REFUSED})
# WeCom's invalid / expired access token (40001 is "bad secret" there, not a token error): refresh once.
TOKEN_INVALID = frozenset({40014, 42001})
# -1 busy; 45009 / 45033 rate and concurrency limits; 40001 / 40013 / 60020 (bad secret, bad corp id,
# server IP not trusted) come from gettoken and are fixed in configuration, after which retries succeed.
TRANSIENT = frozenset({-1, 45009, 45033, 40001, 40013, 60020})
# kf text is limited to 2048 bytes; 600 CJK characters stay below it in UTF-8.
MAX_TEXT = 600
# A session kefu handed to WeCom's 接待人员 (rep mode `wecom`): kefu does not write to it until it ends.
HANDED = frozenset({ServiceState.POOL, ServiceState.HUMAN})


def handed_key(open_kfid: str, external_userid: str) -> str:
    """Where the channel remembers that a client's session is with a WeCom 接待人员."""
    return f"wecom:kf:handed:{open_kfid}:{external_userid}"


class KefuWeComClient(ExplicitTokenMixin, WeChatClient):  # type: ignore[misc]
    """wechatpy's WeCom client pointed at the configured API base, gettoken included, with a request timeout."""

    api_name = "wecom"
    token_endpoint = "gettoken"

    def __init__(self, account: WeComKfAccount) -> None:
        super().__init__(
            account.corp_id,
            account.secret.get_secret_value(),
            timeout=account.api_timeout_seconds,
            # Token errors are retried by WeComKfChannel, once, so a bad token cannot loop.
            auto_retry=False,
        )
        self._init_explicit_token(
            account.api_base, {"corpid": account.corp_id, "corpsecret": account.secret.get_secret_value()}
        )


class WeComKfChannel:
    """Sends text through kf/send_msg as the conversation's kf account; buttons arrive degraded to numbers.

    Inside the client's window only (48 hours, 5 messages per client message); beyond it the reply waits.
    Implements core.channel.Handover with WeCom's state rules (bots.wechat.kf_states): in rep mode
    `console` the session stays with the API while a rep holds it; in mode `wecom` a claim hands it to
    the rep's WeCom userid and kefu parks what it would send until the session ends. Resolving or
    closing ends the session (state 4) in both modes.
    """

    name = CHANNEL
    capabilities = ChannelCapabilities(buttons=False, max_text_length=MAX_TEXT, reply_window=timedelta(hours=48))

    def __init__(
        self, account: WeComKfAccount, store: StateStore | None = None, *, client: KefuWeComClient | None = None
    ) -> None:
        self.account = account
        self.client = client or KefuWeComClient(account)
        # Without a shared store (tests, one-off tools) the token lives in this process only.
        self.store: StateStore = store or MemoryStateStore(SystemClock())
        # The prefix keeps the corp's kf token apart from an Official Account's token in the same store.
        self.tokens = TokenProvider(self.store, f"wecom-kf:{account.corp_id}", self._fetch_token)
        self.api = WeChatApi(
            self.client,
            self.tokens,
            name="wecom",
            token_invalid=TOKEN_INVALID,
            window_closed=WINDOW_CLOSED,
            transient=TRANSIENT,
        )
        self.window = ReplyWindow(self.store, f"{CHANNEL}:{account.corp_id}")

    async def send(self, ref: ConversationRef, message: OutboundMessage) -> SendResult:
        if await self.handed(ref):
            raise WindowClosed("the session is with a WeCom 接待人员")
        remaining = await self.window.remaining(ref.account, ref.external_user_id)
        external_id: str | None = None
        sent = 0
        try:
            for piece in split_text(message.text, self.capabilities.max_text_length):
                if remaining is not None and sent >= remaining:
                    raise WindowClosed("no kf message left in the client's window")
                data: dict[str, Any] = {
                    "touser": ref.external_user_id,
                    "open_kfid": ref.account,
                    "msgtype": "text",
                    "text": {"content": piece},
                }
                result = await self.api(partial(self.client.post_json, "kf/send_msg", data))
                sent += 1
                msgid = result.get("msgid")
                external_id = str(msgid) if msgid is not None else external_id
        finally:
            if sent:
                await self.window.used(ref.account, ref.external_user_id, sent)
        return SendResult(external_id=external_id)

    async def handover(self, ref: ConversationRef, kind: HandoverKind, rep: RepInfo | None) -> None:
        """Move the client's WeCom session for what happened in kefu, as far as WeCom allows it."""
        if kind is HandoverKind.END:
            await self.move(ref, ServiceState.ENDED)
        elif self.account.rep_mode is RepMode.CONSOLE:
            # Resolving too keeps the session with the API: the feedback prompt still has to reach the client.
            # The rep answers through kf/send_msg, which only works while the session is with the API.
            log.debug("wecom kf %s: %s kept with the API (rep mode console)", ref.external_user_id, kind)
        elif kind is HandoverKind.CLAIM:
            servicer = self.account.servicer_for(rep.username) if rep is not None else self.account.default_servicer
            await self.move(ref, ServiceState.HUMAN if servicer else ServiceState.POOL, servicer)
        elif kind is HandoverKind.QUEUE:
            # A session with a 接待人员 cannot go back to the pool; it stays with them until it ends.
            await self.move(ref, ServiceState.POOL)
        elif await self.handed(ref):
            # Back to the bot (a release, or a resolve whose feedback prompt kefu must send): WeCom never
            # returns a person's session to the API, so it ends; the client's
            # next message starts a new session that kefu answers.
            await self.move(ref, ServiceState.ENDED)

    async def sync_page(self, open_kfid: str, cursor: str, callback_token: str) -> dict[str, Any]:
        """One page of kf/sync_msg; wechatpy's client.kf.sync_msg would drop open_kfid, so it is posted here."""
        data = {"cursor": cursor, "token": callback_token, "limit": 1000, "open_kfid": open_kfid}
        return await self.api(lambda token: self.client.post_json("kf/sync_msg", data, token))

    async def account_ids(self) -> list[str]:
        """Every kf account (open_kfid) this app manages through the API (kf/account/list)."""
        result = await self.api(
            lambda token: self.client.post_json("kf/account/list", {"offset": 0, "limit": 100}, token)
        )
        accounts = result.get("account_list")
        return (
            [str(a["open_kfid"]) for a in accounts if isinstance(a, dict) and a.get("open_kfid")]
            if isinstance(accounts, list)
            else []
        )

    async def service_state(self, ref: ConversationRef) -> tuple[ServiceState, str]:
        """The session's state in WeCom and its 接待人员 (kf/service_state/get)."""
        data = {"open_kfid": ref.account, "external_userid": ref.external_user_id}
        result = await self.api(lambda token: self.client.post_json("kf/service_state/get", data, token))
        try:
            state = ServiceState(int(result.get("service_state", ServiceState.ENDED)))
        except ValueError:
            raise PermanentSendError(f"wecom service_state {result.get('service_state')!r} unknown") from None
        return state, str(result.get("servicer_userid") or "")

    async def move(self, ref: ConversationRef, to: ServiceState, servicer_userid: str | None = None) -> ServiceState:
        """Move the session to `to` when WeCom allows it from where it is; returns the state it is left in.

        A move WeCom refuses (a person's session back to the bot or the pool, anything from ended) is not
        attempted: the session stays as it is and the refusal is logged.
        """
        current, holder = await self.service_state(ref)
        if current is to and (to is not ServiceState.HUMAN or servicer_userid in (None, holder)):
            await self._remember(ref, current)
            return current
        if not may_move(current, to):
            log.info(
                "wecom kf %s: session stays in state %d (WeCom allows no move to %d)", ref.external_user_id, current, to
            )
            await self._remember(ref, current)
            return current
        data: dict[str, Any] = {
            "open_kfid": ref.account,
            "external_userid": ref.external_user_id,
            "service_state": int(to),
        }
        if to is ServiceState.HUMAN:
            data["servicer_userid"] = servicer_userid
        await self.api(lambda token: self.client.post_json("kf/service_state/trans", data, token))
        await self._remember(ref, to)
        return to

    async def handed(self, ref: ConversationRef) -> bool:
        """True while the client's session is with a WeCom 接待人员 (as far as kefu has seen)."""
        known = await self.store.get(handed_key(ref.account, ref.external_user_id))
        return known is not None and known.get("state") in HANDED

    async def session_ended(self, open_kfid: str, external_userid: str) -> None:
        """WeCom said the session ended (a 接待人员 closed it, or it timed out): kefu may write again."""
        await self.store.put(handed_key(open_kfid, external_userid), {"state": int(ServiceState.ENDED)})

    async def session_taken(self, open_kfid: str, external_userid: str) -> None:
        """WeCom said a 接待人员 took the session in WeCom's own client: kefu stops writing to it."""
        await self.store.put(handed_key(open_kfid, external_userid), {"state": int(ServiceState.HUMAN)})

    async def _remember(self, ref: ConversationRef, state: ServiceState) -> None:
        key = handed_key(ref.account, ref.external_user_id)
        if state in HANDED or await self.store.get(key):
            await self.store.put(key, {"state": int(state)})

    async def _fetch_token(self) -> tuple[str, int]:
        return await asyncio.to_thread(self.client.request_token)
