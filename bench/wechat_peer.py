"""The other servers of the WeChat webhook benchmark (bench/wechat_bench.py), each run in its own process.

- `fake_api_main()`: a tiny fake WeChat API (`python -m bench.wechat_peer fakeapi PORT`) that answers
  `cgi-bin/token` and `cgi-bin/message/custom/send` and counts the sends per openid (`GET /stats`).
- `bare_app()`: the bare FastAPI endpoint (`uvicorn --factory bench.wechat_peer:bare_app`): checks the
  signatures, decrypts, inserts one row into the same kind of database as kefu, answers "success".
- `werobot_app()`: a WeRoBot echo bot in safe mode, as a WSGI app (`gunicorn 'bench.wechat_peer:werobot_app()'`).

All of them read the account from the same KEFU_WECHAT_* variables as kefu.
"""

import asyncio
import hashlib
import hmac
import os
import random
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any


def _env() -> tuple[str, str, str]:
    return os.environ["KEFU_WECHAT_TOKEN"], os.environ["KEFU_WECHAT_AES_KEY"], os.environ["KEFU_WECHAT_APP_ID"]


# ---------------------------------------------------------------- fake WeChat API


def _latency() -> tuple[float, float]:
    """BENCH_API_LATENCY_MS="lo,hi": each send answers after a random delay in that range (default none)."""
    raw = os.environ.get("BENCH_API_LATENCY_MS", "")
    if not raw:
        return (0.0, 0.0)
    lo, hi = (float(x) / 1000 for x in raw.split(","))
    return (lo, hi)


async def _on_the_wire(state: dict[str, int], latency: tuple[float, float], request: Any) -> None:
    """Hold a send for the network's latency; `open` counts the sends held right now, `cut` those whose
    sender went away while they were held (killed with the send on the wire: it cannot know it arrived)."""
    if latency[1] <= 0:
        return
    state["open"] += 1
    try:
        await asyncio.sleep(random.uniform(*latency))
    except asyncio.CancelledError:
        state["cut"] += 1
        raise
    finally:
        state["open"] -= 1
    transport = request.transport
    if transport is None or transport.is_closing():
        state["cut"] += 1


def fake_api_main(port: int) -> None:
    from aiohttp import web

    sends: Counter[str] = Counter()
    state = {"tokens": 0, "other": 0, "open": 0, "cut": 0}
    latency = _latency()

    async def token(request: web.Request) -> web.Response:
        state["tokens"] += 1
        return web.json_response({"access_token": f"TOKEN-{state['tokens']}", "expires_in": 7200})

    async def send(request: web.Request) -> web.Response:
        body = await request.json()
        # Counted on arrival: a send that reached the API is delivered, whether or not its answer gets back.
        sends[str(body.get("touser", ""))] += 1
        await _on_the_wire(state, latency, request)
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": sum(sends.values())})

    async def other(request: web.Request) -> web.Response:
        state["other"] += 1
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"sends": dict(sends), **state})

    app = web.Application()
    app.router.add_get("/cgi-bin/token", token)
    app.router.add_post("/cgi-bin/message/custom/send", send)
    app.router.add_get("/stats", stats)
    app.router.add_route("*", "/{tail:.*}", other)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# ---------------------------------------------------------------- bare FastAPI endpoint


def bare_app() -> Any:
    import xmltodict
    from fastapi import FastAPI, Request
    from fastapi.responses import PlainTextResponse
    from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, Text, func, insert, select
    from wechatpy.crypto import PrpCrypto, WeChatCrypto

    from core.db.session import Database

    token, aes_key, app_id = _env()
    key = WeChatCrypto(token, aes_key, app_id).key
    metadata = MetaData()
    table = Table(
        "bare_messages",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("msg_id", BigInteger, nullable=False, unique=True),
        Column("openid", String(64), nullable=False),
        Column("content", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
    )
    db = Database(os.environ["BARE_DATABASE_URL"])

    def sign(*parts: str) -> str:
        return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        yield
        await db.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.post("/wechat")
    async def receive(request: Request) -> PlainTextResponse:
        q = request.query_params
        ts, nonce = q.get("timestamp", ""), q.get("nonce", "")
        if not hmac.compare_digest(sign(token, ts, nonce), q.get("signature", "")):
            return PlainTextResponse("forbidden", status_code=403)
        body = await request.body()
        encrypt = xmltodict.parse(body, disable_entities=True)["xml"]["Encrypt"]
        if not hmac.compare_digest(sign(token, ts, nonce, encrypt), q.get("msg_signature", "")):
            return PlainTextResponse("forbidden", status_code=403)
        message = xmltodict.parse(PrpCrypto(key).decrypt(encrypt, app_id), disable_entities=True)["xml"]
        async with db.transaction() as session:
            await session.execute(
                insert(table).values(
                    msg_id=int(message["MsgId"]),
                    openid=message["FromUserName"],
                    content=message.get("Content") or "",
                    created_at=datetime.now(UTC),
                )
            )
        return PlainTextResponse("success")

    @app.get("/count")
    async def count() -> dict[str, int]:
        async with db.transaction() as session:
            return {"rows": int(await session.scalar(select(func.count()).select_from(table)) or 0)}

    return app


# ---------------------------------------------------------------- WeRoBot echo bot


def werobot_app() -> Any:
    import werobot

    token, aes_key, app_id = _env()
    robot = werobot.WeRoBot(
        token=token, app_id=app_id, app_secret="app-secret", encoding_aes_key=aes_key, enable_session=False
    )

    @robot.text
    def echo(message: Any) -> str:
        return str(message.content)

    robot.crypto  # noqa: B018 - builds the crypto helper and switches replies to encrypted
    return robot.wsgi


if __name__ == "__main__":
    if sys.argv[1:2] == ["fakeapi"]:
        fake_api_main(int(sys.argv[2]))
    else:
        sys.exit("usage: python -m bench.wechat_peer fakeapi PORT")
