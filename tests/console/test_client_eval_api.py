"""The client evaluation's console API: supervisors read it, only admins edit scores, import and decide."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from core.clock import ManualClock
from core.db.models import AuditEntry, Client, ClientScore
from handlers.services import Services
from tests.console.conftest import SignIn
from tests.console.helpers import Rep
from tests.support.client_eval_fixture import seed_clients

VIEW = "/console/api/client-evaluation"
SUGGEST = "/console/api/admin/client-evaluation/suggest"
IMPORT = "/console/api/admin/client-scores-import"
# Ten local (Shanghai) days up to today: Nov 1..10, the fixture's period; the ten days before are Oct 22..31.
TODAY = datetime(2026, 11, 10, 12, tzinfo=UTC)
PERIOD = {"days": "10"}


async def _post_csv(admin: Rep, raw: bytes) -> httpx.Response:
    return await admin.http.post(
        IMPORT, content=raw, headers={"X-CSRF-Token": admin.csrf, "content-type": "text/csv; charset=utf-8"}
    )


async def _scores(services: Services) -> dict[int, tuple[int | None, int | None, int | None]]:
    async with services.db.transaction() as session:
        rows = (await session.execute(select(ClientScore))).scalars()
        return {r.client_id: (r.business_importance, r.market_influence, r.payment_timeliness) for r in rows}


async def test_readers_and_editors(services: Services, clock: ManualClock, signed_in: SignIn) -> None:
    clock.set(TODAY)
    ids = await seed_clients(services)
    rep = await signed_in("rex")
    boss = await signed_in("sue", role="supervisor")
    admin = await signed_in("ada", role="admin")
    assert (await rep.get(VIEW)).status_code == 403
    assert (await rep.get("/console/client-evaluation")).status_code == 403
    page = await boss.get("/console/client-evaluation")
    assert page.status_code == 200 and "client_eval.js" in page.text
    seen = (await boss.get(VIEW, params=PERIOD)).json()
    assert seen["period"] == "2026-11-01..2026-11-10" and seen["total"] == 4 and seen["may_edit"] is False
    first, second = seen["clients"][:2]
    assert (first["client_id"], first["score"], first["rank"]) == (ids.strong, 100.0, 1)
    assert (second["client_id"], second["score"], second["complaints"], second["sla_met_rate"]) == (
        ids.falling,
        51.1,
        2,
        0.625,
    )
    assert (await boss.get(VIEW, params={"days": "3"})).status_code == 422
    # Supervisors read; every change is the admins'.
    for person in (rep, boss):
        assert (await person.post(SUGGEST)).status_code == 403
        assert (
            await person.post(f"/console/api/admin/client-scores/{ids.unknown}", {"market_influence": 4})
        ).status_code == 403
        assert (
            await _post_csv(person, b"client_id,\xe5\xb8\x82\xe5\x9c\xba\xe5\xbd\xb1\xe5\x93\x8d\n1,4\n")
        ).status_code == 403
    assert await _scores(services) == {
        ids.falling: (4, 3, 2),
        ids.strong: (5, 5, 5),
        ids.weak: (1, 1, 1),
    }

    made = await admin.http.post(SUGGEST, params=PERIOD, headers={"X-CSRF-Token": admin.csrf})
    assert made.status_code == 200 and made.json()["added"] == 2
    pending = {s["client_id"]: s for s in made.json()["suggestions"]}
    assert pending[ids.falling]["to_tier"] == "C" and pending[ids.falling]["name"] == "王小明"
    falling, strong = pending[ids.falling]["id"], pending[ids.strong]["id"]
    for person in (rep, boss):
        assert (await person.post(f"/console/api/admin/tier-suggestions/{falling}/accept")).status_code == 403
    assert (await admin.post(f"/console/api/admin/tier-suggestions/{falling}/maybe")).status_code == 404
    accepted = await admin.post(f"/console/api/admin/tier-suggestions/{falling}/accept")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert (await admin.post(f"/console/api/admin/tier-suggestions/{falling}/dismiss")).status_code == 409
    assert (await admin.post(f"/console/api/admin/tier-suggestions/{strong}/dismiss")).json()["status"] == "dismissed"
    async with services.db.transaction() as session:
        tiers = dict((await session.execute(select(Client.id, Client.tier))).all())
        entry = (
            await session.execute(select(AuditEntry).where(AuditEntry.action == "client_tier_changed"))
        ).scalar_one()
    assert tiers[ids.falling] == "C" and tiers[ids.strong] == "B"
    assert entry.user_id == admin.user_id and entry.data["before"] == "B" and entry.data["after"] == "C"
    # The tier feeds priority as before: a C client's complaint is P2, its suggestion is P4.
    assert services.policies.priority("C", "suggestion", "") == "P4"
    assert (await boss.get(VIEW, params=PERIOD)).json()["suggestions"] == []


async def test_admin_edits_one_clients_scores(services: Services, clock: ManualClock, signed_in: SignIn) -> None:
    clock.set(TODAY)
    ids = await seed_clients(services)
    admin = await signed_in("ada", role="admin")
    path = f"/console/api/admin/client-scores/{ids.unknown}"
    for bad in ({"market_influence": 6}, {"market_influence": "x"}, {"payment_timeliness": 0}):
        response = await admin.post(path, bad)
        assert response.status_code == 400, bad
    assert ids.unknown not in await _scores(services)
    saved = await admin.post(path, {"market_influence": 4, "business_importance": "5"})
    assert saved.json() == {
        "client_id": ids.unknown,
        "business_importance": 5,
        "market_influence": 4,
        "payment_timeliness": None,
    }
    # A blank clears one score and leaves the others.
    await admin.post(path, {"business_importance": ""})
    assert (await _scores(services))[ids.unknown] == (None, 4, None)
    assert (await admin.post("/console/api/admin/client-scores/99999", {"market_influence": 4})).status_code == 404
    async with services.db.transaction() as session:
        entries = (
            (await session.execute(select(AuditEntry).where(AuditEntry.action == "client_scores_changed")))
            .scalars()
            .all()
        )
    assert len(entries) == 2 and entries[0].data["after"]["market_influence"] == 4


async def test_csv_import_all_or_nothing(services: Services, clock: ManualClock, signed_in: SignIn) -> None:
    clock.set(TODAY)
    ids = await seed_clients(services)
    admin = await signed_in("ada", role="admin")
    before = await _scores(services)
    bad = (
        "客户编号,手机号,业务重要性,市场影响,付款及时性\n"
        f"{ids.unknown},,3,3,3\n"
        f"{ids.strong},,7,3,3\n"  # out of range
        ",12345,1,1,1\n"  # bad phone
        f"99999,,1,1,1\n"  # no such client
        f"{ids.unknown},,2,2,2\n"  # the same client again
    ).encode()
    refused = await _post_csv(admin, bad)
    assert refused.status_code == 400
    error = refused.json()["error"] if "error" in refused.json() else str(refused.json())
    assert "nothing was imported" in error
    for line in ("line 3", "line 4", "line 5", "line 6"):
        assert line in error
    assert "line 2:" not in error and "line 6: the same client as line 2" in error
    assert await _scores(services) == before
    good = (
        "\ufeff手机号,客户编号,付款及时性\n"  # Excel's BOM; the phone finds the client
        "138 0013 8000,,5\n"
        f",{ids.unknown},3\n"
    ).encode()
    imported = await _post_csv(admin, good)
    assert imported.status_code == 200 and imported.json() == {"imported": 2}
    after = await _scores(services)
    # Only the column in the file changes; other scores stay.
    assert after[ids.falling] == (4, 3, 5) and after[ids.unknown] == (None, None, 3)
    assert (await _post_csv(admin, b"name,phone\nx,13800138000\n")).status_code == 400
    assert (await _post_csv(admin, b"\xff\xfe")).status_code == 400


async def test_the_quarterly_evaluation_is_in_the_archive(
    services: Services, clock: ManualClock, signed_in: SignIn
) -> None:
    from core.weekly_report import WeeklyRecipients
    from handlers.weekly_reports import WeeklyReports

    await seed_clients(services)
    clock.set(datetime(2027, 1, 2, tzinfo=UTC))
    made = await WeeklyReports(services).evaluations.create(
        "2026-Q4", now=clock.now(), recipients=WeeklyRecipients(email=False, telegram=False)
    )
    assert made is not None
    boss = await signed_in("sue", role="supervisor")
    listed = (await boss.get("/console/api/reports/archive")).json()["reports"]
    assert [(r["week"], r["tables"]) for r in listed] == [("2026-Q4", ["client_evaluation"])]
    page = await boss.get("/console/reports/archive/2026-Q4")
    assert page.status_code == 200 and "客户评估 2026-Q4" in page.text
    csv = await boss.get("/console/reports/archive/2026-Q4/client_evaluation.csv")
    assert csv.status_code == 200 and "王小明" in csv.text
    assert (await boss.get("/console/reports/archive/2026-Q5")).status_code == 400
    rep = await signed_in("rex")
    assert (await rep.get("/console/reports/archive/2026-Q4")).status_code == 403
