"""The `kefu` command line: the stable classify interface and the diagram."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from core.settings import PROJECT_ROOT

KEFU = Path(sys.executable).parent / "kefu"


def _run(args: list[str], stdin: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KEFU_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/absent.db"}
    return subprocess.run(
        [str(KEFU), *args], input=stdin, capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=60
    )


def test_classify_reads_lines_and_jsonl(tmp_path: Path) -> None:
    stdin = "我要投诉，你们的广告效果太差了\n" + json.dumps({"text": "请问发票怎么开？", "id": 7}) + "\n你好\n"
    done = _run(["classify"], stdin, tmp_path)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["我要投诉，你们的广告效果太差了", "请问发票怎么开？", "你好"]
    assert rows[0]["category"] == "complaint" and rows[0]["confident"] is True
    assert rows[1]["category"] == "inquiry"
    assert rows[2] == {"text": "你好", "category": "other", "confidence": 0.0, "confident": False, "matched": []}
    for row in rows:
        assert set(row) == {"text", "category", "confidence", "confident", "matched"}
        assert 0.0 <= row["confidence"] <= 1.0
    assert not (tmp_path / "absent.db").exists(), "classify must not create a database"


def test_dialogue_diagram(tmp_path: Path) -> None:
    done = _run(["dialogue", "diagram"], "", tmp_path)
    assert done.returncode == 0
    assert done.stdout.startswith("stateDiagram-v2")
