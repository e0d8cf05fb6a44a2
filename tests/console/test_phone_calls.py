"""The console's 新建工单 for a call: finding the caller, logging the call, the form's problems by field."""

from __future__ import annotations

from sqlalchemy import select

from core.clock import ManualClock
from core.db.models import Client, Ticket
from handlers.services import Services
from tests.console.conftest import SignIn
from tests.core.test_phone_intake import COMPLAINT


async def test_a_rep_finds_the_caller_and_logs_the_call_from_the_console(
    services: Services, signed_in: SignIn, clock: ManualClock
) -> None:
    async with services.db.transaction() as session:
        session.add(Client(name="赵总", company="某某传媒", phone="13800138000", tier="A", created_at=clock.now()))
    rep = await signed_in("li", role="rep")
    for term in ("138-0013-8000", "某某", "赵"):
        found = (await rep.http.get("/console/api/phone/callers", params={"q": term})).json()["clients"]
        assert [(c["name"], c["phone"]) for c in found] == [("赵总", "138****8000")], term
    client_id = found[0]["id"]
    body = {"client_id": client_id, "category": "complaint", "details": COMPLAINT, "notes": "下午回电"}
    created = await rep.http.post("/console/api/phone/calls", json=body, headers={"X-CSRF-Token": rep.csrf})
    assert created.status_code == 201, created.text
    number = created.json()["number"]
    async with services.db.transaction() as session:
        ticket = (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one()
    assert (ticket.channel, ticket.client_id, ticket.priority) == ("phone", client_id, "P1")
    bad = {"new_client": {"name": "钱"}, "category": "complaint", "details": {**COMPLAINT, "phone": "12"}}
    refused = await rep.http.post("/console/api/phone/calls", json=bad, headers={"X-CSRF-Token": rep.csrf})
    assert refused.status_code == 422
    assert refused.json()["problems"] == {"phone": services.texts.get("form.bad_phone", "zh")}
    for nonsense in ({"category": "complaint"}, {"client_id": 2**70, "category": "x"}, {"client_id": 1, "category": 3}):
        answer = await rep.http.post("/console/api/phone/calls", json=nonsense, headers={"X-CSRF-Token": rep.csrf})
        assert answer.status_code == 400, (nonsense, answer.text)


async def test_a_resolved_phone_ticket_asks_its_rep_to_call_back_and_takes_the_score_from_him(
    services: Services, signed_in: SignIn, clock: ManualClock
) -> None:
    from core.db.models import Notification

    rep = await signed_in("li", role="rep")
    body = {"new_client": {"name": "赵总"}, "category": "other", "details": {"description": "合同寄到哪里"}}
    created = await rep.http.post("/console/api/phone/calls", json=body, headers={"X-CSRF-Token": rep.csrf})
    number = created.json()["number"]
    headers = {"X-CSRF-Token": rep.csrf}
    early = await rep.http.post(f"/console/api/phone/tickets/{number}/satisfaction", json={"score": 5}, headers=headers)
    assert early.status_code == 400, "no score before the ticket is resolved"
    resolved = await rep.http.post(
        f"/console/api/tickets/{number}/resolve", json={"solution": "已告知地址"}, headers=headers
    )
    assert resolved.status_code == 200, resolved.text
    async with services.db.transaction() as session:
        callbacks = (await session.execute(select(Notification).where(Notification.kind == "callback"))).scalars().all()
    assert [(n.user_id, number in n.text) for n in callbacks] == [(rep.user_id, True)]
    for bad in ({"score": 0}, {"score": "5"}, {"score": True}, {}):
        refused = await rep.http.post(f"/console/api/phone/tickets/{number}/satisfaction", json=bad, headers=headers)
        assert refused.status_code == 400, bad
    scored = await rep.http.post(
        f"/console/api/phone/tickets/{number}/satisfaction", json={"score": 4}, headers=headers
    )
    assert scored.status_code == 200, scored.text
    async with services.db.transaction() as session:
        ticket = (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one()
    assert (ticket.satisfaction, ticket.status) == (4, "feedback")
