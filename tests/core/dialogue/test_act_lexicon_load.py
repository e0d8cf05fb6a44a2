"""ActLexicon.load: compiled once per file text and settings words, anew when either changes."""

from __future__ import annotations

import shutil
from pathlib import Path

from core.dialogue.acts import ActLexicon
from core.settings import DEFAULT_CONFIG_DIR, DialogueSettings


def test_the_same_file_and_words_share_one_lexicon_and_a_change_of_either_compiles_anew(tmp_path: Path) -> None:
    path = tmp_path / "acts.yaml"
    shutil.copy(DEFAULT_CONFIG_DIR / "acts.yaml", path)
    first = ActLexicon.load(path)
    assert ActLexicon.load(path) is first
    other_words = ActLexicon.load(path, DialogueSettings(skip_words=["略过"]))
    assert other_words is not first and other_words.skip_words == frozenset({"略过"})
    text = path.read_text(encoding="utf-8")
    assert "alone_max_other: 1\n" in text
    path.write_text(text.replace("alone_max_other: 1\n", "alone_max_other: 7\n"), encoding="utf-8")
    edited = ActLexicon.load(path)
    assert edited is not first and edited.max_other == 7 and first.max_other != 7
