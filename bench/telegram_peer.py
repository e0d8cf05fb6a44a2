"""The other servers of the Telegram webhook benchmark (bench/telegram_bench.py), each in its own process.

- `fake_api_main()`: a tiny fake Bot API (`python -m bench.telegram_peer fakeapi PORT`) that answers
  sendMessage (and anything else with ok) and counts the messages per chat (`GET /stats`).
- `bare_app()`: the bare endpoint (`uvicorn --factory bench.telegram_peer:bare_app`): checks the secret
  header in constant time, parses the JSON update, inserts one row into the same kind of database as kefu,
  answers 200.
"""

import hmac
import itertools
import json
import os
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def fake_api_main(port: int) -> None:
    from aiohttp import web

    from bench.wechat_peer import _latency, _on_the_wire

    sends: Counter[str] = Counter()
    ids = itertools.count(1)
    state = {"other": 0, "open": 0, "cut": 0}
    latency = _latency()

    async def method(request: web.Request) -> web.Response:
        name = request.match_info["method"]
        form = await request.post()
        if name != "sendMessage":
            state["other"] += 1
            return web.json_response({"ok": True, "result": True})
        chat = str(form.get("chat_id", ""))
        # Counted on arrival: a message that reached the API is delivered, whether or not its answer gets back.
        sends[chat] += 1
        await _on_the_wire(state, latency, request)
        message: dict[str, Any] = {
            "message_id": next(ids),
            "date": int(time.time()),
            "chat": {"id": int(chat), "type": "private"},
            "text": str(form.get("text", "")),
        }
        if "reply_markup" in form:
            message["reply_markup"] = json.loads(str(form["reply_markup"]))
        return web.json_response({"ok": True, "result": message})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"sends": dict(sends), **state})

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", method)
    app.router.add_get("/stats", stats)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def bare_app() -> Any:
    from fastapi import FastAPI, Request, Response
    from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, Table, Text, func, insert, select

    from core.db.session import Database

    secret = os.environ["KEFU_TELEGRAM_SECRET"].encode()
    metadata = MetaData()
    table = Table(
        "bare_updates",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("update_id", BigInteger, nullable=False, unique=True),
        Column("chat_id", BigInteger, nullable=False),
        Column("text", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
    )
    db = Database(os.environ["BARE_DATABASE_URL"])

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        yield
        await db.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.post("/telegram")
    async def receive(request: Request) -> Response:
        if not hmac.compare_digest(secret, request.headers.get(SECRET_HEADER, "").encode()):
            return Response(status_code=401)
        update = json.loads(await request.body())
        message = update["message"]
        async with db.transaction() as session:
            await session.execute(
                insert(table).values(
                    update_id=int(update["update_id"]),
                    chat_id=int(message["chat"]["id"]),
                    text=message.get("text") or "",
                    created_at=datetime.now(UTC),
                )
            )
        return Response(status_code=200)

    @app.get("/count")
    async def count() -> dict[str, int]:
        async with db.transaction() as session:
            return {"rows": int(await session.scalar(select(func.count()).select_from(table)) or 0)}

    return app


if __name__ == "__main__":
    if sys.argv[1:2] == ["fakeapi"]:
        fake_api_main(int(sys.argv[2]))
