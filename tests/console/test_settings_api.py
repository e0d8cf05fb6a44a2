"""Admins' settings: documents checked by their loaders, saved with a revision, put in force in every process."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from core.clock import ManualClock, as_utc
from core.db.models import AuditEntry, ConfigDocument, Department, Notification, Ticket
from core.settings import Settings
from handlers.services import Services, build_services
from tests.console.conftest import SignIn
from tests.console.helpers import Rep, escalate, outbound_texts, say

BASE = "/console/api/admin/config/"


@pytest.fixture
async def other(settings: Settings, clock: ManualClock, services: Services) -> AsyncIterator[Services]:
    """A second kefu process on the same database (another worker, the scheduler)."""
    built = build_services(settings, clock)
    await built.start(migrate=False)
    yield built
    await built.stop()


async def _get(admin: Rep, name: str) -> dict[str, Any]:
    response = await admin.get(BASE + name)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def _save(admin: Rep, name: str, body: Any, revision: int | None = None) -> Any:
    if revision is None:
        revision = (await _get(admin, name))["revision"]
    return await admin.post(BASE + name, {"revision": revision, "body": body})


async def _counts(services: Services) -> tuple[int, int]:
    async with services.db.transaction() as session:
        docs = await session.scalar(select(func.count()).select_from(ConfigDocument))
        audits = await session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action != "login"))
    return int(docs or 0), int(audits or 0)


async def _ticket(services: Services, number: str) -> Ticket:
    async with services.db.transaction() as session:
        return (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one()


async def test_only_admins_reach_the_settings(signed_in: SignIn) -> None:
    rep = await signed_in("ann", role="rep")
    sup = await signed_in("sue", role="supervisor")
    admin = await signed_in("ada", role="admin")
    gets = [
        "/console/settings",
        BASE + "sla",
        BASE + "texts",
        "/console/api/admin/departments",
        "/console/api/admin/clients",
    ]
    posts = [
        BASE + "sla",
        "/console/api/admin/departments",
        "/console/api/admin/departments/cs",
        "/console/api/admin/clients/1",
    ]
    for person in (rep, sup):
        for path in gets:
            assert (await person.get(path)).status_code == 403, path
        for path in posts:
            assert (await person.post(path, {"revision": 0, "body": {}})).status_code == 403, path
        for path in ("/console/api/admin/clients-import/preview", "/console/api/admin/clients-import/commit"):
            response = await person.http.post(
                path, content=b"phone,tier\n", headers={"X-CSRF-Token": person.csrf, "content-type": "text/csv"}
            )
            assert response.status_code == 403, path
    for path in gets:
        assert (await admin.get(path)).status_code == 200, path


BAD = {
    "sla": [
        ({"targets": {"P1": {"first_response_minutes": 30, "resolution_hours": 8}}}, "no target for P2"),
        ("shipped:targets.P1.first_response_minutes=-5", "first_response_minutes must be a number above 0"),
        ("shipped:targets.P2.resolution_hours=abc", "resolution_hours must be a number"),
        ("shipped:priority.A.complaint=P9", "priority must be one of P1..P4"),
        ("shipped:priority.AA={}", "one capital letter"),
        ("shipped:priority.B.refund=P1", "unknown category"),
    ],
    "routing": [
        ({"departments": []}, "lists no departments"),
        ("shipped:default=nowhere", "default department"),
        ('shipped:departments.0.categories=["gossip"]', "unknown categories"),
        ({"default": "ghost", "departments": [{"code": "ghost", "name": "Ghost"}]}, "do not exist: ghost"),
    ],
    "business_hours": [
        ('shipped:hours.monday=["18:00-09:00"]', "empty or reversed"),
        ('shipped:holidays=["2026-02-30"]', "not a date"),
        ("shipped:timezone=Mars/Olympus", "unknown time zone"),
        ({"hours": {}}, "no business hours"),
        ("shipped:lunch=1", "unknown keys"),
        ('shipped:holiday_source="almanac"', "unknown holiday source"),
        ('shipped:covered_years=["next"]', "not a year"),
    ],
    "canned_replies": [
        ({"replies": [{"id": "x", "title": {"zh": "a"}, "text": {"zh": "您好 {client_nam}"}}]}, "unknown placeholders"),
        ({"replies": [{"id": "x", "title": {"en": "a"}, "text": {"en": "hi"}}]}, "no zh text"),
        ({"replies": [{"id": "x", "title": {"zh": "a"}, "text": {"zh": "您好 {"}}]}, "malformed placeholder"),
        ({"replies": [{"title": {"zh": "a"}, "text": {"zh": "b"}}]}, "has no id"),
    ],
    "texts": [
        (
            {"overrides": {"zh": {"ticket.opened": "已创建工单"}}},
            "placeholders {category}, {first_response}, {ticket_no}",
        ),
        ({"overrides": {"zh": {"greeting.welcome": "您好 {name}"}}}, "placeholders none"),
        ({"overrides": {"zh": {"console.title": "工作台"}}}, "not a client text"),
        ({"overrides": {"fr": {"greeting.hello": "Bonjour"}}}, "unknown language"),
        ({"overrides": {"zh": {"greeting.hello": "  "}}}, "a text of 1 to"),
        ({"overrides": {"zh": {"no.such.key": "x"}}}, "not a client text"),
    ],
}


def _edit(shipped: dict[str, Any], spec: str) -> dict[str, Any]:
    """'shipped:a.b.c=value' applied to a copy of the shipped document (value as JSON, else text)."""
    import json

    body = copy.deepcopy(shipped)
    path, raw = spec.removeprefix("shipped:").split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    keys = path.split(".")
    node: Any = body
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[keys[-1]] = value
    return body


async def test_bad_documents_are_refused_with_the_reason_and_nothing_is_saved(
    services: Services, signed_in: SignIn
) -> None:
    admin = await signed_in("ada", role="admin")
    before = await _counts(services)
    for name, cases in BAD.items():
        current = await _get(admin, name)
        for body, reason in cases:
            sent = _edit(current["shipped"], body) if isinstance(body, str) else body
            response = await _save(admin, name, sent, current["revision"])
            assert response.status_code == 400, (name, body, response.text)
            assert reason in response.json()["error"], (name, body, response.json())
    assert (await admin.post(BASE + "sla", {"body": {}})).status_code == 400  # no revision
    assert (await admin.post(BASE + "nothing", {"revision": 0, "body": {}})).status_code == 400
    assert await _counts(services) == before
    # What runs is still the shipped config.
    assert services.policies.sla["P1"].first_response == timedelta(minutes=30)


async def test_a_stale_revision_gets_409_and_does_not_overwrite(services: Services, signed_in: SignIn) -> None:
    ada = await signed_in("ada", role="admin")
    ben = await signed_in("ben", role="admin")
    loaded = await _get(ada, "sla")
    assert loaded["revision"] == 0 and loaded["body"] == loaded["shipped"]
    first = _edit(loaded["shipped"], "shipped:targets.P1.first_response_minutes=20")
    second = _edit(loaded["shipped"], "shipped:targets.P1.first_response_minutes=45")
    assert (await _save(ada, "sla", first, 0)).json() == {"name": "sla", "revision": 1}
    refused = await _save(ben, "sla", second, 0)
    assert refused.status_code == 409, refused.text
    reloaded = await _get(ben, "sla")
    assert reloaded["revision"] == 1 and reloaded["body"]["targets"]["P1"]["first_response_minutes"] == 20
    assert services.policies.sla["P1"].first_response == timedelta(minutes=20)


async def test_saved_sla_routing_and_texts_reach_the_next_ticket_in_another_process(
    services: Services, other: Services, clock: ManualClock, signed_in: SignIn
) -> None:
    admin = await signed_in("ada", role="admin")
    sla = (await _get(admin, "sla"))["shipped"]
    for n, p in enumerate(("P1", "P2", "P3", "P4"), 1):
        sla["targets"][p] = {"first_response_minutes": 7 * n, "resolution_hours": 3 * n}
    assert (await _save(admin, "sla", sla)).status_code == 200
    routing = (await _get(admin, "routing"))["shipped"]
    for dept in routing["departments"]:
        dept["categories"] = []
    routing["default"] = "media"
    assert (await _save(admin, "routing", routing)).status_code == 200
    override = "转人工成功，工单 {ticket_no}，请稍候（测试文案）。"
    texts = {"overrides": {"zh": {"handoff.queued": override}}}
    assert (await _save(admin, "texts", texts)).status_code == 200

    # The other process runs the shipped config until its watcher polls (every second in a running kefu).
    assert other.policies.default_department == "cs"
    assert sorted(await other.config.check()) == ["routing", "sla", "texts"]
    for process, visitor in ((other, "v-other"), (services, "v-here")):
        conversation_id, number = await escalate(process, visitor)
        ticket = await _ticket(process, number)
        n = int(ticket.priority[1])
        created = as_utc(ticket.created_at)
        assert as_utc(ticket.first_response_due) == process.calendar.add(created, timedelta(minutes=7 * n))
        assert as_utc(ticket.resolution_due) == process.calendar.add(created, timedelta(hours=3 * n))
        async with process.db.transaction() as session:
            dept = await session.get(Department, ticket.department_id)
        assert dept is not None and dept.code == "media"
        assert override.format(ticket_no=number) in await outbound_texts(process, conversation_id)

    # Resetting an override to the shipped text: the next reply is the shipped one again.
    assert (await _save(admin, "texts", {"overrides": {}})).status_code == 200
    await other.config.check()
    conversation_id, number = await escalate(other, "v-again")
    sent = await outbound_texts(other, conversation_id)
    assert other.texts.get("handoff.queued", ticket_no=number) in sent
    assert "测试文案" not in "".join(sent)


async def test_business_hours_and_canned_replies_are_put_in_force(
    services: Services, other: Services, signed_in: SignIn
) -> None:
    admin = await signed_in("ada", role="admin")
    hours = (await _get(admin, "business_hours"))["shipped"]
    # The holidays come from chinese-calendar; the admins' lists, empty as shipped, override it.
    assert hours["holiday_source"] == "chinese-calendar" and hours["extra_workdays"] == []
    for day in ("saturday", "sunday"):
        hours["hours"][day] = ["10:00-16:00"]
    hours["holidays"].append("2026-12-24")
    assert (await _save(admin, "business_hours", hours)).status_code == 200
    canned = {
        "replies": [
            {"id": "hi", "title": {"zh": "问候", "en": "Hi"}, "text": {"zh": "{client_name}您好（新）", "en": "Hi"}}
        ]
    }
    assert (await _save(admin, "canned_replies", canned)).status_code == 200
    await other.config.check()
    for process in (services, other):
        assert process.calendar is process.desk.calendar
        assert process.calendar.weekly_hours.get(5)
        assert [r.id for r in process.canned.replies] == ["hi"]
    _, number = await escalate(services, "v1")
    view = (await admin.get(f"/console/api/tickets/{number}")).json()
    assert [c["title"] for c in view["canned"]] == ["问候"]


async def test_saves_are_audited_with_before_and_after(services: Services, signed_in: SignIn) -> None:
    admin = await signed_in("ada", role="admin")
    sla = (await _get(admin, "sla"))["shipped"]
    sla["urgent_cues"] = ["紧急"]
    assert (await _save(admin, "sla", sla)).status_code == 200
    async with services.db.transaction() as session:
        entry = (await session.execute(select(AuditEntry).where(AuditEntry.action == "config_saved"))).scalar_one()
    assert entry.user_id == admin.user_id and entry.target == "config:sla"
    assert entry.data["revision"] == 1 and entry.data["after"]["urgent_cues"] == ["紧急"]
    assert "律师" in entry.data["before"]["urgent_cues"]


async def test_department_names_and_heads_are_edited_and_heads_hear_of_new_tickets(
    services: Services, signed_in: SignIn
) -> None:
    admin = await signed_in("ada", role="admin")
    head = await signed_in("hank", role="supervisor")
    listing = (await admin.get("/console/api/admin/departments")).json()
    assert {d["code"] for d in listing["departments"]} >= {"cs", "media", "finance", "creative"}
    assert head.user_id in [u["id"] for u in listing["users"]]
    bad = [
        ("/console/api/admin/departments/cs", {"name": "", "head_user_id": None}, 400),
        ("/console/api/admin/departments/cs", {"name": "客服", "head_user_id": 9999}, 400),
        ("/console/api/admin/departments/cs", {"name": "客服", "head_user_id": "hank"}, 400),
        ("/console/api/admin/departments/nope", {"name": "客服"}, 404),
        ("/console/api/admin/departments", {"code": "cs", "name": "again"}, 400),
        ("/console/api/admin/departments", {"code": "Bad Code", "name": "x"}, 400),
    ]
    for path, body, status in bad:
        assert (await admin.post(path, body)).status_code == status, (path, body)
    changed = await admin.post(
        "/console/api/admin/departments/cs", {"name": "客户成功部", "head_user_id": head.user_id}
    )
    assert changed.status_code == 200 and changed.json()["head_user_id"] == head.user_id
    added = await admin.post("/console/api/admin/departments", {"code": "legal", "name": "法务部"})
    assert added.status_code == 201
    async with services.db.transaction() as session:
        entries = (
            (
                await session.execute(
                    select(AuditEntry).where(AuditEntry.action.like("department_%")).order_by(AuditEntry.id)
                )
            )
            .scalars()
            .all()
        )
    assert [(e.action, e.target) for e in entries] == [
        ("department_changed", "department:cs"),
        ("department_added", "department:legal"),
    ]
    assert entries[0].data["before"]["name"] == "客户服务部" and entries[0].data["after"]["name"] == "客户成功部"
    # The new department can now be routed to.
    routing = (await _get(admin, "routing"))["shipped"]
    routing["departments"].append({"code": "legal", "name": "法务部", "keywords": ["律师函"]})
    assert (await _save(admin, "routing", routing)).status_code == 200
    assert services.policies.route("other", "收到律师函") == "legal"

    _, number = await escalate(services, "v1")
    ticket = await _ticket(services, number)
    async with services.db.transaction() as session:
        notes = (await session.execute(select(Notification).where(Notification.ticket_id == ticket.id))).scalars()
        assert head.user_id in [n.user_id for n in notes]


async def test_long_client_texts_fit_and_an_oversized_document_is_refused(
    services: Services, signed_in: SignIn
) -> None:
    admin = await signed_in("ada", role="admin")
    plain = [k for k in services.texts.overridable() if "{" not in (services.texts.shipped(k, "zh") or "")][:40]
    # Over the console's usual 64 KiB JSON limit, within the documents' own.
    overrides = {"zh": {k: "长" * 1000 for k in plain}, "en": {k: "x" * 2000 for k in plain}}
    assert (await _save(admin, "texts", {"overrides": overrides})).status_code == 200
    assert services.texts.get(plain[0], "en") == "x" * 2000
    huge = {"overrides": {"zh": {k: "长" * 2000 for k in services.texts.overridable()}}}
    refused = await _save(admin, "texts", huge)
    assert refused.status_code == 413, refused.text
    assert (await _get(admin, "texts"))["revision"] == 1


async def test_an_act_phrase_saved_by_an_admin_is_understood_in_another_process(
    services: Services, other: Services, signed_in: SignIn
) -> None:
    admin = await signed_in("ada", role="admin")
    doc = (await _get(admin, "acts"))["shipped"]
    assert "确认" in doc["acts"]["affirm"]["phrases"]
    # Before: "稳了稳了" is no confirmation, so the summary stays.
    first = "投诉：「春季新品-开屏」从3月1日开始一直不出量，要求补量，电话13800138000"
    await say(other, "v-acts", first)
    assert await _state(other, "v-acts") == "confirming"
    await say(other, "v-acts", "稳了稳了")
    assert await _state(other, "v-acts") == "confirming"
    doc["acts"]["affirm"]["phrases"].append("稳了稳了")
    doc["acts"]["nonsense"] = {"phrases": ["x"]}
    refused = await _save(admin, "acts", doc)
    assert refused.status_code == 400 and "nonsense" in refused.text
    del doc["acts"]["nonsense"]
    assert (await _save(admin, "acts", doc)).status_code == 200
    await other.config.check()
    await say(other, "v-acts", "稳了稳了")
    assert await _state(other, "v-acts") == "ticket_open"


async def _state(services: Services, visitor: str) -> str:
    from core.db.models import ChannelIdentity, Conversation

    async with services.db.transaction() as session:
        query = (
            select(Conversation.state)
            .join(ChannelIdentity, ChannelIdentity.id == Conversation.identity_id)
            .where(ChannelIdentity.external_id == visitor)
        )
        return str((await session.execute(query)).scalar_one())
