"""Config YAML read through the parse-once loader: each caller its own copy, a rewritten file read anew."""

from __future__ import annotations

from pathlib import Path

from core.yaml_files import load_file


def test_each_load_is_a_copy_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("greeting: 你好\nitems: [1, 2]\nnested: {k: v}\n", encoding="utf-8")
    first = load_file(path)
    first["items"].append(3)
    first["nested"]["k"] = "changed"
    assert load_file(path) == {"greeting": "你好", "items": [1, 2], "nested": {"k": "v"}}


def test_a_rewrite_of_the_same_size_is_read_anew(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("value: 1\n", encoding="utf-8")
    assert load_file(path) == {"value": 1}
    # Same size, and within the file system's timestamp granularity: only the text tells them apart.
    path.write_text("value: 2\n", encoding="utf-8")
    assert load_file(path) == {"value": 2}
    path.write_text("", encoding="utf-8")
    assert load_file(path) is None
