"""The learned-model section of the keyword rules page: drafts with their figures beside the model in force,
replay, publish at a point of the curve, compare, roll back, audit."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.db.models import AuditEntry, ConfirmedLabel
from core.learning.data import starter_data
from core.messages import ConversationRef, InboundMessage, MessageType
from core.settings import Settings
from handlers.classifier_training import train_and_store
from handlers.services import Services
from tests.console.conftest import SignIn

API = "/console/api/classifier"
FRIDAY = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


@pytest.fixture
def settings(db_url: str, tmp_path: object) -> Settings:
    from pathlib import Path

    from tests.conftest import NO_LIMITS

    assert isinstance(tmp_path, Path)
    return Settings(
        database_url=db_url,
        env="test",
        media_dir=tmp_path / "media",
        limits=NO_LIMITS,
        # The rules alone in force at first (no settings' model): a draft's figures are compared with the rules';
        # the starter model, in force by default, was trained on the very messages these drafts hold back.
        dialogue={"training_corpus": "none", "classifier_model": ""},
    )


async def _draft(services: Services, every: int = 1) -> int:
    """A draft fitted on the agency's labelled messages, recorded as if reps had confirmed them; `every` n-th one
    only, where the draft's figures are not read."""
    # Reps confirm categories in no particular order; in file order the newest fifth (held back) would be the last
    # written examples only, a category or two.
    rows = starter_data(None)
    random.Random(20261206).shuffle(rows)
    async with services.db.transaction() as session:
        for i, row in enumerate(rows[::every]):
            session.add(
                ConfirmedLabel(
                    ticket_id=None,
                    kind="rep",
                    text=row.text,
                    category=row.label,
                    created_at=FRIDAY + timedelta(minutes=i),
                )
            )
    return (await train_and_store(services, note="test", in_process=True)).number


async def _write(services: Services, text: str) -> None:
    await services.engine.receive(
        InboundMessage(
            ref=ConversationRef(channel="web", external_user_id=uuid.uuid4().hex),
            external_id=uuid.uuid4().hex,
            type=MessageType.TEXT,
            text=text,
        )
    )


async def test_admins_see_replay_publish_compare_and_roll_back_models(services: Services, signed_in: SignIn) -> None:
    rep = await signed_in("rep1", role="rep")
    assert (await rep.get(f"{API}/models")).status_code == 403
    assert (await rep.post(f"{API}/models/1/publish", {})).status_code == 403
    admin = await signed_in("adm", role="admin")
    number = await _draft(services)

    listed = (await admin.get(f"{API}/models")).json()
    assert listed["in_force"]["number"] == 0 and listed["labels"]["rep"] > 400
    draft = listed["models"][0]
    assert draft["number"] == number and not draft["in_force"] and draft["published_at"] is None
    # Figures of the draft beside those of the model in force (rules alone here), on the same held-back labels.
    assert draft["draft"]["n"] == draft["in_force_then"]["n"] > 30
    assert draft["draft"]["accuracy"] > draft["in_force_then"]["accuracy"]
    assert {"threshold", "coverage", "precision"} <= set(draft["draft"]["curve"][0])
    assert "scores" not in draft["draft"]
    # What coverage another point of the curve gives.
    detail = (await admin.get(f"{API}/models/{number}?threshold=0.95")).json()
    at_95 = detail["at"]
    default = (await admin.get(f"{API}/models/{number}")).json()["at"]
    assert default["threshold"] == draft["threshold"] and default["coverage"] == draft["draft"]["coverage"]
    assert at_95["coverage"] <= default["coverage"]
    assert (await admin.get(f"{API}/models/{number}?threshold=2")).status_code == 400

    for text in ("请问发票怎么开", "你们的投放效果太差了，我要投诉", "建议增加一个数据看板", "发票还没收到"):
        await _write(services, text)
    replayed = (await admin.post(f"{API}/models/{number}/replay", {"limit": 100})).json()
    assert replayed["messages"] == 4 and sum(replayed["after"].values()) == 4
    for change in replayed["changed"]:
        assert change["after"]["model"], "the draft's verdicts show the model's own probabilities"
    assert services.classifier.current.model is None  # replay changes nothing

    published = await admin.post(f"{API}/models/{number}/publish", {"threshold": 0.8, "note": "first model"})
    assert published.status_code == 201, published.text
    assert published.json()["threshold"] == 0.8
    assert services.classifier.current.model is not None and services.classifier.current.model.threshold == 0.8
    again = await admin.post(f"{API}/models/{number}/publish", {"threshold": 0.8})
    assert again.status_code == 400
    listed = (await admin.get(f"{API}/models")).json()
    assert listed["in_force"] == {"number": number, "threshold": 0.8, "live_threshold": 0.8}

    compared = (await admin.get(f"{API}/compare?a=0&b={number}&limit=100")).json()
    assert compared["a"] is None and compared["b"]["number"] == number and compared["messages"] == 4

    assert (await admin.post(f"{API}/models/0/rollback")).status_code == 200
    assert services.classifier.current.model is None
    assert (await admin.post(f"{API}/models/0/rollback")).status_code == 400
    assert (await admin.post(f"{API}/models/{number}/rollback")).status_code == 200
    assert services.classifier.current.model is not None
    assert services.classifier.current.model.threshold == draft["threshold"]
    async with services.db.transaction() as session:
        rows = (await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars()
        audit = [(a.action, a.user_id, a.data.get("after")) for a in rows if a.action.startswith("classifier_")]
    assert audit == [
        ("classifier_draft_trained", None, None),
        ("classifier_published", admin.user_id, {"version": number, "threshold": 0.8}),
        ("classifier_rolled_back", admin.user_id, {"version": 0, "threshold": None}),
        ("classifier_rolled_back", admin.user_id, {"version": number, "threshold": draft["threshold"]}),
    ]


async def test_a_draft_never_published_cannot_be_rolled_back_to(services: Services, signed_in: SignIn) -> None:
    admin = await signed_in("adm", role="admin")
    number = await _draft(services, every=8)
    refused = await admin.post(f"{API}/models/{number}/rollback")
    assert refused.status_code == 400 and "never published" in refused.text
    assert (await admin.post(f"{API}/models/{number + 1}/publish", {})).status_code == 404
