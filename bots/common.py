"""Helpers shared by every channel's webhook: bounded bodies, safe JSON parsing, background work."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine
from typing import Any

from fastapi import Request

from core.errors import KefuError


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
