"""The console's HTTP API: queues, the conversation view, access by department, takeover and resolution."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from core.clock import ManualClock, as_utc
from core.db.models import AuditEntry, Client, Conversation, Department, Message, Ticket, TicketEvent
from core.settings import Settings
from handlers.services import Services, build_services
from tests.console.conftest import SignIn
from tests.console.helpers import escalate, outbound_texts, say


async def _ticket(services: Services, number: str) -> Ticket:
    async with services.db.transaction() as session:
        return (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one()


async def test_queues_counts_order_and_search(services: Services, clock: ManualClock, signed_in: SignIn) -> None:
    ann = await signed_in("ann", name="安妮")
    bob = await signed_in("bob", name="鲍勃")
    _, first = await escalate(services, "v1")
    clock.advance(timedelta(minutes=1))
    _, second = await escalate(services, "v2", "账户余额不对 转人工")
    clock.advance(timedelta(minutes=1))
    _, third = await escalate(services, "v3")
    due = clock.now() + timedelta(hours=2)
    async with services.db.transaction() as session:
        # Same priority for the first two, the second due later; the third outranks both.
        await session.execute(
            update(Ticket).where(Ticket.number == first).values(priority="P3", first_response_due=due)
        )
        later = due + timedelta(minutes=30)
        await session.execute(
            update(Ticket).where(Ticket.number == second).values(priority="P3", first_response_due=later)
        )
        await session.execute(update(Ticket).where(Ticket.number == third).values(priority="P1"))
        client_id = (await session.execute(select(Ticket.client_id).where(Ticket.number == first))).scalar_one()
        await session.execute(update(Client).where(Client.id == client_id).values(name="杭州星火科技"))

    inbox = (await ann.get("/console/api/inbox", params={"queue": "waiting"})).json()
    numbers = [i["number"] for i in inbox["items"]]
    # P1 first, then by the running SLA deadline (the earlier ticket is due earlier).
    assert numbers[0] == third and numbers.index(first) < numbers.index(second), numbers
    assert inbox["counts"]["waiting"] == 3 and inbox["counts"]["department"] == 3
    assert all(i["waiting"] for i in inbox["items"])
    # New tickets are assigned in the department: "mine" is what the desk gave each rep.
    assigned = {n: (await _ticket(services, n)).assignee_id for n in (first, second, third)}
    bobs = sorted(n for n, a in assigned.items() if a == bob.user_id)
    assert bobs and len(bobs) < 3, assigned
    mine = (await bob.get("/console/api/inbox", params={"queue": "mine"})).json()
    assert sorted(i["number"] for i in mine["items"]) == bobs and mine["counts"]["mine"] == len(bobs)

    # Ann claims one of Bob's: it leaves the waiting queue and becomes hers.
    assert (await ann.post(f"/console/api/tickets/{bobs[0]}/claim")).status_code == 200
    inbox = (await ann.get("/console/api/inbox", params={"queue": "mine"})).json()
    assert bobs[0] in [i["number"] for i in inbox["items"]]
    assert next(i for i in inbox["items"] if i["number"] == bobs[0])["holder"] == "安妮"
    assert inbox["counts"]["waiting"] == 2 and inbox["counts"]["mine"] == 3 - len(bobs) + 1
    mine = (await bob.get("/console/api/inbox", params={"queue": "mine"})).json()
    assert bobs[0] not in [i["number"] for i in mine["items"]]

    async def search(term: str) -> list[str]:
        response = await ann.get("/console/api/inbox", params={"q": term})
        assert response.status_code == 200
        return [i["number"] for i in response.json()["items"]]

    assert await search(second) == [second]
    assert await search("余额") == [second]
    assert await search("星火") == [first]
    assert await search("100%_") == []
    assert (await ann.get("/console/api/inbox", params={"queue": "nope"})).status_code == 400


async def test_sla_at_risk_and_resolved_awaiting_feedback_queues(
    services: Services, clock: ManualClock, signed_in: SignIn
) -> None:
    ann = await signed_in("ann")
    conversation_id, number = await escalate(services, "v1")
    async with services.db.transaction() as session:
        # Due in 90 minutes: not yet at risk (the threshold is an hour).
        due = clock.now() + timedelta(minutes=90)
        await session.execute(update(Ticket).where(Ticket.number == number).values(first_response_due=due))
    before = (await ann.get("/console/api/inbox", params={"queue": "sla"})).json()
    assert before["items"] == [] and before["counts"]["sla"] == 0
    clock.set(as_utc(due) - timedelta(minutes=30))
    at_risk = (await ann.get("/console/api/inbox", params={"queue": "sla"})).json()
    assert [i["number"] for i in at_risk["items"]] == [number] and at_risk["counts"]["sla"] == 1
    await ann.post(f"/console/api/tickets/{number}/claim")
    await ann.post(f"/console/api/tickets/{number}/reply", {"text": "您好"})
    assert (await ann.post(f"/console/api/tickets/{number}/resolve", {"solution": "已补量"})).status_code == 200
    feedback = (await ann.get("/console/api/inbox", params={"queue": "feedback"})).json()
    assert [i["number"] for i in feedback["items"]] == [number]
    assert feedback["counts"]["sla"] == 0
    assert conversation_id


async def test_a_rep_of_another_department_gets_403(services: Services, signed_in: SignIn) -> None:
    cs = await signed_in("ann", departments=("cs",))
    media = await signed_in("mia", departments=("media",))
    supervisor = await signed_in("sam", role="supervisor")
    _, number = await escalate(services, "v1")
    assert (await _ticket(services, number)).department_id is not None
    assert (await cs.get(f"/console/api/tickets/{number}")).status_code == 200
    for path in ("", "/media/1/0"):
        assert (await media.get(f"/console/api/tickets/{number}{path}")).status_code == 403
    for action, body in (("claim", {}), ("reply", {"text": "x"}), ("note", {"text": "x"}), ("reveal", {})):
        response = await media.post(f"/console/api/tickets/{number}/{action}", body)
        assert response.status_code == 403, (action, response.text)
    assert (await media.get("/console/api/inbox", params={"queue": "department"})).json()["items"] == []
    assert (await media.get("/console/api/inbox", params={"q": number})).json()["items"] == []
    assert (await supervisor.get(f"/console/api/tickets/{number}")).status_code == 200
    assert (await cs.get("/console/api/tickets/KF-00000000-0000")).status_code == 404


async def test_conversation_view_masks_contact_data_until_an_audited_reveal(
    services: Services, signed_in: SignIn
) -> None:
    ann = await signed_in("ann")
    _, number = await escalate(services, "v1")
    await say(services, "v1", "我的电话是 13800138000")
    async with services.db.transaction() as session:
        ticket = (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one()
        ticket.details = {**ticket.details, "phone": "13800138000"}
        await session.execute(
            update(Client)
            .where(Client.id == ticket.client_id)
            .values(phone="13800138000", email="li.lei@example.com", company="星火科技", tier="A")
        )
    view = (await ann.get(f"/console/api/tickets/{number}")).json()
    texts = [(m["direction"], m["channel"], m["text"]) for m in view["messages"]]
    assert texts[0] == ("in", "web", "人工") and any(d == "out" for d, _, _ in texts)
    assert all(m["at"] for m in view["messages"])
    client = view["client"]
    assert client["phone"] == "138****8000" and client["email"] == "l***@example.com"
    assert client["company"] == "星火科技" and client["tier"] == "A" and client["channels"] == ["web"]
    assert view["ticket"]["details"]["phone"] == "138****8000"
    assert view["ticket"]["events"][0]["kind"] == "received"
    assert view["window"] == {"limited": False, "open": True, "outcome": "sent", "closes_at": None, "hours": None}
    assert {c["id"] for c in view["canned"]} >= {"greeting"}
    greeting = next(c for c in view["canned"] if c["id"] == "greeting")
    assert number in greeting["text"] and "{" not in greeting["text"]

    revealed = await ann.post(f"/console/api/tickets/{number}/reveal")
    shown = revealed.json()
    assert (shown["phone"], shown["email"], shown["details"]) == (
        "13800138000",
        "li.lei@example.com",
        {"phone": "13800138000"},
    )
    assert "我的电话是 13800138000" in shown["messages"].values()
    async with services.db.transaction() as session:
        audit = (await session.execute(select(AuditEntry).where(AuditEntry.action == "pii_revealed"))).scalar_one()
    assert audit.user_id == ann.user_id and audit.data == {"ticket": number}


async def test_reclassification_and_priority_are_recorded(services: Services, signed_in: SignIn) -> None:
    # What the client said before asking for a person routes the ticket: 投放 is the media department's.
    ann = await signed_in("ann", departments=("cs", "media"))
    _, number = await escalate(services, "v1", "你们的广告投放效果很差 转人工")
    before = (await _ticket(services, number)).category
    target = "suggestion" if before != "suggestion" else "complaint"
    response = await ann.post(f"/console/api/tickets/{number}/category", {"category": target})
    assert response.json() == {"category": target, "changed": True}
    assert (await ann.post(f"/console/api/tickets/{number}/category", {"category": "nonsense"})).status_code == 400
    assert (await ann.post(f"/console/api/tickets/{number}/priority", {"priority": "P1"})).status_code == 200
    assert (await ann.post(f"/console/api/tickets/{number}/priority", {"priority": "P9"})).status_code == 400
    ticket = await _ticket(services, number)
    assert ticket.category == target and ticket.priority == "P1"
    async with services.db.transaction() as session:
        events = {
            e.kind: e
            for e in (await session.execute(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id))).scalars()
        }
    event = events["reclassified"]
    assert (event.before, event.after, event.actor) == (before, target, f"user:{ann.user_id}")
    assert event.data["text"] == "你们的广告投放效果很差 转人工"
    assert (events["priority"].before, events["priority"].after) != (None, None)


async def test_claim_race_over_http_leaves_the_loser_told_who_holds_it(services: Services, signed_in: SignIn) -> None:
    ann = await signed_in("ann", name="安妮")
    bob = await signed_in("bob", name="鲍勃")
    conversation_id, number = await escalate(services, "v1")
    first, second = await asyncio.gather(
        ann.post(f"/console/api/tickets/{number}/claim"), bob.post(f"/console/api/tickets/{number}/claim")
    )
    statuses = sorted([first.status_code, second.status_code])
    assert statuses == [200, 409], (first.text, second.text)
    winner, loser = (first, second) if first.status_code == 200 else (second, first)
    assert loser.json()["error"] == "taken" and loser.json()["holder_name"] == winner.json()["holder_name"]
    name = winner.json()["holder_name"]
    assert any(f"客服 {name} 为您服务" in t for t in await outbound_texts(services, conversation_id))
    view = (await ann.get(f"/console/api/tickets/{number}")).json()
    assert view["ticket"]["holder"] == name


async def test_reply_note_resolve_close_through_the_api(services: Services, signed_in: SignIn) -> None:
    ann = await signed_in("ann", name="安妮")
    bob = await signed_in("bob")
    conversation_id, number = await escalate(services, "v1")
    # Replying claims an unheld conversation; a colleague's reply is refused with the holder's name.
    reply = await ann.post(f"/console/api/tickets/{number}/reply", {"text": "<b>您好</b>，正在处理"})
    assert reply.status_code == 200 and reply.json()["outbox_ids"]
    refused = await bob.post(f"/console/api/tickets/{number}/reply", {"text": "我来"})
    assert refused.status_code == 409 and refused.json()["holder_name"] == "安妮"
    assert (await ann.post(f"/console/api/tickets/{number}/reply", {"text": "  "})).status_code == 400
    note = await ann.post(f"/console/api/tickets/{number}/note", {"text": "客户是老客户，注意语气"})
    assert note.status_code == 200 and note.json()["event_id"]
    sent = await outbound_texts(services, conversation_id)
    assert "<b>您好</b>，正在处理" in sent and not any("老客户" in t for t in sent)
    ticket = await _ticket(services, number)
    assert ticket.first_response_at is not None

    assert (await ann.post(f"/console/api/tickets/{number}/resolve", {"solution": ""})).status_code == 400
    assert (await ann.post(f"/console/api/tickets/{number}/close", {})).status_code == 409  # not resolved yet
    resolved = await ann.post(f"/console/api/tickets/{number}/resolve", {"solution": "已为您重新投放"})
    assert resolved.status_code == 200 and resolved.json()["ticket_status"] == "resolved"
    assert any("已为您重新投放" in t for t in await outbound_texts(services, conversation_id))
    missing = await ann.post(f"/console/api/tickets/{number}/close", {"root_cause": "定向设置错误"})
    assert missing.status_code == 400
    closed = await ann.post(
        f"/console/api/tickets/{number}/close", {"root_cause": "定向设置错误", "improvement": "上线前双人复核定向"}
    )
    assert closed.status_code == 200 and closed.json()["ticket_status"] == "closed"
    ticket = await _ticket(services, number)
    assert (ticket.status, ticket.root_cause, ticket.improvement) == ("closed", "定向设置错误", "上线前双人复核定向")
    view = (await ann.get(f"/console/api/tickets/{number}")).json()
    kinds = [e["kind"] for e in view["ticket"]["events"]]
    assert {"claimed", "note", "first_response", "resolved", "closed"} <= set(kinds)
    assert next(e for e in view["ticket"]["events"] if e["kind"] == "note")["text"] == "客户是老客户，注意语气"


async def test_only_the_holder_or_a_supervisor_resolves_and_closes_a_held_ticket(
    services: Services, signed_in: SignIn
) -> None:
    ann = await signed_in("ann", name="安妮")
    bob = await signed_in("bob")
    supervisor = await signed_in("sam", role="supervisor")
    _, number = await escalate(services, "v1")
    await ann.post(f"/console/api/tickets/{number}/claim")
    refused = await bob.post(f"/console/api/tickets/{number}/resolve", {"solution": "我来"})
    assert refused.status_code == 409 and refused.json()["holder_name"] == "安妮", refused.text
    assert (await _ticket(services, number)).status not in ("resolved", "closed")
    # A resolved ticket whose conversation is still held (the holder keeps the conversation) stays the holder's.
    async with services.db.transaction() as session:
        await session.execute(update(Ticket).where(Ticket.number == number).values(status="resolved"))
    body = {"root_cause": "原因", "improvement": "改进"}
    closing = await bob.post(f"/console/api/tickets/{number}/close", body)
    assert closing.status_code == 409 and closing.json()["holder_name"] == "安妮", closing.text
    assert (await _ticket(services, number)).status == "resolved"
    assert (await supervisor.post(f"/console/api/tickets/{number}/close", body)).status_code == 200
    assert (await _ticket(services, number)).status == "closed"


async def test_release_and_transfer(services: Services, signed_in: SignIn) -> None:
    ann = await signed_in("ann", name="安妮")
    bob = await signed_in("bob", name="鲍勃")
    supervisor = await signed_in("sam", role="supervisor")
    conversation_id, number = await escalate(services, "v1")
    await ann.post(f"/console/api/tickets/{number}/claim")
    assert (await bob.post(f"/console/api/tickets/{number}/release")).status_code == 409
    # Only supervisors may force; a rep's force flag is ignored.
    assert (await bob.post(f"/console/api/tickets/{number}/release", {"force": True})).status_code == 409
    assert (await supervisor.post(f"/console/api/tickets/{number}/release", {"force": True})).status_code == 200
    async with services.db.transaction() as session:
        conversation = await session.get(Conversation, conversation_id)
        assert conversation is not None and conversation.holder_user_id is None

    to_bob = await ann.post(f"/console/api/tickets/{number}/transfer", {"to_user_id": bob.user_id})
    assert to_bob.status_code == 200, to_bob.text
    assert (await bob.get(f"/console/api/tickets/{number}")).json()["taken_by_me"] is True
    assert (await bob.post(f"/console/api/tickets/{number}/transfer", {})).status_code == 400
    to_media = await bob.post(f"/console/api/tickets/{number}/transfer", {"department_code": "media"})
    assert to_media.status_code == 200, to_media.text
    ticket = await _ticket(services, number)
    view = (await supervisor.get(f"/console/api/tickets/{number}")).json()
    assert view["ticket"]["department_code"] == "media" and ticket.assignee_id is None
    # Out of their department and no longer theirs: the cs reps lose sight of it.
    assert (await ann.get(f"/console/api/tickets/{number}")).status_code == 403


async def test_media_of_the_transcript_is_served_only_from_the_media_store(
    services: Services, signed_in: SignIn, tmp_path: Path
) -> None:
    ann = await signed_in("ann")
    conversation_id, number = await escalate(services, "v1")
    media_dir = services.settings.media_dir
    media_dir.mkdir(parents=True, exist_ok=True)
    picture = media_dir / "abc.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    outside = tmp_path / "secret.txt"
    outside.write_text("not for you")
    async with services.db.transaction() as session:
        message = Message(
            conversation_id=conversation_id,
            direction="in",
            channel="web",
            type="image",
            text="",
            payload={
                "attachments": [
                    {"kind": "image", "media_id": "m1", "local_path": str(picture), "mime_type": "image/png"},
                    {"kind": "voice", "media_id": "m2", "local_path": str(outside), "mime_type": "audio/amr"},
                    {"kind": "image", "media_id": "m3"},
                ]
            },
            created_at=services.clock.now(),
        )
        session.add(message)
        await session.flush()
        message_id = message.id
    view = (await ann.get(f"/console/api/tickets/{number}")).json()
    shown = next(m for m in view["messages"] if m["id"] == message_id)
    assert [a["url"] is not None for a in shown["attachments"]] == [True, True, False]
    image = await ann.get(shown["attachments"][0]["url"])
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    assert image.headers["content-type"] == "image/png"
    assert (await ann.get(shown["attachments"][1]["url"])).status_code == 404  # outside the store
    assert (await ann.get(f"/console/api/tickets/{number}/media/{message_id}/7")).status_code == 404


async def test_reply_box_shows_the_wechat_window_and_what_a_reply_would_become(
    services: Services, clock: ManualClock, signed_in: SignIn
) -> None:
    from pydantic import SecretStr

    from bots.wechat.channel import WeChatChannel
    from bots.wechat.settings import WeChatAccount, WeChatTemplate
    from core.channel_state import ChannelStateStore

    account = WeChatAccount(
        token=SecretStr("t"),
        app_id="wx0123456789abcdef",
        app_secret=SecretStr("s"),
        api_base="http://127.0.0.1:9/cgi-bin/",
        api_timeout_seconds=0.2,
    )
    channel = WeChatChannel(account, ChannelStateStore(services.db, clock), media_dir=services.settings.media_dir)
    services.registry.register(channel)
    ann = await signed_in("ann")
    _, number = await escalate(services, "oOpenId1", channel="wechat")
    window = (await ann.get(f"/console/api/tickets/{number}")).json()["window"]
    assert window["limited"] and window["open"] and window["outcome"] == "sent" and window["hours"] == 48
    async with services.db.transaction() as session:
        # The client last wrote 49 hours ago.
        await session.execute(
            update(Conversation)
            .where(Conversation.channel == "wechat")
            .values(last_inbound_at=clock.now() - timedelta(hours=49))
        )
    window = (await ann.get(f"/console/api/tickets/{number}")).json()["window"]
    assert not window["open"] and window["outcome"] == "parked"
    templated = account.model_copy(update={"templates": {"default": WeChatTemplate(template_id="tpl", remark="r")}})
    services.registry.register(
        WeChatChannel(templated, ChannelStateStore(services.db, clock), media_dir=services.settings.media_dir)
    )
    window = (await ann.get(f"/console/api/tickets/{number}")).json()["window"]
    assert not window["open"] and window["outcome"] == "template"


async def test_contact_data_and_message_texts_stay_out_of_the_logs(
    services: Services, signed_in: SignIn, caplog: pytest.LogCaptureFixture
) -> None:
    # INFO is what kefu runs at; database drivers' DEBUG lines echo SQL parameters and are never on in production.
    caplog.set_level(logging.INFO)
    ann = await signed_in("ann")
    _, number = await escalate(services, "v1", "我的电话 13912345678，邮箱 wang.fang@example.com 转人工")
    async with services.db.transaction() as session:
        ticket = (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one()
        await session.execute(
            update(Client)
            .where(Client.id == ticket.client_id)
            .values(phone="13912345678", email="wang.fang@example.com")
        )
    assert (await ann.get(f"/console/api/tickets/{number}")).status_code == 200
    assert (await ann.post(f"/console/api/tickets/{number}/reveal")).json()["phone"] == "13912345678"
    await ann.post(f"/console/api/tickets/{number}/reply", {"text": "王女士您好，已记下 13912345678"})
    await ann.post(f"/console/api/tickets/{number}/note", {"text": "回拨 13912345678"})
    await ann.http.post("/console/login", data={"username": "ann", "password": "13912345678", "csrf": "x"})
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "revealed" in logged  # the reveal is logged, by ids only
    for secret in ("13912345678", "wang.fang@example.com", "王女士", "correct horse"):
        assert secret not in logged, secret


async def test_admin_reads_the_settings_without_secrets(signed_in: SignIn) -> None:
    rep = await signed_in("ann")
    admin = await signed_in("root", role="admin")
    assert (await rep.get("/console/api/admin/settings")).status_code == 403
    shown = await admin.get("/console/api/admin/settings")
    assert shown.status_code == 200
    body = shown.text
    assert shown.json()["console"]["lock_after"] == 6 and shown.json()["language"] == "zh"
    assert "secret" not in body.lower() and "database" not in body.lower()


async def test_reports_count_tickets_by_status_and_category(services: Services, signed_in: SignIn) -> None:
    supervisor = await signed_in("sam", role="supervisor")
    _, number = await escalate(services, "v1")
    await escalate(services, "v2")
    report = (await supervisor.get("/console/api/reports")).json()
    ticket = await _ticket(services, number)
    assert sum(report["by_status"].values()) == 2 and report["by_status"][ticket.status] >= 1
    assert sum(report["by_category"].values()) == 2
    assert report["breached"] == 0 and report["satisfaction"] is None


async def test_transcript_spans_the_clients_channels_and_lists_earlier_tickets(
    services: Services, signed_in: SignIn
) -> None:
    from core.db.models import ChannelIdentity

    ann = await signed_in("ann")
    web_conversation, older = await escalate(services, "v1", "网页上 转人工")
    telegram_conversation, newer = await escalate(services, "4242", "telegram 上 转人工", channel="telegram")
    async with services.db.transaction() as session:
        # The same client, known on two channels.
        web = await session.get(Conversation, web_conversation)
        assert web is not None
        other = await session.get(Conversation, telegram_conversation)
        assert other is not None
        await session.execute(
            update(ChannelIdentity).where(ChannelIdentity.id == other.identity_id).values(client_id=web.client_id)
        )
        await session.execute(update(Conversation).where(Conversation.id == other.id).values(client_id=web.client_id))
        await session.execute(update(Ticket).where(Ticket.number == newer).values(client_id=web.client_id))
        await session.execute(update(Message).where(Message.conversation_id == other.id).values(channel="telegram"))
    view = (await ann.get(f"/console/api/tickets/{newer}")).json()
    channels = [(m["channel"], m["text"]) for m in view["messages"] if m["direction"] == "in"]
    assert channels == [("web", "网页上 转人工"), ("telegram", "telegram 上 转人工")]
    assert view["client"]["channels"] == ["telegram", "web"]
    assert [t["number"] for t in view["client"]["earlier"]] == [older]


async def test_wechat_voice_notes_are_decoded_to_something_a_browser_plays(
    services: Services, signed_in: SignIn
) -> None:
    import io
    import wave

    from tests.console.helpers import amr_note

    ann = await signed_in("ann")
    conversation_id, number = await escalate(services, "v1")
    media_dir = services.settings.media_dir
    media_dir.mkdir(parents=True, exist_ok=True)
    (media_dir / "voice1.amr").write_bytes(amr_note(frames=50))
    (media_dir / "broken.amr").write_bytes(b"#!AMR\nnot really audio")
    async with services.db.transaction() as session:
        message = Message(
            conversation_id=conversation_id,
            direction="in",
            channel="web",
            type="voice",
            text="",
            payload={
                "attachments": [
                    {"kind": "voice", "local_path": str(media_dir / "voice1.amr"), "mime_type": "audio/amr"},
                    {"kind": "voice", "local_path": str(media_dir / "broken.amr"), "mime_type": "audio/amr"},
                ]
            },
            created_at=services.clock.now(),
        )
        session.add(message)
        await session.flush()
        message_id = message.id
    view = (await ann.get(f"/console/api/tickets/{number}")).json()
    voice, broken = next(m for m in view["messages"] if m["id"] == message_id)["attachments"]
    assert voice["play_url"] == voice["url"] + "?play=wav"
    played = await ann.get(voice["play_url"])
    assert played.status_code == 200 and played.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(played.content)) as decoded:
        # 50 frames of 20 ms at 8 kHz: one second of mono audio.
        assert (decoded.getnchannels(), decoded.getframerate(), decoded.getnframes()) == (1, 8000, 8000)
    assert (media_dir / "playable" / "voice1.wav").is_file()  # decoded once, kept
    original = await ann.get(voice["url"])
    assert original.content.startswith(b"#!AMR") and original.headers["content-type"] == "audio/amr"
    refused = await ann.get(broken["play_url"])
    assert refused.status_code == 422 and "cannot be decoded" in refused.json()["error"]


async def test_the_reply_box_asks_the_channel_as_production_wires_it(
    settings: Settings, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """build_services registers every Official Account behind one wrapper: the console asks it, per account."""
    from handlers.console.conversation import reply_window

    monkeypatch.setenv("KEFU_WECHAT_TOKEN", "t")
    monkeypatch.setenv("KEFU_WECHAT_APP_ID", "wx0123456789abcdef")
    monkeypatch.setenv("KEFU_WECHAT_APP_SECRET", "s")
    monkeypatch.setenv("KEFU_WECHAT_TEMPLATES", '{"default": {"template_id": "tpl", "remark": "r"}}')
    built = build_services(settings, clock)
    try:
        old = clock.now() - timedelta(hours=49)
        ours = Conversation(
            channel="wechat",
            ref={"channel": "wechat", "account": "default", "external_user_id": "o1"},
            last_inbound_at=old,
        )
        assert reply_window(built.registry, ours, clock.now())["outcome"] == "template"
        # An account the wrapper does not hold (removed from the configuration) has no template to fall back on.
        gone = Conversation(
            channel="wechat",
            ref={"channel": "wechat", "account": "brand", "external_user_id": "o2"},
            last_inbound_at=old,
        )
        assert reply_window(built.registry, gone, clock.now())["outcome"] == "parked"
    finally:
        await built.stop()


async def test_supervisors_are_warned_of_a_department_with_open_tickets_and_nobody_to_see_them(
    services: Services, signed_in: SignIn
) -> None:
    supervisor = await signed_in("sam", role="supervisor")
    rep = await signed_in("ann", departments=("cs",))
    _, number = await escalate(services, "v1")
    ticket = await _ticket(services, number)
    async with services.db.transaction() as session:
        cs = await session.get(Department, ticket.department_id)
        assert cs is not None and cs.code == "cs"
    # cs has ann: nobody is unseen.
    assert (await supervisor.get("/console/api/inbox")).json()["unstaffed"] == []
    async with services.db.transaction() as session:
        await session.execute(update(Ticket).values(department_id=await _department_id(services, "media")))
    warned = (await supervisor.get("/console/api/inbox")).json()["unstaffed"]
    assert [(d["code"], d["open_tickets"]) for d in warned] == [("media", 1)]
    # Reps are not the ones to act on it.
    assert (await rep.get("/console/api/inbox")).json()["unstaffed"] == []


async def _department_id(services: Services, code: str) -> int:
    async with services.db.transaction() as session:
        return int((await session.execute(select(Department.id).where(Department.code == code))).scalar_one())
