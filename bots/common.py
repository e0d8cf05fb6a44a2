"""Helpers shared by every channel's webhook: bounded bodies, safe JSON parsing, background work."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Path, Query, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from core.errors import KefuError

# The largest value of the databases' integer columns (BIGINT; SQLite's INTEGER): ids never exceed it.
MAX_DB_INT = 2**63 - 1
# Ids in paths and numbers in queries, refused (422) before they reach the database when out of range.
PathId = Annotated[int, Path(ge=0, le=MAX_DB_INT)]
QueryId = Annotated[int, Query(ge=0, le=MAX_DB_INT)]
# Page numbers and offsets: far beyond any real list, far below what an OFFSET can hold.
MAX_PAGE = 1_000_000
PageNumber = Annotated[int, Query(ge=0, le=MAX_PAGE)]


def db_int(value: str | int | None) -> int | None:
    """A whole number that fits the database's integer columns, or None (not a number, or out of range)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value.isascii() or not value.isdigit() or len(value) > 19:
            return None
        value = int(value)
    return value if 0 <= value <= MAX_DB_INT else None


def query_params(request: Request) -> dict[str, str]:
    """The query's parameters as `request.query_params` reads them (of a name given twice, the last value).

    A plain dict, and no unquoting where nothing is quoted: Starlette's multi-dict over parse_qsl costs some
    ninety Python calls, on every message a webhook checks the signature of.
    """
    text = request.scope["query_string"].decode("latin-1")
    if "%" in text or "+" in text:
        return dict(parse_qsl(text, keep_blank_values=True))
    return {name: value for name, _, value in (pair.partition("=") for pair in text.split("&") if pair)}


class RefuseNul:
    """400 for a NUL character anywhere in the path or query: no database column accepts one, no route needs it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope.get("path", "")
            or b"%00" in scope.get("raw_path", b"")
            or b"%00" in scope.get("query_string", b"")
        ):
            await JSONResponse({"error": "NUL characters are not accepted"}, status_code=400)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def refuse_nul(value: Any, where: str = "body") -> None:
    """BadPayload when a string in the parsed JSON (a key or a value) holds a NUL character."""
    if isinstance(value, str):
        if "\x00" in value:
            raise BadPayload(f"{where} holds a NUL character")
    elif isinstance(value, dict):
        for key, item in value.items():
            refuse_nul(key, where)
            refuse_nul(item, where)
    elif isinstance(value, list):
        for item in value:
            refuse_nul(item, where)


class BodyTooLarge(KefuError):
    """The request body is larger than the configured limit."""

    status_code = 413


class BadPayload(KefuError):
    """The request body is not what the endpoint accepts."""

    status_code = 400


class BodyTooSlow(BadPayload):
    """The client took longer than the body-read deadline to send the request body."""

    status_code = 408


# The deadline for reading a whole body when the app sets none (app.state.body_read_seconds).
BODY_READ_SECONDS = 30.0


async def read_limited_body(request: Request, limit: int) -> bytes:
    """Read at most `limit` bytes within the app's body-read deadline, refusing early on Content-Length.

    A client that trickles its body (or never finishes it) would otherwise hold a connection for ever.
    """
    deadline = float(getattr(request.app.state, "body_read_seconds", BODY_READ_SECONDS))
    try:
        async with asyncio.timeout(deadline):
            return await _read(request, limit)
    except TimeoutError:
        raise BodyTooSlow(f"request body not received within {deadline:g} s") from None


async def read_body_or_refusal(request: Request, limit: int) -> bytes | Response:
    """The body, or a plain-text webhook's refusal of it: 413 "body too large", else 400 "bad request"."""
    try:
        return await read_limited_body(request, limit)
    except BodyTooLarge:
        return PlainTextResponse("body too large", status_code=413)
    # Malformed Content-Length and bodies that trickle past the deadline alike.
    except BadPayload:
        return PlainTextResponse("bad request", status_code=400)


async def _read(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise BodyTooLarge(f"request body over {limit} bytes")
        except ValueError:
            raise BadPayload("invalid Content-Length") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"request body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json_object(body: bytes) -> dict[str, Any]:
    """Parse a JSON object, with a clear error for anything else."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BadPayload(f"body is not valid JSON: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise BadPayload("body must be a JSON object")
    return data


class BackgroundTasks:
    """Work started after a webhook has answered: kept alive until done, failures logged, awaited on drain."""

    def __init__(self, log: logging.Logger, failure: str) -> None:
        self.log = log
        self.failure = failure
        # Strong references: the event loop keeps only weak ones to running tasks.
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run `work` in the background."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error(self.failure, exc_info=task.exception())

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait until no background work is left, including work started by work being drained."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
