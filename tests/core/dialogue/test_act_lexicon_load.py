"""ActLexicon.load: compiled once per file text and settings words, anew when either changes."""

from __future__ import annotations

import shutil
from pathlib import Path

from core.dialogue.acts import Act, ActLexicon
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


def test_acts_kept_by_one_lexicon_are_not_those_of_a_lexicon_with_other_words(tmp_path: Path) -> None:
    path = tmp_path / "acts.yaml"
    shutil.copy(DEFAULT_CONFIG_DIR / "acts.yaml", path)
    first = ActLexicon.load(path, DialogueSettings(skip_words=["略过"]))
    assert Act.SKIP in first.recognize("略过")
    assert first.recognize("略过") is first.recognize("略过"), "the acts of a message read again are kept"
    # New words compile a new lexicon, which reads the message anew.
    other = ActLexicon.load(path, DialogueSettings(skip_words=["跳过这个"]))
    assert Act.SKIP not in other.recognize("略过")
    assert Act.SKIP in other.recognize("跳过这个") and Act.SKIP not in first.recognize("跳过这个")
