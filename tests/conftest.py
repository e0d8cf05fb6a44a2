"""Test fixtures: a fresh database per test on SQLite and PostgreSQL, a manual clock, and the real app."""

from __future__ import annotations

import asyncio
import os
import queue
import shutil
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from core.clock import ManualClock
from core.db.migrate import upgrade
from core.db.session import Database
from core.seed import seed_database
from core.settings import LimitSettings, Settings, config_dir_from_env
from core.tickets.policies import TicketPolicies
from handlers.app import create_app
from handlers.services import Services, build_services

PG_URL = os.environ.get("KEFU_TEST_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/test"
IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_dsn(database: str | None = None) -> str:
    base = PG_URL.replace("postgresql+asyncpg://", "postgresql://")
    if database is None:
        return base
    return base.rsplit("/", 1)[0] + "/" + database


async def _pg_exec(*statements: str) -> None:
    conn = await asyncpg.connect(_pg_dsn(), timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


# Read once, before any test changes the environment: the config the tests' settings read by default.
CONFIG_DIR = config_dir_from_env()


async def _migrate(url: str, *, seeded: bool) -> None:
    db = Database(url)
    try:
        await upgrade(db)
        if seeded:
            # What Services.start writes into an empty database, written here once instead of at every test's
            # start; start then finds it there and leaves it, as on every start of an installation after its first.
            async with db.transaction() as session:
                policies = TicketPolicies.load(CONFIG_DIR)
                await seed_database(session, policies, CONFIG_DIR / "keywords.yaml", ManualClock().now())
    finally:
        await db.dispose()


def _sqlite_template(factory: pytest.TempPathFactory, *, seeded: bool) -> Path:
    path = factory.mktemp("template") / "kefu.db"
    asyncio.run(_migrate(f"sqlite+aiosqlite:///{path}", seeded=seeded))
    return path


def _pg_template(name: str, *, seeded: bool) -> Iterator[str]:
    try:
        asyncio.run(_pg_exec(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI but unreachable at {PG_URL}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    asyncio.run(_migrate(_pg_dsn(name), seeded=seeded))
    yield name
    asyncio.run(_pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated and seeded SQLite file, copied for each test (migrations and seeding run once per session)."""
    return _sqlite_template(tmp_path_factory, seeded=True)


@pytest.fixture(scope="session")
def sqlite_empty_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file with nothing in it, as before kefu's first start."""
    return _sqlite_template(tmp_path_factory, seeded=False)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """One migrated and seeded PostgreSQL database used as the template of each test's own database."""
    yield from _pg_template(f"kefu_tpl_{os.getpid()}", seeded=True)


@pytest.fixture(scope="session")
def pg_empty_template() -> Iterator[str]:
    """One migrated PostgreSQL database with nothing in it, as before kefu's first start."""
    yield from _pg_template(f"kefu_tpl_empty_{os.getpid()}", seeded=False)


class _Dropper:
    """Drops the tests' PostgreSQL databases in a thread of its own.

    DROP DATABASE waits for a checkpoint (0.1–3 s, 5–15 s when the disk is busy); the next test need not wait
    for it too. The databases waiting are dropped together, each on its own connection: PostgreSQL serves
    checkpoints asked for at once with one, so a backlog costs about one checkpoint, not one each. Up to 64
    (about 10 MB each) may wait; the session waits for the last of them.
    """

    def __init__(self) -> None:
        self._names: queue.Queue[str | None] = queue.Queue(maxsize=64)
        self._errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="drop-test-databases", daemon=True)
        self._thread.start()

    def drop(self, name: str) -> None:
        self._names.put(name)

    def _run(self) -> None:
        done = False
        while not done:
            batch = [self._names.get()]
            while not self._names.empty():
                batch.append(self._names.get_nowait())
            done = None in batch
            names = [name for name in batch if name is not None]
            if names:
                asyncio.run(self._drop_all(names))

    async def _drop_all(self, names: list[str]) -> None:
        await asyncio.gather(*(self._drop_one(name) for name in names))

    async def _drop_one(self, name: str) -> None:
        # A few tries: the soak tests restart PostgreSQL, perhaps while the last test's database is dropped.
        for attempt in range(30):
            try:
                await _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except Exception as exc:  # the thread lives on, or the tests would wait for it forever
                if attempt == 29:
                    self._errors.append(exc)  # reported at the end of the session
                else:
                    await asyncio.sleep(1)

    def close(self) -> None:
        self._names.put(None)
        self._thread.join()
        if self._errors:
            raise RuntimeError(f"{len(self._errors)} test databases were not dropped: {self._errors[0]!r}")


@pytest.fixture(scope="session")
def pg_dropper() -> Iterator[_Dropper]:
    dropper = _Dropper()
    yield dropper
    dropper.close()


def _copy(request: pytest.FixtureRequest, tmp_path: Path, template: str) -> Iterator[str]:
    """This test's own copy of the SQLite or PostgreSQL template named `template`."""
    if request.param == "sqlite":
        path = tmp_path / "kefu.db"
        shutil.copy(request.getfixturevalue(f"sqlite_{template}"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    source = request.getfixturevalue(f"pg_{template}")
    dropper: _Dropper = request.getfixturevalue("pg_dropper")
    name = f"kefu_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_exec(f'CREATE DATABASE "{name}" TEMPLATE "{source}"'))
    yield _pg_dsn(name)
    dropper.drop(name)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database for this test alone, migrated and holding what kefu's first start writes."""
    yield from _copy(request, tmp_path, "template")


@pytest.fixture(params=["sqlite", "postgres"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database for this test alone, migrated and empty, for tests of what the first start writes."""
    yield from _copy(request, tmp_path, "empty_template")


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes() -> Iterator[None]:
    """argon2id at its lowest cost in the test process (kefu commands run in it too); `kefu serve` keeps kefu's.

    kefu's cost (argon2-cffi's default: 64 MiB, three passes) is the point in production and 0.3-0.4 s per hash
    or check here; the console tests sign in hundreds of people. What is tested (the format, a wrong password
    refused, the strength rules) does not depend on the cost.
    """
    from argon2 import PasswordHasher

    from handlers.console import passwords

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_HASHER", cheap)
        dummy = cheap.hash("kefu-no-such-user")
        patch.setattr(passwords, "_dummy_hash", lambda: dummy)
        yield


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


# Tests post far faster than people and the abuse limits follow the wall clock: off here, set where tested.
NO_LIMITS = LimitSettings(messages_per_minute=0, address_messages_per_minute=0, address_conversations_per_hour=0)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=db_url, env="test", media_dir=tmp_path / "media", limits=NO_LIMITS)


@pytest.fixture
async def services(settings: Settings, clock: ManualClock) -> AsyncIterator[Services]:
    built = build_services(settings, clock)
    await built.start(migrate=False)
    yield built
    await built.stop()


@pytest.fixture
async def web(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the real app (background ticks off: tests drive time themselves)."""
    app = create_app(services.settings, services=services, background=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


REDIS_URL = os.environ.get("KEFU_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_url() -> str:
    """The test Redis; absent outside CI, the test is skipped; in CI, it fails."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if IN_CI:
            pytest.fail(f"Redis is required in CI but unreachable at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    return REDIS_URL
