"""Needs trends (需求报告): 2026-W48 against 2026-W44..W47, on tickets whose counts are worked out by hand below."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from core.clock import ManualClock
from core.db.models import ChannelIdentity, Client, Conversation, Ticket, TicketEvent, User, WeeklyReport
from core.needs_tables import NeedsTables
from core.needs_trends import NeedsTrends, TopicReader, Trend, build_needs_trends
from core.weekly_report import WeeklyRecipients, WeeklyReportWriter, week_period
from core.wiring import Core

ZONE = ZoneInfo("Asia/Shanghai")
# Tuesday 2026-12-01 10:00 Shanghai: W48 (23–29 November) is over.
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def local(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=ZONE).astimezone(UTC)


# (tier, when, category, details, first classification's phrases). W48 runs 23–29 November; the four weeks
# before run 26 October – 22 November.
WEEK = [
    ("A", local(11, 23), "inquiry", {"topic": "发票与付款"}, ["发票"]),
    ("A", local(11, 24), "inquiry", {"topic": "发票与付款"}, ["发票"]),
    ("A", local(11, 25), "inquiry", {"topic": "发票与付款"}, ["发票"]),
    # The English label of the same choice.
    ("B", local(11, 26), "inquiry", {"topic": "Invoices & payment"}, ["发票"]),
    # Free text: its cue word (排期) names the topic.
    ("B", local(11, 27), "inquiry", {"topic": "想问下排期"}, ["排期", "请问"]),
    # No topic at all (a phone note, a reclassified ticket): the question's cue word (素材) decides.
    ("B", local(11, 28), "inquiry", {"question": "素材哪天能改好"}, []),
    # The label "其他" is the client's own choice, even though the question holds a cue word.
    ("A", local(11, 28), "inquiry", {"topic": "其他", "question": "发票的事"}, []),
    # Complaints: the subject comes from their description and project.
    ("A", local(11, 25), "complaint", {"description": "发票开错了，抬头不对"}, []),
    ("B", local(11, 26), "complaint", {"description": "素材太丑了", "project": "双十一"}, ["丑"]),
    ("B", local(11, 29, 23), "complaint", {"description": "海报还是不行", "project": "双十一"}, ["丑"]),
    # Suggestions are neither: they only count for the phrases.
    ("A", local(11, 24), "suggestion", {"proposal": "建议多开发票类型"}, []),
]
PREVIOUS = [
    *[("A", local(11, 2 + 7 * i), "inquiry", {"topic": "发票与付款"}, ["发票"]) for i in range(2)],
    *[
        ("B", local(10, 26) + timedelta(days=7 * i + j), "inquiry", {"topic": "投放与效果"}, ["投放"])
        for i in range(4)
        for j in range(2)
    ],
    *[("A", local(11, 3 + 7 * i), "inquiry", {"topic": "报价与合同"}, []) for i in range(3)],
    ("A", local(10, 26, 0), "inquiry", {"topic": "报价与合同"}, ["请问"]),
    *[("B", local(11, 4 + 4 * i), "complaint", {"description": "设计稿不行", "project": "新品"}, []) for i in range(4)],
    ("A", local(11, 12), "complaint", {"description": "投放效果太差"}, []),
]
# Just outside on either side: ten minutes before the four weeks begin, and the Monday after W48.
OUTSIDE = [
    ("B", local(10, 25, 23) + timedelta(minutes=50), "inquiry", {"topic": "投放与效果"}, ["投放"]),
    ("A", local(11, 30, 0), "complaint", {"description": "发票开错了"}, ["发票"]),
]


async def seed(core: Core) -> None:
    async with core.db.transaction() as session:
        clients = {tier: Client(name=f"客户{tier}", tier=tier, created_at=NOW) for tier in "AB"}
        session.add_all(clients.values())
        await session.flush()
        for n, (tier, created, category, details, phrases) in enumerate(WEEK + PREVIOUS + OUTSIDE):
            client = clients[tier]
            identity = ChannelIdentity(client_id=client.id, channel="web", external_id=f"n-{n}", created_at=created)
            session.add(identity)
            await session.flush()
            conversation = Conversation(
                identity_id=identity.id,
                client_id=client.id,
                channel="web",
                ref={},
                state="ticket_open",
                created_at=created,
                updated_at=created,
            )
            session.add(conversation)
            await session.flush()
            ticket = Ticket(
                number=f"KF-N-{n:04d}",
                conversation_id=conversation.id,
                client_id=client.id,
                category=category,
                status="investigating",
                channel="web",
                details=details,
                created_at=created,
                updated_at=created,
            )
            session.add(ticket)
            await session.flush()
            event: dict[str, Any] = {"category": category, "matched": phrases, "confident": True}
            session.add(
                TicketEvent(ticket_id=ticket.id, actor="bot", kind="classified", data=event, created_at=created)
            )
        # A later classification is a rep's decision: its phrases are not the client's words counted here.
        first = await session.scalar(select(Ticket.id).where(Ticket.number == "KF-N-0004"))
        assert first is not None
        session.add(
            TicketEvent(ticket_id=first, actor="rep", kind="classified", data={"matched": ["投诉"]}, created_at=NOW)
        )


def rows(trends: list[Trend]) -> list[tuple[str, int, int, str]]:
    return [(t.item, t.week, t.previous, t.mark) for t in trends]


async def needs_of(core: Core) -> NeedsTrends:
    start, end = week_period("2026-W48", ZONE)
    async with core.db.transaction() as session:
        return await build_needs_trends(session, start, end, TopicReader.of(core.forms, core.texts))


async def test_topics_subjects_phrases_and_tiers_by_hand(core: Core) -> None:
    await seed(core)
    needs = await needs_of(core)
    # Inquiry topics, every choice in the form's order. billing: 4 this week against 2 in four weeks, an
    # average week of 0.5: +3.5 and 8 times the average, rising. media: 0 against 8 (average 2): −2 and
    # at most half the average, falling. pricing: 0 against 4 (average 1): only −1, steady. schedule and
    # creative: 1 against 0, +1 only, steady.
    assert rows(needs.topics) == [
        ("media", 0, 8, "falling"),
        ("pricing", 0, 4, ""),
        ("billing", 4, 2, "rising"),
        ("creative", 1, 0, ""),
        ("schedule", 1, 0, ""),
        ("other", 1, 0, ""),
    ]
    billing = needs.topics[2]
    assert (billing.average, billing.change) == (0.5, 3.5)
    # Complaint subjects from their words: 设计稿 and 海报 are creative cues, 投放 a media one.
    # creative: 2 against 4 (average 1), +1, steady.
    assert rows(needs.subjects) == [
        ("media", 0, 1, ""),
        ("pricing", 0, 0, ""),
        ("billing", 1, 0, ""),
        ("creative", 2, 4, ""),
        ("schedule", 0, 0, ""),
        ("other", 0, 0, ""),
    ]
    # Phrases grown most: 发票 4 against 2 (+3.5), 丑 2 against 0 (+2), 排期 1 against 0 (+1), 请问 1 against 1
    # (+0.75); 投放 fell and is not listed; 投诉 was a rep's later reclassification.
    assert [(t.item, t.week, t.previous) for t in needs.phrases] == [
        ("发票", 4, 2),
        ("丑", 2, 0),
        ("排期", 1, 0),
        ("请问", 1, 1),
    ]
    assert [t.mark for t in needs.phrases] == ["rising", "rising", "", ""]
    # Per tier, only what either period holds. A: billing 3 against 2 (+2.5, rising), pricing 0 against 4.
    assert rows(needs.tiers["A"]["topics"]) == [("pricing", 0, 4, ""), ("billing", 3, 2, "rising"), ("other", 1, 0, "")]
    assert rows(needs.tiers["A"]["subjects"]) == [("media", 0, 1, ""), ("billing", 1, 0, "")]
    assert rows(needs.tiers["B"]["topics"]) == [
        ("media", 0, 8, "falling"),
        ("billing", 1, 0, ""),
        ("creative", 1, 0, ""),
        ("schedule", 1, 0, ""),
    ]
    assert rows(needs.tiers["B"]["subjects"]) == [("creative", 2, 4, "")]
    assert list(needs.tiers) == ["A", "B"]


def test_the_marks_follow_the_thresholds() -> None:
    # Rising needs +2 and 1.5 times the average: 3 against an average of 1 rises, 2 against 1 does not.
    assert Trend("x", 3, 4).mark == "rising"
    assert Trend("x", 2, 4).mark == ""
    # 5 against an average of 3.5 is +1.5: below the +2 floor.
    assert Trend("x", 5, 14).mark == ""
    # 8 against 5: +3 but only 1.6 times; 7 against 5 is 1.4 times: steady.
    assert Trend("x", 8, 20).mark == "rising"
    assert Trend("x", 7, 20).mark == ""
    # Falling needs −2 and at most half the average.
    assert Trend("x", 2, 16).mark == "falling"
    assert Trend("x", 3, 16).mark == ""
    assert Trend("x", 1, 8).mark == ""


async def test_the_weekly_report_carries_the_section_and_its_csv(core: Core, clock: ManualClock) -> None:
    await seed(core)
    clock.set(NOW)
    async with core.db.transaction() as session:
        session.add(
            User(username="boss", display_name="赵主管", role="supervisor", email="b@x.example", created_at=NOW)
        )
    writer = WeeklyReportWriter(core.db, core.texts, "zh", ZONE, forms=core.forms)
    made = await writer.create("2026-W48", now=NOW, recipients=WeeklyRecipients(email=True, telegram=False))
    assert made is not None
    async with core.db.transaction() as session:
        row = (await session.execute(select(WeeklyReport).where(WeeklyReport.week == "2026-W48"))).scalar_one()
    assert row.data["needs"]["topics"][2] == {
        "item": "billing",
        "week": 4,
        "previous_4_weeks": 2,
        "average": 0.5,
        "change": 3.5,
        "mark": "rising",
    }
    assert "客户需求趋势" in row.html and "上升 ↑" in row.html and "下降 ↓" in row.html
    assert "发票与付款" in row.html
    # The two charts are well-formed SVG with one bar pair per topic.
    svgs = [row.html[i : row.html.index("</svg>", i) + 6] for i in _find_all(row.html, '<svg xmlns="http://www.w3.org')]
    needs_charts = [s for s in svgs if "咨询类别" in s or "投诉主题" in s]
    assert len(needs_charts) == 2
    for svg in needs_charts:
        tree = ET.fromstring(svg)
        assert len(tree.findall("{http://www.w3.org/2000/svg}rect")) == 6 * 2 + 2
    csv_text = row.csv["needs"]
    assert csv_text.startswith("\ufeff")
    lines = csv_text[1:].split("\r\n")
    assert lines[0] == "客户等级,分组,类别,本周,前四周合计,前四周周平均,变化,趋势"
    assert "全部,咨询类别,发票与付款,4,2,0.5,3.5,上升 ↑" in lines
    assert "全部,增长最多的关键词,发票,4,2,0.5,3.5,上升 ↑" in lines
    assert "B,咨询类别,投放与效果,0,8,2.0,-2.0,下降 ↓" in lines
    # The archive lists the needs file beside the six tables.
    assert set(row.csv) == {"summary", "categories", "satisfaction", "keywords", "reps", "departments", "needs"}


async def test_english_report_and_empty_weeks(core: Core) -> None:
    # No ticket at all: every topic is listed at 0, steady, and no phrase grew.
    needs = await needs_of(core)
    assert all((t.week, t.previous, t.mark) == (0, 0, "") for t in needs.topics + needs.subjects)
    assert needs.phrases == [] and needs.tiers == {}
    html = "".join(NeedsTables(core.texts, "en").html(needs))
    assert "Inquiry topics" in html and "No phrase was found more often" in html


def _find_all(text: str, needle: str) -> list[int]:
    found, i = [], text.find(needle)
    while i >= 0:
        found.append(i)
        i = text.find(needle, i + 1)
    return found
