"""A fake WeChat API: a real HTTP server on 127.0.0.1 in its own thread, recording every call."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web

from tests.support.fake_server import FakeServer


@dataclass
class Call:
    """One request the fake received."""

    path: str
    query: dict[str, str]
    body: dict[str, Any] | None


@dataclass
class FakeWeChatAPI(FakeServer[Call]):
    """Token, custom-service and template send, media and menu endpoints, with WeChat's failures as switches."""

    name: ClassVar[str] = "fake WeChat API"

    # Each custom/send call pops the first of these: an errcode, "5xx", "slow" (sleeps `slow_seconds`, then
    # delivers), "timeout" (sleeps, then delivers nothing) or None (no failure).
    failures: list[int | str] = field(default_factory=list)
    slow_seconds: float = 2.0
    tokens_issued: int = 0
    valid_token: str | None = None
    # Seconds the token endpoint takes, so concurrent refreshers would overlap.
    token_delay: float = 0.0
    # media/get serves these by MediaId: (bytes, Content-Type); videos are answered with a link instead.
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    videos: dict[str, bytes] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"{self.url}/cgi-bin/"

    def sends(self) -> list[Call]:
        return [c for c in self.calls if c.path == "/cgi-bin/message/custom/send"]

    def sent_texts(self) -> list[str]:
        return [c.body["text"]["content"] for c in self.sends() if c.body and "text" in c.body]

    def token_calls(self) -> list[Call]:
        return [c for c in self.calls if c.path == "/cgi-bin/token"]

    def template_sends(self) -> list[Call]:
        return [c for c in self.calls if c.path == "/cgi-bin/message/template/send"]

    def media_calls(self) -> list[Call]:
        return [c for c in self.calls if c.path == "/cgi-bin/media/get"]

    def revoke_token(self) -> None:
        """Make the token in use invalid, as when another process refreshed it."""
        self.valid_token = None

    # ------------------------------------------------------------ handlers

    async def _token(self, request: web.Request) -> web.Response:
        self.calls.append(Call(request.path, dict(request.query), None))
        if request.query.get("secret") != "app-secret":
            return web.json_response({"errcode": 40125, "errmsg": "invalid appsecret"})
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        self.tokens_issued += 1
        self.valid_token = f"TOKEN-{self.tokens_issued}"
        return web.json_response({"access_token": self.valid_token, "expires_in": 7200})

    async def _send(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(Call(request.path, dict(request.query), body))
        failure = self.failures.pop(0) if self.failures else None
        if failure == "5xx":
            return web.Response(status=502, text="bad gateway")
        if failure == "timeout":
            # Lost on the way: the caller times out first and nothing is delivered.
            await asyncio.sleep(self.slow_seconds)
            return web.Response(status=504, text="gateway timeout")
        if failure == "slow":
            await asyncio.sleep(self.slow_seconds)
        elif isinstance(failure, int):
            return web.json_response({"errcode": failure, "errmsg": f"fake error {failure}"})
        if request.query.get("access_token") != self.valid_token:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": len(self.sends())})

    async def _template(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(Call(request.path, dict(request.query), body))
        if request.query.get("access_token") != self.valid_token:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": 9000 + len(self.template_sends())})

    async def _media_get(self, request: web.Request) -> web.Response:
        self.calls.append(Call(request.path, dict(request.query), None))
        # WeChat labels its JSON error answers text/plain.
        if request.query.get("access_token") != self.valid_token:
            return web.Response(text='{"errcode":40001,"errmsg":"invalid credential"}', content_type="text/plain")
        media_id = request.query.get("media_id", "")
        if media_id in self.videos:
            url = f"http://127.0.0.1:{self.port}/video/{media_id}"
            return web.json_response({"video_url": url})
        if media_id not in self.media:
            return web.Response(text='{"errcode":40007,"errmsg":"invalid media_id"}', content_type="text/plain")
        data, content_type = self.media[media_id]
        return web.Response(body=data, content_type=content_type)

    async def _video(self, request: web.Request) -> web.Response:
        self.calls.append(Call(request.path, dict(request.query), None))
        return web.Response(body=self.videos[request.match_info["media_id"]], content_type="video/mp4")

    async def _menu(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(Call(request.path, dict(request.query), body))
        if request.query.get("access_token") != self.valid_token:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    # ------------------------------------------------------------ routes

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/cgi-bin/token", self._token)
        router.add_post("/cgi-bin/message/custom/send", self._send)
        router.add_post("/cgi-bin/menu/create", self._menu)
        router.add_post("/cgi-bin/message/template/send", self._template)
        router.add_get("/cgi-bin/media/get", self._media_get)
        router.add_get("/video/{media_id}", self._video)
