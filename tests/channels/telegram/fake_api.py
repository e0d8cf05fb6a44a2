"""A fake Telegram Bot API: a real HTTP server on 127.0.0.1 in its own thread, recording every call."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web

from tests.support.fake_server import FakeServer

TOKEN = "42:TEST"
BOT_ID = 42
JSON_FIELDS = frozenset({"reply_markup", "allowed_updates"})
# The methods that post something; the failure switches apply to these.
SENDING = frozenset({"sendMessage", "sendPhoto", "createForumTopic", "editMessageText"})


@dataclass
class Call:
    """One request the fake received: the method, its form fields (JSON fields decoded) and when."""

    method: str
    data: dict[str, Any]
    at: float = 0.0


# What getChat's ChatFullInfo must carry in the Bot API version aiogram speaks.
GIFT_TYPES = ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription", "gifts_from_channels")


@dataclass
class FakeBotAPI(FakeServer[Call]):
    """getMe, getUpdates, sendMessage, sendPhoto, editMessageText, answerCallbackQuery, createForumTopic,
    getFile and the file download, setWebhook, deleteWebhook, getWebhookInfo, getChat; switches for 429,
    403, 400 and 5xx."""

    name: ClassVar[str] = "fake Bot API"

    # Each sending call pops the first of these: 429 (with `retry_after`), 403, 400, 502, or 0 (success).
    failures: list[int] = field(default_factory=list)
    # Files getFile knows: file_id → (content, file_path); downloads are recorded as "download" calls.
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    # What "at" records; tests on a manual clock point it at that clock.
    now: Callable[[], float] = time.time
    # getUpdates hands these out once each (long polling), then answers with no updates.
    updates: list[dict[str, Any]] = field(default_factory=list)
    retry_after: int = 30
    # What setWebhook registered (getWebhookInfo answers it) and whether chats are forums (getChat).
    webhook_url: str = ""
    forums: set[int] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def base(self) -> str:
        return self.url

    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def sends(self) -> list[Call]:
        return self.of("sendMessage")

    def in_chat(self, chat_id: int, thread_id: int | None = None) -> list[Call]:
        """Messages sent to a chat (and, when given, one of its forum topics), in order."""
        return [
            c
            for c in self.sends()
            if int(c.data["chat_id"]) == chat_id
            and (thread_id is None or int(c.data.get("message_thread_id", 0)) == thread_id)
        ]

    def sent_texts(self) -> list[str]:
        return [str(c.data["text"]) for c in self.sends()]

    def last_keyboard(self) -> list[list[dict[str, Any]]]:
        """The inline keyboard of the last sendMessage that had one."""
        for call in reversed(self.sends()):
            markup = call.data.get("reply_markup")
            if markup:
                keyboard: list[list[dict[str, Any]]] = markup["inline_keyboard"]
                return keyboard
        raise AssertionError("no message with an inline keyboard was sent")

    # ------------------------------------------------------------ handlers

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        form = await request.post()
        data: dict[str, Any] = {}
        for key, value in form.items():
            # aiogram sends nested objects as JSON strings in the form.
            data[key] = json.loads(str(value)) if key in JSON_FIELDS else str(value)
        self.calls.append(Call(method, data, self.now()))
        if method == "getMe":
            return _ok({"id": BOT_ID, "is_bot": True, "first_name": "kefu", "username": "kefu_test_bot"})
        if method in SENDING:
            failed = self._failure()
            if failed is not None:
                return failed
        if method in ("sendMessage", "sendPhoto", "editMessageText"):
            return self._send(data)
        if method == "createForumTopic":
            topic = {"message_thread_id": next(self._ids), "name": data["name"], "icon_color": 7322096}
            return _ok(topic)
        if method == "getFile":
            known = self.files.get(data["file_id"])
            if known is None:
                return _error(400, "Bad Request: invalid file_id")
            content, path = known
            unique = "u-" + data["file_id"]
            return _ok(
                {"file_id": data["file_id"], "file_unique_id": unique, "file_size": len(content), "file_path": path}
            )
        if method == "getUpdates":
            batch, self.updates = self.updates, []
            if not batch:
                await asyncio.sleep(0.05)
            return _ok(batch)
        if method == "setWebhook":
            self.webhook_url = str(data.get("url", ""))
        if method == "deleteWebhook":
            self.webhook_url = ""
        if method in ("answerCallbackQuery", "setWebhook", "deleteWebhook"):
            return _ok(True)
        if method == "getWebhookInfo":
            return _ok({"url": self.webhook_url, "has_custom_certificate": False, "pending_update_count": 0})
        if method == "getChat":
            chat_id = int(data["chat_id"])
            forum = chat_id in self.forums
            return _ok(
                {"id": chat_id, "type": "supergroup", "title": "客服组", "is_forum": forum}
                | {"accent_color_id": 0, "max_reaction_count": 11}
                | {"accepted_gift_types": {k: True for k in GIFT_TYPES}}
            )
        return _error(404, "Not Found: method not found")

    def _failure(self) -> web.Response | None:
        failure = self.failures.pop(0) if self.failures else None
        if not failure:
            return None
        if failure == 429:
            return _error(429, f"Too Many Requests: retry after {self.retry_after}", {"retry_after": self.retry_after})
        if failure == 403:
            return _error(403, "Forbidden: bot was blocked by the user")
        if failure == 400:
            return _error(400, "Bad Request: chat not found")
        if failure is not None:
            return _error(failure, "Bad Gateway")
        return None

    def _send(self, data: dict[str, Any]) -> web.Response:
        chat_id = int(data["chat_id"])
        message: dict[str, Any] = {
            "message_id": int(data.get("message_id") or next(self._ids)),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "kefu"},
        }
        if "text" in data:
            message["text"] = data["text"]
        if "photo" in data:
            message["photo"] = [{"file_id": "sent-photo", "file_unique_id": "sp", "width": 1, "height": 1}]
        if "message_thread_id" in data:
            message["message_thread_id"] = int(data["message_thread_id"])
            message["is_topic_message"] = True
        if "reply_markup" in data:
            message["reply_markup"] = data["reply_markup"]
        return _ok(message)

    async def _download(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != TOKEN:
            return web.Response(status=401)
        path = request.match_info["path"]
        self.calls.append(Call("download", {"path": path}, self.now()))
        for content, file_path in self.files.values():
            if file_path == path:
                return web.Response(body=content, content_type="application/octet-stream")
        return web.Response(status=404)

    # ------------------------------------------------------------ routes

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/bot{token}/{method}", self._handle)
        router.add_get("/file/bot{token}/{path:.+}", self._download)


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)
