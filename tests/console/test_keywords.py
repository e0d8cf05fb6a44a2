"""The keyword rules page's API: draft, try, replay, publish, rollback, compare, audit, learning, import/export."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from core.db.models import AuditEntry, KeywordVersion, Message, TicketEvent
from core.keywords.versions import number_in_force
from core.messages import ConversationRef, InboundMessage, MessageType
from core.settings import Settings
from handlers.services import Services
from tests.console.conftest import SignIn
from tests.console.helpers import Rep, escalate


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The rules alone: these tests read the rules' own verdicts (the model behind them: test_classifier_models)."""
    return settings.model_copy(update={"dialogue": settings.dialogue.model_copy(update={"classifier_model": ""})})


SMALL = """
rules:
  - {phrase: 投诉, category: complaint, weight: 3.0}
  - {phrase: 请问, category: inquiry, weight: 2.0}
  - {phrase: 建议, category: suggestion, weight: 2.5, note: proposals}
"""


async def _write(services: Services, text: str, visitor: str | None = None) -> int:
    result = await services.engine.receive(
        InboundMessage(
            ref=ConversationRef(channel="web", external_user_id=visitor or uuid.uuid4().hex),
            external_id=uuid.uuid4().hex,
            type=MessageType.TEXT,
            text=text,
        )
    )
    assert result.message_id is not None
    return result.message_id


async def _publish_small(admin: Rep) -> int:
    response = await admin.post("/console/api/keywords/import", {"yaml": SMALL, "publish": True, "note": "small"})
    assert response.status_code == 200, response.text
    return int(response.json()["version"])


async def _rule_id(admin: Rep, phrase: str) -> int:
    rules = (await admin.get(f"/console/api/keywords/rules?q={phrase}")).json()["rules"]
    return next(r["id"] for r in rules if r["phrase"] == phrase)


async def test_first_start_seeds_the_shipped_rules_as_draft_and_version_1(services: Services) -> None:
    async with services.db.transaction() as session:
        versions = list((await session.execute(select(KeywordVersion))).scalars())
        assert await number_in_force(session) == 1
    assert [v.number for v in versions] == [1]
    assert len(versions[0].rules) == services.classifier.current.rule_count > 900
    assert services.classifier.current.version == 1


async def test_admin_only(services: Services, signed_in: SignIn) -> None:
    rep = await signed_in("rep1", role="rep")
    sup = await signed_in("sup1", role="supervisor")
    for person in (rep, sup):
        assert (await person.get("/console/keywords")).status_code == 403
        assert (await person.get("/console/api/keywords/rules")).status_code == 403
        assert (await person.get("/console/api/keywords/versions")).status_code == 403
        assert (await person.get("/console/api/keywords/learning")).status_code == 403
        assert (await person.get("/console/api/keywords/export")).status_code == 403
        assert (await person.post("/console/api/keywords/try", {"text": "投诉"})).status_code == 403
        assert (
            await person.post("/console/api/keywords/rules", {"phrase": "x", "category": "other"})
        ).status_code == 403
        assert (await person.post("/console/api/keywords/replay", {})).status_code == 403
        assert (await person.post("/console/api/keywords/publish", {})).status_code == 403
        assert (await person.post("/console/api/keywords/versions/1/rollback")).status_code == 403
        assert (await person.post("/console/api/keywords/import", {"yaml": SMALL})).status_code == 403
    admin = await signed_in("adm", role="admin")
    assert (await admin.get("/console/keywords")).status_code == 200


async def test_draft_edits_do_not_change_live_classification_until_published(
    services: Services, signed_in: SignIn
) -> None:
    admin = await signed_in("adm", role="admin")
    live_before = services.classifier.current
    added = await admin.post(
        "/console/api/keywords/rules",
        {"phrase": "离谱到家", "category": "complaint", "weight": 3, "match_mode": "substring", "note": "新说法"},
    )
    assert added.status_code == 201, added.text
    tried = (await admin.post("/console/api/keywords/try", {"text": "真是离谱到家"})).json()
    assert tried["draft"]["category"] == "complaint" and tried["draft"]["confident"]
    assert "离谱到家" in [m["phrase"] for m in tried["draft"]["matched"]]
    assert "离谱到家" not in [m["phrase"] for m in tried["live"]["matched"]] and tried["live"]["version"] == 1
    # What clients meet is unchanged: the same classifier object, and a new message is classified with version 1.
    await services.config.check()
    assert services.classifier.current is live_before
    message_id = await _write(services, "真是离谱到家")
    async with services.db.transaction() as session:
        recorded = (await session.get(Message, message_id)).payload["classified"]  # type: ignore[union-attr]
    assert recorded["version"] == 1 and "离谱到家" not in recorded["matched"]

    published = await admin.post("/console/api/keywords/publish", {"note": "新说法"})
    assert published.status_code == 201 and published.json() == {"version": 2}
    assert services.classifier.current.version == 2
    assert services.classifier.current.classify("真是离谱到家").category == "complaint"


async def test_replay_reports_exactly_the_changes_the_draft_makes(services: Services, signed_in: SignIn) -> None:
    admin = await signed_in("adm", role="admin")
    version = await _publish_small(admin)
    # A greeting alone ("你好") says nothing of an issue and is not classified, so replay does not count it.
    texts = ["我要投诉", "请问发票怎么开", "发票还没收到", "你好", "建议你们改一下"]
    ids = [await _write(services, text) for text in texts]
    # The draft: a new complaint cue, and 建议 weakened below confidence (2.5 -> 0.5: confidence 0.25).
    assert (
        await admin.post("/console/api/keywords/rules", {"phrase": "没收到", "category": "complaint", "weight": 2.5})
    ).status_code == 201
    edited = await admin.post(f"/console/api/keywords/rules/{await _rule_id(admin, '建议')}", {"weight": 0.5})
    assert edited.status_code == 200, edited.text

    result = (await admin.post("/console/api/keywords/replay", {"limit": 1000})).json()
    assert result["messages"] == 4 and result["live_version"] == version
    assert result["before"] == {"inquiry": 1, "complaint": 1, "suggestion": 1, "other": 0, "unsure": 1}
    assert result["after"] == {"inquiry": 1, "complaint": 2, "suggestion": 0, "other": 0, "unsure": 1}
    changed = {c["message_id"]: (c["before"]["bucket"], c["after"]["bucket"]) for c in result["changed"]}
    assert changed == {ids[2]: ("unsure", "complaint"), ids[4]: ("suggestion", "unsure")}
    recorded = {c["message_id"]: c["recorded"] for c in result["changed"]}
    assert recorded == {ids[2]: "other", ids[4]: "suggestion"}
    # Only the most recent N count.
    latest = (await admin.post("/console/api/keywords/replay", {"limit": 2})).json()
    assert latest["messages"] == 2 and [c["message_id"] for c in latest["changed"]] == [ids[4], ids[2]]


async def test_publish_compare_rollback_and_audit(services: Services, signed_in: SignIn) -> None:
    admin = await signed_in("adm", role="admin")
    v2 = await _publish_small(admin)
    assert services.classifier.current.version == v2 == 2
    rule_id = await _rule_id(admin, "请问")
    assert (await admin.post(f"/console/api/keywords/rules/{rule_id}", {"match_mode": "word"})).status_code == 200
    assert (
        await admin.post(f"/console/api/keywords/rules/{await _rule_id(admin, '投诉')}", {"enabled": False})
    ).status_code == 200
    await admin.post("/console/api/keywords/rules", {"phrase": "refund", "category": "complaint", "weight": 2})
    pending = (await admin.get("/console/api/keywords/compare?a=2&b=draft")).json()
    assert [r["phrase"] for r in pending["added"]] == ["refund"] and pending["removed"] == []
    assert {r["phrase"]: r["changes"] for r in pending["changed"]} == {
        "请问": {"match_mode": ["auto", "word"]},
        "投诉": {"enabled": [True, False]},
    }
    assert (await admin.post("/console/api/keywords/publish", {"note": "third"})).json() == {"version": 3}
    assert services.classifier.current.classify("我要投诉").category == "other"
    between = (await admin.get("/console/api/keywords/compare?a=2&b=3")).json()
    assert len(between["added"]) == 1 and len(between["changed"]) == 2
    assert len((await admin.get("/console/api/keywords/compare?a=1&b=2")).json()["removed"]) > 900

    rolled = await admin.post("/console/api/keywords/versions/2/rollback")
    assert rolled.status_code == 200
    assert services.classifier.current.version == 2
    assert services.classifier.current.classify("我要投诉").category == "complaint"
    listing = (await admin.get("/console/api/keywords/versions")).json()
    assert listing["in_force"] == 2 and [v["number"] for v in listing["versions"]] == [3, 2, 1]
    assert (await admin.post("/console/api/keywords/versions/2/rollback")).status_code == 400
    # The draft keeps the work in progress.
    assert (await admin.get("/console/api/keywords/compare?a=3&b=draft")).json()["changed"] == []

    async with services.db.transaction() as session:
        rows = list((await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars())
    actions = [(r.action, r.target) for r in rows if r.action.startswith("keyword")]
    assert [a for a, _ in actions] == [
        "keyword_draft_replaced",
        "keywords_published",
        "keyword_rule_changed",
        "keyword_rule_disabled",
        "keyword_rule_added",
        "keywords_published",
        "keywords_rolled_back",
    ]
    by_action = {r.action: r for r in rows}
    assert by_action["keyword_rule_disabled"].user_id == admin.user_id
    assert by_action["keyword_rule_disabled"].data["before"]["enabled"] is True
    assert by_action["keyword_rule_disabled"].data["after"]["enabled"] is False
    assert by_action["keywords_rolled_back"].data == {"before": {"version": 3}, "after": {"version": 2}}


async def test_import_with_bad_rules_changes_nothing(services: Services, signed_in: SignIn) -> None:
    admin = await signed_in("adm", role="admin")
    before = (await admin.get("/console/api/keywords/export")).text
    bad = """
rules:
  - {phrase: 退款, category: complaint, weight: 2}
  - {phrase: 太慢, category: grumble, weight: 1}
  - {phrase: "", category: other}
  - {phrase: ok, category: other, match_mode: fuzzy}
  - {phrase: 退款, category: complaint, weight: 1}
  - {phrase: 贵, category: complaint, weight: lots}
"""
    response = await admin.post("/console/api/keywords/import", {"yaml": bad, "publish": True})
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert len(errors) == 5
    assert errors[0].startswith("rule 2 ('太慢'): category")
    assert errors[1].startswith("rule 3 (''): phrase")
    assert "match_mode" in errors[2] and "rule 1" in errors[3] and "weight" in errors[4]
    assert (await admin.post("/console/api/keywords/import", {"yaml": "rules: [unclosed"})).status_code == 400
    assert (await admin.get("/console/api/keywords/export")).text == before
    async with services.db.transaction() as session:
        assert await number_in_force(session) == 1
        assert not (await session.execute(select(AuditEntry).where(AuditEntry.action.like("keyword%")))).first()


async def test_export_then_import_gives_the_same_draft(services: Services, signed_in: SignIn) -> None:
    admin = await signed_in("adm", role="admin")
    await admin.post(
        "/console/api/keywords/rules",
        {"phrase": "收到", "category": "other", "weight": 2, "match_mode": "whole", "note": "确认"},
    )
    exported = (await admin.get("/console/api/keywords/export")).text
    assert "{phrase: 收到, category: other, weight: 2.0, match_mode: whole, note: 确认}" in exported
    assert (await admin.post("/console/api/keywords/import", {"yaml": exported})).json()["rules"] > 900
    assert (await admin.get("/console/api/keywords/export")).text == exported
    assert (await admin.get("/console/api/keywords/export?version=1")).status_code == 200


async def test_classification_is_recorded_on_the_message_and_the_ticket(services: Services, signed_in: SignIn) -> None:
    admin = await signed_in("adm", role="admin")
    version = await _publish_small(admin)
    visitor = "v-" + uuid.uuid4().hex
    # The rules decide it ("我要投诉" would be the client naming the category: his pick, not the keywords').
    first = await _write(services, "必须投诉", visitor)
    conversation_id, number = await escalate(services, visitor, "人工")
    picker = "p-" + uuid.uuid4().hex
    await _write(services, "你好", picker)
    await services.engine.receive(
        InboundMessage(
            ref=ConversationRef(channel="web", external_user_id=picker),
            external_id=uuid.uuid4().hex,
            type=MessageType.TEXT,
            text="",
            button_id="cat:suggestion",
        )
    )
    _, picked_number = await escalate(services, picker, "人工")
    async with services.db.transaction() as session:
        message = await session.get(Message, first)
        assert message is not None
        assert message.payload["classified"] == {
            "category": "complaint",
            "confidence": 1.0,
            "confident": True,
            "matched": ["投诉"],
            "version": version,
        }
        handoff = (
            await session.execute(
                select(Message).where(Message.conversation_id == conversation_id, Message.text == "人工")
            )
        ).scalar_one()
        assert "classified" not in handoff.payload
        events = {
            e.ticket_id: e.data
            for e in (await session.execute(select(TicketEvent).where(TicketEvent.kind == "classified"))).scalars()
        }
    data = list(events.values())
    keyworded = next(d for d in data if d["category"] == "complaint")
    assert {k: keyworded[k] for k in ("matched", "confident", "picked", "rules_version")} == {
        "matched": ["投诉"],
        "confident": True,
        "picked": False,
        "rules_version": version,
    }
    picked = next(d for d in data if d["category"] == "suggestion")
    assert {k: picked[k] for k in ("matched", "confident", "picked", "rules_version")} == {
        "matched": [],
        "confident": False,
        "picked": True,
        "rules_version": version,
    }
    assert number != picked_number


async def test_learning_lists_reclassifications_and_suggests_uncovered_phrases(
    services: Services, signed_in: SignIn
) -> None:
    admin = await signed_in("adm", role="admin")
    await _publish_small(admin)
    texts = ["发票一直没有到账", "发票一直没有到账，请问", "请问发票一直不来"]
    numbers = []
    for text in texts:
        visitor = "l-" + uuid.uuid4().hex
        await _write(services, text, visitor)
        _, number = await escalate(services, visitor, "人工")
        numbers.append(number)
        assert (
            await admin.post(f"/console/api/tickets/{number}/category", {"category": "complaint"})
        ).status_code == 200
    learning = (await admin.get("/console/api/keywords/learning")).json()
    assert {r["ticket"] for r in learning["reclassifications"]} == set(numbers)
    assert all(r["after"] == "complaint" and r["messages"] for r in learning["reclassifications"])
    phrases = {s["phrase"]: s for s in learning["suggestions"]}
    assert phrases["发票一直"]["count"] == 3 and phrases["发票一直"]["category"] == "complaint"
    assert phrases["没有到账"]["count"] == 2
    # Covered by a draft rule (请问), ending in a stop character (一直没有), or in one message only: not suggested.
    assert not any("请问" in p for p in phrases)
    assert "一直没有" not in phrases and "不来" not in phrases
    # One click adds it to the draft, which then covers it.
    assert (
        await admin.post("/console/api/keywords/rules", {"phrase": "发票一直", "category": "complaint"})
    ).status_code == 201
    again = {s["phrase"] for s in (await admin.get("/console/api/keywords/learning")).json()["suggestions"]}
    assert "发票一直" not in again and "发票一直没" not in again


async def test_recording_costs_one_update_on_classifying_turns_only(services: Services) -> None:
    from sqlalchemy import event

    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    engine = services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        visitor = "c-" + uuid.uuid4().hex
        await _write(services, "你好", visitor)
        statements.clear()
        await _write(services, "我要投诉", visitor)
        classifying = list(statements)
        statements.clear()
        # Now collecting the complaint's details: the answer is not classified.
        await _write(services, "上周的投放数据不对", visitor)
        answering = list(statements)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    # On PostgreSQL the UPDATE rides inside the reply's statement (a WITH clause); on SQLite it is its own.
    updates = [s for s in classifying if "UPDATE MESSAGES" in s.upper()]
    assert len(updates) == 1 and updates[0].upper().count("UPDATE MESSAGES") == 1
    assert not [s for s in answering if "UPDATE MESSAGES" in s.upper()]


async def test_a_version_can_be_copied_back_into_the_draft(services: Services, signed_in: SignIn) -> None:
    admin = await signed_in("adm", role="admin")
    await _publish_small(admin)
    small = (await admin.get("/console/api/keywords/export")).text
    response = await admin.post("/console/api/keywords/versions/1/to-draft")
    assert response.status_code == 200 and response.json()["rules"] > 900
    assert (await admin.get("/console/api/keywords/compare?a=1&b=draft")).json() == {
        "a": "1",
        "b": "draft",
        "added": [],
        "removed": [],
        "changed": [],
    }
    assert (await admin.get("/console/api/keywords/export")).text != small
    async with services.db.transaction() as session:
        assert await number_in_force(session) == 2
        last = (await session.execute(select(AuditEntry).order_by(AuditEntry.id.desc()))).scalars().first()
    assert last is not None and last.action == "keyword_draft_replaced" and last.data["source"] == "version 1"
