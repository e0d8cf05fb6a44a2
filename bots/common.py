"""HTTP helpers shared by every channel's webhook: bounded bodies and safe JSON parsing."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from core.errors import KefuError


class BodyTooLarge(KefuError):
    """The request body is larger than the configured limit."""

    status_code = 413


class BadPayload(KefuError):
    """The request body is not what the endpoint accepts."""

    status_code = 400


async def read_limited_body(request: Request, limit: int) -> bytes:
    """Read at most `limit` bytes, refusing early on Content-Length and while streaming chunked bodies."""
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
