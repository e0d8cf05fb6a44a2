"""Liveness (/healthz: the process answers, the database is reachable) and readiness (/readyz: fit for traffic)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from core.db.migrate import COMPATIBLE, CURRENT, schema_state
from core.db.session import Database

Check = Callable[[], Awaitable[bool]]


def health_router(db: Database, *, redis_ping: Check | None = None, draining: Callable[[], bool]) -> APIRouter:
    """`draining` turns readiness off during a graceful shutdown, so a proxy stops sending new work."""
    router = APIRouter()

    @router.get("/healthz")
    async def healthz() -> JSONResponse:
        if await db.ping():
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "database unreachable"}, status_code=503)

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        checks: dict[str, str] = {}
        database = await db.ping()
        checks["database"] = "ok" if database else "unreachable"
        if database:
            try:
                checks["migrations"] = await asyncio.wait_for(schema_state(db), 5)
            except Exception as exc:
                checks["migrations"] = f"unknown: {type(exc).__name__}"
        if redis_ping is not None:
            try:
                checks["redis"] = "ok" if await asyncio.wait_for(redis_ping(), 2) else "unreachable"
            except Exception:
                checks["redis"] = "unreachable"
        if draining():
            checks["process"] = "shutting down"
        # A later schema whose floor admits this code (expand-only since) keeps it in rotation mid-upgrade.
        ready = all(v in ("ok", CURRENT, COMPATIBLE) for v in checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    return router
