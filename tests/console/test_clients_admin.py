"""Admins edit a client's tier and details, and import clients from CSV: preview first, then commit."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from core.db.models import AuditEntry, Client
from handlers.console import client_import
from handlers.services import Services
from tests.console.conftest import SignIn
from tests.console.helpers import Rep

PREVIEW = "/console/api/admin/clients-import/preview"
COMMIT = "/console/api/admin/clients-import/commit"


async def _post_csv(admin: Rep, path: str, raw: bytes, **params: str) -> httpx.Response:
    return await admin.http.post(
        path,
        content=raw,
        params=params,
        headers={"X-CSRF-Token": admin.csrf, "content-type": "text/csv; charset=utf-8"},
    )


async def _clients(services: Services) -> list[tuple[str, str, str | None, str]]:
    async with services.db.transaction() as session:
        rows = (await session.execute(select(Client).order_by(Client.id))).scalars()
        return [(c.name, c.company, c.phone, c.tier) for c in rows]


async def _add_client(services: Services, **fields: Any) -> int:
    async with services.db.transaction() as session:
        client = Client(created_at=services.clock.now(), **fields)
        session.add(client)
        await session.flush()
        return client.id


async def test_edit_one_clients_tier_and_details(services: Services, signed_in: SignIn) -> None:
    admin = await signed_in("ada", role="admin")
    client_id = await _add_client(services, name="王五", company="星火", phone="13800138000", tier="C")
    found = (await admin.get("/console/api/admin/clients", params={"q": "星火"})).json()
    assert found["tiers"] == ["A", "B", "C", "D"]
    assert found["clients"] == [
        {"id": client_id, "name": "王五", "company": "星火", "phone": "138****8000", "tier": "C"}
    ]
    path = f"/console/api/admin/clients/{client_id}"
    for body in ({"tier": "Z", "name": "王五"}, {"tier": "A", "phone": "12345"}, {"tier": ""}):
        assert (await admin.post(path, body)).status_code == 400, body
    assert (await admin.post("/console/api/admin/clients/9999", {"tier": "A"})).status_code == 404
    assert await _clients(services) == [("王五", "星火", "13800138000", "C")]
    # No phone given: the number on record stays.
    saved = await admin.post(path, {"tier": "a", "name": "王五", "company": "星火传媒"})
    assert saved.status_code == 200 and saved.json()["tier"] == "A"
    assert await _clients(services) == [("王五", "星火传媒", "13800138000", "A")]
    assert services.policies.priority("A", "complaint", "") == "P1"
    async with services.db.transaction() as session:
        entry = (await session.execute(select(AuditEntry).where(AuditEntry.action == "client_changed"))).scalar_one()
    assert entry.target == f"client:{client_id}" and entry.user_id == admin.user_id
    assert entry.data["before"]["tier"] == "C" and entry.data["after"]["tier"] == "A"
    assert entry.data["after"]["phone"] == "138****8000"  # the audit log keeps no full number


CSV = (
    "姓名,公司,手机号,客户等级\n"
    "张三,甲公司,138 0013 8001,A\n"  # new
    "李四,乙公司,13800138002,b\n"  # matches an existing client by phone: updated
    "王五,丙公司,12345,A\n"  # bad phone
    "赵六,丁公司,13800138003,Z\n"  # unknown tier
    "钱七,戊公司,13800138001,C\n"  # the same phone as line 2
    "孙八,己公司,,A\n"  # no phone
    "\n"
)


async def test_csv_preview_writes_nothing_and_commit_writes_the_valid_rows(
    services: Services, signed_in: SignIn
) -> None:
    admin = await signed_in("ada", role="admin")
    existing = await _add_client(services, name="Li", company="", phone="13800138002", tier="C")
    before = await _clients(services)
    raw = "\ufeff".encode() + CSV.encode("utf-8")  # Excel's "CSV UTF-8" starts with a byte-order mark
    preview = await _post_csv(admin, PREVIEW, raw)
    assert preview.status_code == 200, preview.text
    data = preview.json()
    assert await _clients(services) == before
    by_line = {r["line"]: r for r in data["rows"]}
    assert [r["line"] for r in data["rows"]] == [2, 3, 4, 5, 6, 7]
    assert by_line[2]["action"] == "create" and by_line[2]["phone"] == "13800138001"
    assert by_line[3]["action"] == "update" and by_line[3]["client_id"] == existing and by_line[3]["tier"] == "B"
    assert [e["code"] for e in by_line[4]["errors"]] == ["bad_phone"]
    assert [e["code"] for e in by_line[5]["errors"]] == ["unknown_tier"]
    assert by_line[6]["errors"] == [{"code": "duplicate", "value": "2"}]
    assert [e["code"] for e in by_line[7]["errors"]] == ["missing_phone"]
    assert (data["created"], data["updated"], data["skipped"]) == (1, 1, 4)

    # A commit must send the file that was previewed.
    assert (await _post_csv(admin, COMMIT, raw + b"x,y,13800138009,A\n", digest=data["digest"])).status_code == 409
    assert await _clients(services) == before
    committed = await _post_csv(admin, COMMIT, raw, digest=data["digest"])
    assert committed.status_code == 200, committed.text
    assert (committed.json()["created"], committed.json()["skipped"]) == (1, 4)
    assert await _clients(services) == [("李四", "乙公司", "13800138002", "B"), ("张三", "甲公司", "13800138001", "A")]
    async with services.db.transaction() as session:
        entry = (await session.execute(select(AuditEntry).where(AuditEntry.action == "clients_imported"))).scalar_one()
    assert entry.data["skipped"] == [4, 5, 6, 7] and entry.data["created"] == 1 and entry.data["updated"] == 1
    # Importing the same file again creates nobody: both valid rows now match by phone.
    again = (await _post_csv(admin, PREVIEW, raw)).json()
    assert (again["created"], again["updated"]) == (0, 2)


async def test_csv_files_that_cannot_be_read_are_refused_whole(services: Services, signed_in: SignIn) -> None:
    admin = await signed_in("ada", role="admin")
    cases = [
        (b"", "empty"),
        ("姓名,公司\n张三,甲\n".encode(), "missing column: phone"),
        ("手机号,等级\n13800138001,A\n".encode("gb18030"), "not UTF-8"),
        (b"phone,tier\n" + b"13800138001,A\n" * (client_import.MAX_ROWS + 1), "more than"),
        (b"phone,tier\n" + b"1" * (client_import.MAX_BYTES + 1), "larger than"),
    ]
    for raw, reason in cases:
        response = await _post_csv(admin, PREVIEW, raw)
        assert response.status_code in (400, 413), (reason, response.text)
        assert reason in response.text or response.status_code == 413, (reason, response.text)
    async with services.db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(Client)) == 0
