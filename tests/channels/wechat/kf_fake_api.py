"""A fake WeCom kf API: a real HTTP server on 127.0.0.1 in its own thread, recording every call."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web

from bots.wechat.kf_states import MOVE_REFUSED, SEND_REFUSED, ServiceState, after_client_writes, may_move, may_send
from tests.channels.wechat.fake_api import Call
from tests.support.fake_server import FakeServer

CORP_SECRET = "kf-secret"
_MSG_IDS = itertools.count(1)


def client_item(open_kfid: str, user: str, msgtype: str, body: dict[str, Any], *, msgid: str | None = None) -> Any:
    """A sync_msg item the WeChat client wrote (origin 3)."""
    return {
        "msgid": msgid or f"msg-{next(_MSG_IDS)}",
        "open_kfid": open_kfid,
        "external_userid": user,
        "send_time": 1_700_000_000,
        "origin": 3,
        "msgtype": msgtype,
        msgtype: body,
    }


def servicer_item(open_kfid: str, user: str, servicer: str, text: str) -> Any:
    """A sync_msg item a 接待人员 wrote in WeCom's own client (origin 5)."""
    return {
        "msgid": f"srv-{next(_MSG_IDS)}",
        "open_kfid": open_kfid,
        "external_userid": user,
        "servicer_userid": servicer,
        "send_time": 1_700_000_000,
        "origin": 5,
        "msgtype": "text",
        "text": {"content": text},
    }


def session_change_item(open_kfid: str, user: str, change_type: int, *, servicer: str = "") -> Any:
    """The system event of a 接待人员 taking (1, 2, 4) or ending (3) a session in WeCom's own client."""
    return {
        "msgid": f"evt-{next(_MSG_IDS)}",
        "send_time": 1_700_000_000,
        "origin": 4,
        "msgtype": "event",
        "event": {
            "event_type": "session_status_change",
            "open_kfid": open_kfid,
            "external_userid": user,
            "change_type": change_type,
            "new_servicer_userid": servicer,
        },
    }


def enter_session_item(open_kfid: str, user: str, *, msgid: str | None = None) -> Any:
    """The system event (origin 4) of a client opening the kf chat; the ids live inside `event`."""
    return {
        "msgid": msgid or f"evt-{next(_MSG_IDS)}",
        "send_time": 1_700_000_000,
        "origin": 4,
        "msgtype": "event",
        "event": {
            "event_type": "enter_session",
            "scene": "qr",
            "open_kfid": open_kfid,
            "external_userid": user,
            "welcome_code": "WELCOME",
        },
    }


@dataclass
class FakeWeComAPI(FakeServer[Call]):
    """gettoken, kf/sync_msg, kf/send_msg, kf/service_state/get and /trans, kf/account/list.

    Sessions follow WeCom's rules (bots.wechat.kf_states): a client's message (or opening the chat)
    starts an ended session as NEW, send_msg is refused outside NEW and BOT (and moves NEW to BOT),
    service_state/trans refuses the moves WeCom refuses and state 3 without an active 接待人员.
    """

    name: ClassVar[str] = "fake WeCom API"

    # Items per open_kfid; sync_msg serves them from the cursor on, `page_size` at a time.
    log: dict[str, list[Any]] = field(default_factory=dict)
    page_size: int = 1000
    # Each send_msg / sync_msg / service_state/trans call pops the first of its list: an errcode or "5xx".
    send_failures: list[int | str] = field(default_factory=list)
    sync_failures: list[int | str] = field(default_factory=list)
    trans_failures: list[int | str] = field(default_factory=list)
    # (open_kfid, external_userid) -> (state, servicer userid); a client who never wrote has an ENDED session.
    sessions: dict[tuple[str, str], tuple[ServiceState, str]] = field(default_factory=dict)
    # The corp's active 接待人员 (userids) that state 3 may name.
    servicers: set[str] = field(default_factory=lambda: {"zhangsan", "LiNa", "duty", "WeComRep0"})
    # kf accounts listed by kf/account/list besides the ones with a message log.
    accounts: list[str] = field(default_factory=list)
    tokens_issued: int = 0
    valid_token: str | None = None

    @property
    def base(self) -> str:
        return f"{self.url}/cgi-bin/"

    def push(self, open_kfid: str, *items: Any) -> None:
        """Items appear in the account's log; a client's message or opening of the chat (re)starts its session."""
        self.log.setdefault(open_kfid, []).extend(items)
        for item in items:
            event = item.get("event") if isinstance(item.get("event"), dict) else {}
            if item.get("origin") == 3 or event.get("event_type") == "enter_session":
                key = (open_kfid, str(item.get("external_userid") or event.get("external_userid")))
                old, servicer = self.sessions.get(key, (ServiceState.ENDED, ""))
                new = after_client_writes(old)
                self.sessions[key] = (new, servicer if new is old else "")
            elif event.get("event_type") == "session_status_change":
                key = (open_kfid, str(event.get("external_userid")))
                ended = event.get("change_type") == 3
                servicer = str(event.get("new_servicer_userid") or "")
                self.sessions[key] = (ServiceState.ENDED, "") if ended else (ServiceState.HUMAN, servicer)

    def state(self, open_kfid: str, user: str) -> ServiceState:
        return ServiceState(self.sessions.get((open_kfid, user), (ServiceState.ENDED, ""))[0])

    def open_session(self, open_kfid: str, user: str, state: ServiceState = ServiceState.NEW) -> None:
        self.sessions[(open_kfid, user)] = (state, "")

    def of(self, endpoint: str) -> list[Call]:
        return [c for c in self.calls if c.path == f"/cgi-bin/{endpoint}"]

    def sent_texts(self) -> list[str]:
        return [c.body["text"]["content"] for c in self.of("kf/send_msg") if c.body and "text" in c.body]

    # ------------------------------------------------------------ handlers

    async def _token(self, request: web.Request) -> web.Response:
        self.calls.append(Call(request.path, dict(request.query), None))
        if request.query.get("corpsecret") != CORP_SECRET:
            return web.json_response({"errcode": 40001, "errmsg": "invalid secret"})
        self.tokens_issued += 1
        self.valid_token = f"WTOKEN-{self.tokens_issued}"
        return web.json_response({"errcode": 0, "errmsg": "ok", "access_token": self.valid_token, "expires_in": 7200})

    def _refused(self, request: web.Request, failures: list[int | str]) -> web.Response | None:
        failure = failures.pop(0) if failures else None
        if failure == "5xx":
            return web.Response(status=502, text="bad gateway")
        if isinstance(failure, int):
            return web.json_response({"errcode": failure, "errmsg": f"fake error {failure}"})
        if request.query.get("access_token") != self.valid_token:
            return web.json_response({"errcode": 40014, "errmsg": "invalid access_token"})
        return None

    async def _sync(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(Call(request.path, dict(request.query), body))
        refused = self._refused(request, self.sync_failures)
        if refused is not None:
            return refused
        cursor = str(body.get("cursor") or "")
        if cursor and not cursor.startswith("cur-"):
            return web.json_response({"errcode": 95009, "errmsg": "invalid cursor"})
        start = int(cursor[4:]) if cursor else 0
        items = self.log.get(str(body.get("open_kfid")), [])
        page = items[start : start + min(int(body.get("limit", 1000)), self.page_size)]
        end = start + len(page)
        return web.json_response(
            {
                "errcode": 0,
                "errmsg": "ok",
                "next_cursor": f"cur-{end}",
                "has_more": int(end < len(items)),
                "msg_list": page,
            }
        )

    async def _send(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(Call(request.path, dict(request.query), body))
        refused = self._refused(request, self.send_failures)
        if refused is not None:
            return refused
        key = (str(body.get("open_kfid")), str(body.get("touser")))
        state = self.state(*key)
        if state is ServiceState.ENDED:
            return web.json_response({"errcode": 95013, "errmsg": "session ended"})
        if not may_send(state):
            return web.json_response({"errcode": SEND_REFUSED, "errmsg": f"session state {int(state)} cannot send"})
        if state is ServiceState.NEW:
            self.sessions[key] = (ServiceState.BOT, "")
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": f"sent-{len(self.of('kf/send_msg'))}"})

    async def _trans(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(Call(request.path, dict(request.query), body))
        refused = self._refused(request, self.trans_failures)
        if refused is not None:
            return refused
        key = (str(body.get("open_kfid")), str(body.get("external_userid")))
        to = ServiceState(int(body.get("service_state", -1)))
        if not may_move(self.state(*key), to):
            return web.json_response({"errcode": MOVE_REFUSED, "errmsg": "state change not allowed"})
        servicer = str(body.get("servicer_userid") or "")
        if to is ServiceState.HUMAN and servicer not in self.servicers:
            return web.json_response({"errcode": 95014, "errmsg": "not an active servicer"})
        self.sessions[key] = (to, servicer if to is ServiceState.HUMAN else "")
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def _state_get(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(Call(request.path, dict(request.query), body))
        refused = self._refused(request, [])
        if refused is not None:
            return refused
        state, servicer = self.sessions.get(
            (str(body.get("open_kfid")), str(body.get("external_userid"))), (ServiceState.ENDED, "")
        )
        return web.json_response(
            {"errcode": 0, "errmsg": "ok", "service_state": int(state), "servicer_userid": servicer}
        )

    async def _accounts(self, request: web.Request) -> web.Response:
        self.calls.append(Call(request.path, dict(request.query), None))
        refused = self._refused(request, [])
        if refused is not None:
            return refused
        kfids = list(dict.fromkeys([*self.log, *self.accounts]))
        return web.json_response(
            {"errcode": 0, "errmsg": "ok", "account_list": [{"open_kfid": k, "name": k} for k in kfids]}
        )

    # ------------------------------------------------------------ routes

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/cgi-bin/gettoken", self._token)
        router.add_post("/cgi-bin/kf/sync_msg", self._sync)
        router.add_post("/cgi-bin/kf/send_msg", self._send)
        router.add_post("/cgi-bin/kf/service_state/trans", self._trans)
        router.add_post("/cgi-bin/kf/service_state/get", self._state_get)
        router.add_post("/cgi-bin/kf/account/list", self._accounts)
