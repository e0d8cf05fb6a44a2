"""Operations: readiness and health, Prometheus metrics, process roles, background jobs, singleton locks."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
from alembic import command
from pydantic import SecretStr
from sqlalchemy.engine import Connection

from core.clock import ManualClock
from core.db.migrate import alembic_config, upgrade
from core.live import LiveEvent
from core.settings import Settings
from core.singleton import singleton
from handlers.app import create_app
from handlers.background import BackgroundJobs
from handlers.services import Services, build_services
from tests.support.chat import Chat


async def _client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(services.settings, services=services, background=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client,
    ):
        yield client


async def test_readiness_reports_database_and_migrations(web: httpx.AsyncClient, services: Services) -> None:
    ready = await web.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "checks": {"database": "ok", "migrations": "current"}}
    assert (await web.get("/healthz")).json() == {"status": "ok"}

    def one_back(connection: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "-1")

    async with services.db.engine.begin() as conn:
        await conn.run_sync(one_back)
    behind = await web.get("/readyz")
    assert behind.status_code == 503 and behind.json()["checks"]["migrations"] == "behind"
    await upgrade(services.db, "head")


async def test_readiness_fails_when_the_configured_redis_is_down(settings: Settings, clock: ManualClock) -> None:
    settings = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    services = build_services(settings, clock)
    async for client in _client(services):
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["redis"] == "unreachable"
        # The service itself keeps working without Redis.
        assert (await Chat(client).send("你好")) != []


async def test_metrics_count_messages_and_read_backlogs(web: httpx.AsyncClient, services: Services) -> None:
    chat = Chat(web)
    await chat.send("你好")
    body = (await web.get("/metrics")).text
    assert 'kefu_messages_total{channel="web",direction="in"} 1.0' in body
    assert 'kefu_messages_total{channel="web",direction="out"} 1.0' in body
    assert 'kefu_turn_seconds_count{channel="web"} 1.0' in body
    assert 'kefu_outbox_rows{status="failed"} 0.0' in body
    assert "kefu_followups_due 0.0" in body


async def test_metrics_token_is_required_when_set(settings: Settings, clock: ManualClock) -> None:
    services = build_services(settings.model_copy(update={"metrics_token": SecretStr("scrape-secret")}), clock)
    async for client in _client(services):
        assert (await client.get("/metrics")).status_code == 401
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = await client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
        assert right.status_code == 200 and "kefu_outbox_rows" in right.text


async def test_a_worker_serves_no_pages_and_a_web_process_runs_no_jobs(settings: Settings, clock: ManualClock) -> None:
    worker = build_services(settings.model_copy(update={"role": "worker"}), clock)
    async for client in _client(worker):
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.post("/api/chat/messages", json={"text": "你好"})).status_code == 404
    web_only = settings.model_copy(update={"role": "web"})
    services = build_services(web_only, clock)
    app = create_app(web_only, services=services, background=True)
    async with app.router.lifespan_context(app):
        assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("job-")]


async def test_background_jobs_never_overlap_and_stop_waits_for_the_running_one() -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    runs: list[str] = []

    async def slow() -> None:
        runs.append("start")
        started.set()
        await release.wait()
        runs.append("end")

    jobs = BackgroundJobs()
    jobs.every("slow", 0.01, slow)
    jobs.start()
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.sleep(0.1)  # ten more ticks pass while the first run is busy
    assert runs == ["start"] and jobs.busy == ["slow"]
    stopping = asyncio.create_task(jobs.stop(grace=5))
    await asyncio.sleep(0.05)
    assert not stopping.done(), "stop waits for the running job"
    release.set()
    await asyncio.wait_for(stopping, 5)
    assert runs == ["start", "end"]


async def test_stop_cancels_a_job_that_outlives_the_grace_period() -> None:
    cancelled = asyncio.Event()

    async def stuck() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    jobs = BackgroundJobs()
    jobs.every("stuck", 0.01, stuck)
    jobs.start()
    await asyncio.sleep(0.1)
    assert jobs.busy == ["stuck"]
    await jobs.stop(grace=0.1)
    assert cancelled.is_set()


async def test_a_singleton_job_runs_in_one_process_at_a_time(services: Services, settings: Settings) -> None:
    other = build_services(settings, services.clock)
    try:
        async with singleton(services.db, "weekly-report") as first:
            assert first
            async with singleton(other.db, "weekly-report") as second:
                # SQLite runs everything in one process; PostgreSQL's advisory lock refuses the second holder.
                assert second is services.db.is_sqlite
            async with singleton(other.db, "token-refresh") as unrelated:
                assert unrelated
        async with singleton(other.db, "weekly-report") as after:
            assert after
    finally:
        await other.stop()


async def test_two_processes_see_each_others_live_events_through_redis(
    settings: Settings, clock: ManualClock, redis_url: str
) -> None:
    isolated = settings.model_copy(update={"redis_url": redis_url, "redis_prefix": f"kefu-test-{uuid.uuid4().hex}"})
    first, second = build_services(isolated, clock), build_services(isolated, clock)
    seen: list[LiveEvent] = []

    async def watch() -> None:
        async for event in second.live.subscribe():
            seen.append(event)
            if event.kind == "message" and event.data["direction"] == "out":
                return

    async for client_a in _client(first):
        async for _client_b in _client(second):
            watcher = asyncio.create_task(watch())
            await asyncio.sleep(0.05)
            await Chat(client_a).send("你好")
            await asyncio.wait_for(watcher, 5)
    assert [(e.kind, e.data["direction"]) for e in seen] == [("message", "in"), ("message", "out")]
    assert seen[0].data["text"] == "你好"
