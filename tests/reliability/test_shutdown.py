"""SIGTERM: kefu stops taking work, finishes the send in flight, marks it sent, then exits."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import select

from core.db.models import OutboxMessage
from core.db.session import Database
from tests.channels.wechat.fake_api import FakeWeChatAPI
from tests.reliability.procs import GRACEFUL, KefuProcess, eventually
from tests.reliability.test_crash import APP_ID, TOKEN, _signed_params, _xml


async def test_sigterm_lets_the_send_in_flight_finish(db_url: str, tmp_path: Path) -> None:
    api = FakeWeChatAPI(failures=["slow"], slow_seconds=2.0)
    api.start()
    env = {
        "KEFU_DATABASE_URL": db_url,
        "KEFU_ENV": "test",
        "KEFU_MEDIA_DIR": str(tmp_path / "media"),
        "KEFU_WECHAT_TOKEN": TOKEN,
        "KEFU_WECHAT_APP_ID": APP_ID,
        "KEFU_WECHAT_APP_SECRET": "app-secret",
        "KEFU_WECHAT_API_BASE": api.base,
        # Every reply goes out as a customer-service message, which the fake API answers slowly.
        "KEFU_WECHAT_PASSIVE_BUDGET_SECONDS": "0.001",
    }
    server = KefuProcess(env, tmp_path / "kefu.log")
    db = Database(db_url)
    try:
        server.start()
        await server.wait_ready()
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.post(
                f"{server.url}/wechat", params=_signed_params("n1"), content=_xml("oShutdown01", "你好", 1)
            )
        assert response.text == "success"

        async def sending() -> bool:
            return bool(api.sends())

        await eventually(sending, 10)
        # The send is on the wire (the fake takes 2 s to answer) when the signal comes.
        assert server.terminate(timeout=30) in GRACEFUL
        assert "kefu stopped" in (tmp_path / "kefu.log").read_text()
        async with db.transaction() as session:
            statuses = list((await session.execute(select(OutboxMessage.status))).scalars())
        assert statuses == ["sent"], "the send finished and was recorded before exit"
        assert len(api.sends()) == 1
    finally:
        if server.running():
            server.kill()
        await db.dispose()
        api.stop()


async def test_sigterm_turns_readiness_off_first_then_ends_streams_with_a_reconnect_hint(
    db_url: str, tmp_path: Path
) -> None:
    import asyncio
    import signal
    import time

    from tests.reliability.streams import ConsoleWatcher, Visitor
    from tests.reliability.test_cross_process import add_supervisor

    env = {
        "KEFU_DATABASE_URL": db_url,
        "KEFU_ENV": "test",
        "KEFU_MEDIA_DIR": str(tmp_path / "media"),
        "KEFU_CONSOLE_COOKIE_SECURE": "false",
        "KEFU_PRESTOP_SECONDS": "2",
        # Long enough that waiting for it would show: the streams must not hold the stop up.
        "KEFU_SHUTDOWN_GRACE_SECONDS": "20",
    }
    server = KefuProcess(env, tmp_path / "kefu.log")
    server.start()
    visitor, console = Visitor(server.url, server.url), ConsoleWatcher(server.url)
    try:
        await server.wait_ready()
        await add_supervisor(db_url)
        await console.sign_in("sup")
        await console.open()
        await visitor.open()
        assert server.proc is not None
        signalled = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        async with httpx.AsyncClient(base_url=server.url, timeout=2) as http:

            async def out_of_rotation() -> bool:
                return (await http.get("/readyz")).status_code == 503

            await eventually(out_of_rotation, 1)
            not_ready_after = time.monotonic() - signalled
            # Still serving during the pre-stop delay: new requests and the open streams.
            assert (await http.get("/api/chat/config")).status_code == 200
            assert not visitor.ended.is_set() and not console.ended.is_set()
        await asyncio.wait_for(asyncio.gather(visitor.ended.wait(), console.ended.wait()), 10)
        assert visitor.retry_hints[-1] == 500, "the web chat was told to come back soon"
        exit_code = await asyncio.to_thread(server.proc.wait, 20)
        stopped_after = time.monotonic() - signalled
        assert exit_code in GRACEFUL
        print(f"readiness off after {not_ready_after:.2f} s; process gone after {stopped_after:.2f} s")
        assert stopped_after < 10, "open streams did not hold the stop for the whole grace period"
        log = (tmp_path / "kefu.log").read_text()
        assert "kefu stopped" in log
        assert "Traceback" not in log and "CancelledError" not in log, log[-3000:]
    finally:
        await visitor.close()
        await console.close()
        if server.running():
            server.kill()
