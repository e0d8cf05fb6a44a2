"""Learning from the deployment: confirmed labels where people confirm categories, draft models fitted on them,
publishing and rollback across processes, the weekly fit."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from core.clock import ManualClock
from core.db.models import AuditEntry, ClassifierModel, ConfirmedLabel, Ticket
from core.learning import labels, store
from core.learning.data import Labelled, starter_data
from core.learning.draft import MIN_HELD, DraftInputs, split, train_draft, with_combination_of
from core.learning.labels import Confirmed
from core.settings import Settings
from core.tickets.lifecycle import TicketStatus, TransitionRequest
from core.wiring import Core
from handlers.classifier_training import WeeklyTraining, train_and_store
from handlers.services import Services, build_services
from tests.support.chat import TICKET_NO, Chat, texts_of

FRIDAY = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    from tests.conftest import NO_LIMITS

    # The agency's own messages as starter data: a fit takes seconds instead of minutes.
    return Settings(
        database_url=db_url,
        env="test",
        media_dir=tmp_path / "media",
        limits=NO_LIMITS,
        # The rules alone in force at first (no settings' model): a draft's figures are compared with the rules';
        # the starter model, in force by default, was trained on the very messages these drafts hold back.
        dialogue={"training_corpus": "none", "classifier_model": ""},
    )


async def _open(chat: Chat, first: str = "你们的信息流广告效果太差了，完全不跑量") -> str:
    await chat.send(first)
    for answer in ("双十二开屏", "跳过", "跳过", "13800138000"):
        await chat.send(answer)
    number = TICKET_NO.search(texts_of(await chat.click("确认提交")))
    assert number
    return number.group(0)


async def _ticket(services: Services, number: str) -> Ticket:
    async with services.db.transaction() as session:
        return (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one()


async def _labels(services: Services) -> list[tuple[str, str, str]]:
    async with services.db.transaction() as session:
        rows = (await session.execute(select(ConfirmedLabel).order_by(ConfirmedLabel.id))).scalars()
        return [(r.kind, r.category, r.text) for r in rows]


async def _close(services: Services, number: str, clock: ManualClock) -> None:
    for step in (
        TransitionRequest(TicketStatus.RESOLVED, "cli", solution="已处理"),
        TransitionRequest(TicketStatus.CLOSED, "cli", root_cause="素材审核慢", improvement="提前送审"),
    ):
        async with services.db.transaction() as session:
            ticket = (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one()
            await services.desk.move(session, ticket, step, clock.now())


async def test_an_uncorrected_confident_verdict_becomes_a_weak_label_at_close(
    web: httpx.AsyncClient, services: Services, clock: ManualClock
) -> None:
    clock.set(FRIDAY)
    number = await _open(Chat(web))
    assert await _labels(services) == []
    await _close(services, number, clock)
    assert await _labels(services) == [("uncorrected", "complaint", "你们的信息流广告效果太差了，完全不跑量")]
    # Reopened and closed again: still one label.
    async with services.db.transaction() as session:
        ticket = (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one()
        await services.desk.move(session, ticket, TransitionRequest(TicketStatus.INVESTIGATING, "cli"), clock.now())
    await _close(services, number, clock)
    assert len(await _labels(services)) == 1


async def test_a_reps_reclassification_is_the_strongest_label_and_no_weak_one_follows(
    web: httpx.AsyncClient, services: Services, clock: ManualClock
) -> None:
    clock.set(FRIDAY)
    number = await _open(Chat(web))
    from handlers.console.edits import reclassify

    for category in ("inquiry", "suggestion"):
        async with services.db.transaction() as session:
            ticket = (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one()
            assert await reclassify(session, ticket, category, "cli", clock.now())
    # A change of mind replaces the rep's label rather than adding a second one.
    assert await _labels(services) == [("rep", "suggestion", "你们的信息流广告效果太差了，完全不跑量")]
    await _close(services, number, clock)
    assert [k for k, _, _ in await _labels(services)] == ["rep"]


async def test_the_clients_own_pick_is_a_label(web: httpx.AsyncClient, services: Services, clock: ManualClock) -> None:
    clock.set(FRIDAY)
    chat = Chat(web)
    await chat.send("在吗")
    await chat.send("", button="cat:complaint")
    for answer in ("素材审核太慢，耽误投放", "双十二开屏", "跳过", "跳过", "13800138000"):
        await chat.send(answer)
    number = TICKET_NO.search(texts_of(await chat.click("确认提交")))
    assert number
    assert await _labels(services) == [("client", "complaint", "素材审核太慢，耽误投放")]
    # The client names another category later: his label follows; closing adds no weak label.
    async with services.db.transaction() as session:
        ticket = (await session.execute(select(Ticket).where(Ticket.number == number.group(0)))).scalar_one()
        await services.desk.reclassify_by_client(session, ticket, "suggestion", "其实是建议", clock.now())
    await _close(services, number.group(0), clock)
    assert await _labels(services) == [("client", "suggestion", "素材审核太慢，耽误投放")]


async def test_a_category_named_in_the_first_message_is_the_clients_pick(
    web: httpx.AsyncClient, services: Services, clock: ManualClock
) -> None:
    clock.set(FRIDAY)
    number = await _open(Chat(web), "你们的信息流广告效果太差了，我要投诉")
    assert await _labels(services) == [("client", "complaint", "你们的信息流广告效果太差了，我要投诉")]
    await _close(services, number, clock)
    assert [k for k, _, _ in await _labels(services)] == ["client"]


async def test_training_takes_each_tickets_strongest_label_and_caps_the_uncorrected(core: Core) -> None:
    now = FRIDAY
    async with core.db.transaction() as session:
        session.add_all(
            [
                ConfirmedLabel(
                    ticket_id=None,
                    kind="uncorrected",
                    text=f"第{i}条",
                    category="inquiry",
                    created_at=now + timedelta(seconds=i),
                )
                for i in range(labels.MAX_UNCORRECTED + 5)
            ]
        )
        session.add(ConfirmedLabel(ticket_id=None, kind="rep", text="强", category="complaint", created_at=now))
    async with core.db.transaction() as session:
        found = await labels.training_labels(session)
    assert labels.counts(found) == {"rep": 1, "client": 0, "uncorrected": labels.MAX_UNCORRECTED}
    # The newest uncorrected ones are kept.
    assert "第0条" not in {c.text for c in found} and f"第{labels.MAX_UNCORRECTED + 4}条" in {c.text for c in found}


def _rows() -> list[Labelled]:
    """The agency's own labelled messages (dev split and written examples), as if reps had confirmed them."""
    return starter_data(None)


def test_the_newest_fifth_is_held_back_and_the_threshold_is_chosen_on_it() -> None:
    base = FRIDAY
    confirmed = [Confirmed(r.text, r.label, "rep", base + timedelta(minutes=i)) for i, r in enumerate(_rows())]
    trained_on, held = split(confirmed)
    assert len(held) == round(len(confirmed) * 0.2) and min(c.created_at for c in held) > max(
        c.created_at for c in trained_on
    )
    assert len(held) >= MIN_HELD
    # The starter data holds the same messages: the held-back ones must not be trained on through it either.
    inputs = DraftInputs(
        starter=_rows(), labels=confirmed, rules=[], rules_threshold=0.5, in_force=None, fallback_threshold=0.77
    )
    model, report = train_draft(inputs)
    assert report["held_back"]["rep"] == len(held) and report["trained_on"]["rep"] == len(trained_on)
    assert report["trained_on"]["starter"] == len(confirmed) - len(held)
    assert report["threshold_chosen_on"] == "held_back" and model.threshold == report["threshold"]
    draft = report["draft"]
    assert draft["n"] == len(held) and set(draft["f1"]) == {"inquiry", "complaint", "suggestion", "other"}
    # At the chosen threshold the confident answers on the held-back labels are >= 90 % right.
    assert draft["precision"] >= 0.9 or model.threshold == 1.0
    point = next(p for p in draft["curve"] if p["threshold"] == 0.9)
    sure = [right for confidence, right in draft["scores"] if confidence >= 0.9]
    assert point["coverage"] == round(len(sure) / len(held), 4)
    assert store.coverage_at(draft, model.threshold) == {
        "threshold": model.threshold,
        "coverage": draft["coverage"],
        "precision": draft["precision"],
    }
    # Too few held-back labels to choose on: the fallback threshold is kept and the report says so.
    _, small = train_draft(DraftInputs([], confirmed[::20], [], 0.5, None, 0.77))
    assert small["threshold"] == 0.77 and small["threshold_chosen_on"] == "fallback"
    with pytest.raises(ValueError, match="two categories"):
        train_draft(DraftInputs([], [c for c in confirmed if c.category == "inquiry"], [], 0.5, None, 0.77))


def test_a_draft_combines_rules_and_model_as_the_model_in_force_does() -> None:
    # What is tested is where the draft's weights and prior come from, not what it learns: an eighth of the
    # messages (every category) fits in a fraction of the time.
    rows = _rows()[::8]
    confirmed = [Confirmed(r.text, r.label, "rep", FRIDAY + timedelta(minutes=i)) for i, r in enumerate(rows)]
    plain, _ = train_draft(DraftInputs(rows, confirmed, [], 0.5, None, 0.77))
    assert (plain.rule_weight, plain.model_weight, plain.prior) == (1.0, 1.0, ())
    prior = tuple(0.1 * i for i in range(len(plain.classes)))
    in_force = replace(plain, rule_weight=2.45, model_weight=0.74, prior=prior)
    draft, _ = train_draft(DraftInputs(rows, confirmed, [], 0.5, in_force, 0.77))
    assert (draft.rule_weight, draft.model_weight, draft.prior) == (2.45, 0.74, prior)
    # A prior belongs to its classes: with other classes only the weights carry over.
    other = replace(in_force, classes=tuple(reversed(in_force.classes)))
    assert with_combination_of(plain, other).prior == ()


async def _with_labels(services: Services, every: int = 1) -> None:
    """The agency's messages as confirmed labels; `every` n-th one only, where the fit's quality is not tested."""
    async with services.db.transaction() as session:
        for i, row in enumerate(_rows()[::every]):
            session.add(
                ConfirmedLabel(
                    ticket_id=None,
                    kind="rep",
                    text=row.text,
                    category=row.label,
                    created_at=FRIDAY + timedelta(minutes=i),
                )
            )


async def test_a_published_draft_is_in_force_in_every_process_and_rolls_back(
    services: Services, settings: Settings, clock: ManualClock
) -> None:
    await _with_labels(services, every=8)
    row = await train_and_store(services, note="first", user_id=None, in_process=True)
    assert services.classifier.current.model is None  # a draft classifies nothing
    other = build_services(settings, clock)
    await other.start(migrate=False)
    try:
        async with services.db.transaction() as session:
            await store.publish(session, row.number, threshold=0.6, note="try it", user_id=None, now=clock.now())
        for process in (services, other):
            await process.config.check()
            model = process.classifier.current.model
            assert model is not None and model.threshold == 0.6 and process.model_number == row.number
            # The rules in force stay in front.
            assert process.classifier.current.version == 1 and process.classifier.current.rule_count > 900
        verdict = other.classifier.current.classify("发票怎么开")
        assert verdict.model, "the verdict carries the model's probabilities"
        async with services.db.transaction() as session:
            await store.rollback(session, store.SHIPPED, user_id=None, now=clock.now())
        for process in (services, other):
            await process.config.check()
            assert process.classifier.current.model is None and process.model_number == 0
        async with services.db.transaction() as session:
            actions = [a.action for a in (await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars()]
        assert actions[-3:] == ["classifier_draft_trained", "classifier_published", "classifier_rolled_back"]
    finally:
        await other.stop()


async def test_the_weekly_fit_runs_once_a_week_and_only_on_new_labels(services: Services, clock: ManualClock) -> None:
    clock.set(FRIDAY)
    weekly = WeeklyTraining(services)
    assert await weekly.tick() is None  # no label yet: nothing to learn from
    # What is tested is when a fit runs, not what it learns: an eighth of the labels (every category) fits in a
    # fraction of the time the whole set takes, twice, through the same subprocess and training code.
    await _with_labels(services, every=8)
    clock.set(FRIDAY + timedelta(days=1))  # Saturday: the same ISO week, after every label
    first = await weekly.tick()
    assert first is not None
    assert await weekly.tick() is None  # the same week
    clock.advance(timedelta(days=7))
    assert await weekly.tick() is None  # a new week, but no label since the last fit
    async with services.db.transaction() as session:
        session.add(
            ConfirmedLabel(
                ticket_id=None, kind="client", text="新的建议", category="suggestion", created_at=clock.now()
            )
        )
    second = await weekly.tick()
    assert second == first + 1
    async with services.db.transaction() as session:
        weeks = [
            r.week for r in (await session.execute(select(ClassifierModel).order_by(ClassifierModel.number))).scalars()
        ]
        document = await store.in_force(session)
    assert weeks == ["2026-W49", "2026-W50"] and document == (0, None)  # never published by itself


async def test_a_weekly_fit_that_fails_is_logged_and_not_retried_that_week(
    services: Services, settings: Settings, clock: ManualClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock.set(FRIDAY)
    async with services.db.transaction() as session:
        session.add(
            ConfirmedLabel(ticket_id=None, kind="rep", text="我要投诉", category="complaint", created_at=FRIDAY)
        )
    broken = settings.model_copy(
        update={"dialogue": settings.dialogue.model_copy(update={"training_corpus": str(tmp_path / "gone.tsv")})}
    )
    other = build_services(broken, clock)
    await other.start(migrate=False)
    try:
        weekly = WeeklyTraining(other)
        with caplog.at_level("ERROR", logger="handlers.classifier_training"):
            assert await weekly.tick() is None
            assert await weekly.tick() is None
        assert [r.message for r in caplog.records].count(
            "the weekly classifier fit for 2026-W49 failed; next try next week"
        ) == 1
        async with other.db.transaction() as session:
            assert await session.scalar(select(ClassifierModel.id)) is None
    finally:
        await other.stop()
