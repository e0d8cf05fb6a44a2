"""SIGTERM: kefu stops taking work, finishes the send in flight, marks it sent, then exits."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import select

from core.db.models import OutboxMessage
from core.db.session import Database
from tests.reliability.procs import GRACEFUL, KefuProcess, eventually
from tests.reliability.test_crash import APP_ID, TOKEN, _signed_params, _xml
from tests.wechat.fake_api import FakeWeChatAPI


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
