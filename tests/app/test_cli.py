"""The `kefu` command line: the stable classify interface and the diagram."""

from __future__ import annotations

import json
import os
import subprocess
from functools import partial
from pathlib import Path

from core.settings import PROJECT_ROOT
from tests.support.cli import KEFU, run_kefu


def test_classify_reads_lines_and_jsonl(tmp_path: Path) -> None:
    # The installed console script itself, as a separate process: the one test that starts it end to end.
    env = {**os.environ, "KEFU_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/absent.db"}
    stdin = "我要投诉，你们的广告效果太差了\n" + json.dumps({"text": "请问发票怎么开？", "id": 7}) + "\n你好\n"
    done = subprocess.run(
        [str(KEFU), "classify"], input=stdin, capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["我要投诉，你们的广告效果太差了", "请问发票怎么开？", "你好"]
    assert rows[0]["category"] == "complaint" and rows[0]["confident"] is True
    assert rows[1]["category"] == "inquiry"
    # The contract's fields; the output may add more (the rule scores, the model's probabilities).
    core_fields = {"text", "category", "confidence", "confident", "matched"}
    # No rule matches a greeting: the model behind the rules (on by default) decides alone.
    assert (rows[2]["category"], rows[2]["matched"], rows[2]["rules"]) == ("other", [], {})
    assert rows[2]["model"]["other"] > 0.5
    for row in rows:
        assert set(row) >= core_fields
        assert 0.0 <= row["confidence"] <= 1.0
    assert not (tmp_path / "absent.db").exists(), "classify must not create a database"
    # The rules alone have nothing to say of it.
    alone = run_kefu("classify", "--no-model", env={"KEFU_DATABASE_URL": env["KEFU_DATABASE_URL"]}, stdin="你好\n")
    assert alone.returncode == 0, alone.stderr
    assert {k: v for k, v in json.loads(alone.stdout).items() if k in core_fields} == {
        "text": "你好",
        "category": "other",
        "confidence": 0.0,
        "confident": False,
        "matched": [],
    }


def test_dialogue_diagram(tmp_path: Path) -> None:
    done = run_kefu("dialogue", "diagram", env={"KEFU_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/absent.db"})
    assert done.returncode == 0
    assert done.stdout.startswith("stateDiagram-v2")


def test_tickets_list_show_and_guarded_transition(tmp_path: Path) -> None:
    import asyncio

    from core.settings import Settings
    from handlers.services import build_services
    from tests.support.fakes import inbound

    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    kefu = partial(run_kefu, env={"KEFU_DATABASE_URL": url})

    async def make_ticket() -> None:
        services = build_services(Settings(database_url=url))
        await services.start()
        try:
            await services.engine.receive(inbound("人工", "m1", channel="web"))
        finally:
            await services.stop()

    asyncio.run(make_ticket())

    listed = kefu("tickets", "list")
    assert listed.returncode == 0, listed.stderr
    number = listed.stdout.split()[0]
    assert number.startswith("KF-") and "classified" in listed.stdout
    refused = kefu("tickets", "transition", number, "closed")
    assert refused.returncode == 2 and "cannot go from classified to closed" in refused.stderr
    no_solution = kefu("tickets", "transition", number, "resolved")
    assert no_solution.returncode == 2 and "solution" in no_solution.stderr
    done = kefu("tickets", "transition", number, "resolved", "--solution", "已电话回复客户", "--actor", "ops")
    assert done.returncode == 0, done.stderr
    shown = json.loads(kefu("tickets", "show", number).stdout)
    assert shown["status"] == "resolved" and shown["solution"] == "已电话回复客户"
    assert [e["kind"] for e in shown["events"]][:2] == ["received", "classified"]
    resolved = [e for e in shown["events"] if e["kind"] == "resolved"]
    assert len(resolved) == 1 and resolved[0]["actor"] == "ops" and resolved[0]["after"] == "resolved"


def test_keywords_import_export_round_trip_and_refusal(tmp_path: Path) -> None:
    kefu = partial(run_kefu, env={"KEFU_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/kefu.db"})

    assert kefu("db", "upgrade").returncode == 0
    source = tmp_path / "rules.yaml"
    source.write_text(
        "rules:\n"
        "  - {phrase: 投诉, category: complaint, weight: 3}\n"
        "  - {phrase: 收到, category: other, weight: 2, match_mode: whole, note: 确认}\n"
        "  - {phrase: not complaining, category: complaint, weight: -2, enabled: false}\n",
        encoding="utf-8",
    )
    imported = kefu("keywords", "import", str(source), "--publish")
    assert imported.returncode == 0, imported.stderr
    assert "3 rules" in imported.stdout and "version 1" in imported.stdout
    draft = kefu("keywords", "export")
    assert draft.returncode == 0, draft.stderr
    assert "{phrase: 收到, category: other, weight: 2.0, match_mode: whole, note: 确认}" in draft.stdout
    published = tmp_path / "v1.yaml"
    assert kefu("keywords", "export", "--version", "1", str(published)).returncode == 0
    # Round trip: the exported file imports to the same draft.
    assert kefu("keywords", "import", str(published)).returncode == 0
    assert kefu("keywords", "export").stdout == draft.stdout
    # The published version is what classification uses.
    verdict = json.loads(kefu("classify", "--rules", "db", stdin="收到\n").stdout)
    assert verdict["category"] == "other" and verdict["confident"] is True

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n  - {phrase: 投诉, category: complaint}\n  - {phrase: x, category: nope}\n", encoding="utf-8"
    )
    refused = kefu("keywords", "import", str(bad), "--publish")
    assert refused.returncode == 2
    assert "rule 2 ('x'): category" in refused.stderr and "nothing was changed" in refused.stderr
    assert kefu("keywords", "export").stdout == draft.stdout
    assert kefu("keywords", "export", "--version", "2").returncode == 2


def test_classifier_train_draft_stores_a_draft_from_confirmed_labels(tmp_path: Path) -> None:
    import asyncio
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select

    from core.db.models import ClassifierModel, ConfirmedLabel
    from core.db.session import Database
    from core.learning.data import starter_data

    url = f"sqlite+aiosqlite:///{tmp_path}/kefu.db"
    kefu = partial(run_kefu, env={"KEFU_DATABASE_URL": url, "KEFU_DIALOGUE__TRAINING_CORPUS": "none"})

    assert kefu("db", "upgrade").returncode == 0
    start = datetime(2026, 12, 1, tzinfo=UTC)

    async def label() -> None:
        db = Database(url)
        async with db.transaction() as session:
            for i, row in enumerate(starter_data(None)[:200]):
                session.add(
                    ConfirmedLabel(
                        kind="client", text=row.text, category=row.label, created_at=start + timedelta(hours=i)
                    )
                )
        await db.dispose()

    async def drafts() -> list[ClassifierModel]:
        db = Database(url)
        async with db.transaction() as session:
            rows = list((await session.execute(select(ClassifierModel))).scalars())
        await db.dispose()
        return rows

    asyncio.run(label())
    trained = kefu("classifier", "train", "--draft", "--note", "by hand")
    assert trained.returncode == 0, trained.stderr
    assert "draft model 1" in trained.stdout and "40 held-back labels" in trained.stdout
    [draft] = asyncio.run(drafts())
    assert draft.note == "by hand" and draft.published_at is None and draft.report["held_back"]["client"] == 40


async def test_serve_skips_the_upgrade_child_only_for_a_database_at_head(tmp_path: Path) -> None:
    from core.db.migrate import upgrade
    from core.db.session import Database
    from handlers.cli import _schema_is_current

    url = f"sqlite+aiosqlite:///{tmp_path}/kefu.db"
    assert await _schema_is_current(url) is False
    db = Database(url)
    try:
        await upgrade(db, "0015")
        assert await _schema_is_current(url) is False
        await upgrade(db)
    finally:
        await db.dispose()
    assert await _schema_is_current(url) is True
    # A database the check cannot reach gets the upgrade child, which reports it.
    assert await _schema_is_current("postgresql+asyncpg://postgres@127.0.0.1:1/absent") is False
