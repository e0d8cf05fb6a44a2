"""Phone numbers and e-mail addresses stay masked in every text the console and the reps' group show."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bots.telegram.topics import TopicWriter
from core.db.models import AuditEntry, Message, TelegramTopic, Ticket
from core.masking import mask_text
from core.report_tables import ReportTables
from core.reports import Report, ReportFilter, build_report
from handlers.services import Services
from tests.console.conftest import SignIn
from tests.console.helpers import escalate, say

PHONE, EMAIL = "13800138000", "li.lei@example.com"
WRITTEN = f"我的电话 {PHONE}，邮箱 {EMAIL}，座机 010-62345678"


def test_mask_text_finds_numbers_and_addresses_but_leaves_ids_alone() -> None:
    assert mask_text(WRITTEN) == "我的电话 138****8000，邮箱 l***@example.com，座机 010****5678"
    assert mask_text("call +86 138 0013 8000 now") == "call +86 138****8000 now"
    # Ticket numbers, account ids and amounts are not phone numbers.
    unchanged = "工单 KF-20240101-0001 账户ID 1234567890 金额 13800 元"
    assert mask_text(unchanged) == unchanged


async def test_transcript_inbox_and_search_mask_until_an_audited_reveal(services: Services, signed_in: SignIn) -> None:
    ann = await signed_in("ann")
    _, number = await escalate(services, "v1", f"转人工 {PHONE}")
    await say(services, "v1", WRITTEN)
    async with services.db.transaction() as session:
        ticket = (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one()
        ticket.title = f"回电 {PHONE}"
        ticket.details = {**ticket.details, "description": f"请打 {PHONE}"}

    view = (await ann.get(f"/console/api/tickets/{number}")).json()
    shown = " ".join(str(m["text"]) for m in view["messages"])
    assert PHONE not in view.__repr__() and EMAIL not in view.__repr__(), view
    assert "138****8000" in shown and "l***@example.com" in shown
    assert view["ticket"]["title"] == "回电 138****8000"
    assert view["ticket"]["details"]["description"] == "请打 138****8000"
    assert any(m["masked"] for m in view["messages"])

    inbox = (await ann.get("/console/api/inbox", params={"queue": "waiting"})).json()
    assert PHONE not in repr(inbox) and EMAIL not in repr(inbox), inbox
    # The full number still finds the ticket; the result shows it masked.
    found = (await ann.get("/console/api/inbox", params={"q": PHONE})).json()
    assert [i["number"] for i in found["items"]] == [number]
    assert PHONE not in repr(found["items"]) and "138****8000" in found["items"][0]["title"]

    revealed = (await ann.post(f"/console/api/tickets/{number}/reveal")).json()
    assert revealed["title"] == f"回电 {PHONE}"
    assert revealed["details"]["description"] == f"请打 {PHONE}"
    assert WRITTEN in revealed["messages"].values()
    async with services.db.transaction() as session:
        audits = await session.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.action == "pii_revealed"))
    assert audits == 1
    # The reveal was for that view: the next load is masked again.
    again = (await ann.get(f"/console/api/tickets/{number}")).json()
    assert PHONE not in repr(again)


async def test_reps_group_topic_and_report_tables_mask_contact_data(services: Services) -> None:
    conversation_id, number = await escalate(services, "v1", f"转人工 {PHONE}")
    await say(services, "v1", WRITTEN)
    writer = TopicWriter(services.texts, language="zh", timezone="Asia/Shanghai", console_url=None)
    async with services.db.transaction() as session:
        ticket = (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one()
        ticket.title = f"回电 {PHONE}"
        ticket.details = {**ticket.details, "phone": PHONE}
        topic = TelegramTopic(
            chat_id=-100,
            conversation_id=conversation_id,
            ticket_id=ticket.id,
            ticket_key=number,
            reason="asked",
            name="x",
            status="pending",
            mirrored_message_id=0,
            next_attempt_at=services.clock.now(),
            created_at=services.clock.now(),
            updated_at=services.clock.now(),
        )
        session.add(topic)
        await session.flush()
        _, drafts, _ = await writer.opening(session, topic)
        latest = (
            (await session.execute(select(Message).where(Message.text == WRITTEN).order_by(Message.id.desc())))
            .scalars()
            .first()
        )
        assert latest is not None
        mirrored = writer.mirror(latest, "web", "telegram")
    posted = "\n".join(d.text for d in [*drafts, *mirrored])
    assert PHONE not in posted and EMAIL not in posted, posted
    assert "138****8000" in posted and "l***@example.com" in posted

    tables = ReportTables(services.texts, "zh")
    report = await _report(services)
    report.keywords.append((PHONE, 1))
    assert tables.keywords(report)[1][-1] == ["138****8000", 1]


async def _report(services: Services) -> Report:
    now = services.clock.now()
    async with services.db.transaction() as session:
        return await build_report(
            session, ReportFilter(now - timedelta(days=7), now + timedelta(days=1)), now=now, zone=ZoneInfo("UTC")
        )
