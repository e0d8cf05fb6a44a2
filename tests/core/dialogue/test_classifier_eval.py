"""The labelled evaluation set (tests/data/eval), its seeded split, and a regression guard on held-out quality."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bench.eval_classifier import (
    CASES,
    EVAL_SET,
    HELDOUT_SHARE,
    KEYWORDS,
    LANGUAGES,
    EvalSetError,
    Example,
    assign_splits,
    evaluate,
    format_report,
    load_cases,
    load_examples,
    main,
)
from core.dialogue.classifier import KeywordClassifier, Rule, load_rules, normalize
from core.dialogue.forms import CATEGORIES

# Achieved with the shipped rules (docs/classification.md), less a margin for harmless rule edits. Raise them when
# the rules get better; lowering them means the rules got worse on messages they were not tuned on.
MIN_HELDOUT_MACRO_F1 = 0.80
# Was 0.38: since further cues of a category count half the one before (DECAY), piles of weak cues no longer make
# a confident verdict; the unsure rate rose from 0.364 to 0.400 while accuracy when confident rose 0.899 -> 0.929,
# which MIN_HELDOUT_CONFIDENT_ACCURACY now guards.
MAX_HELDOUT_UNSURE = 0.41
MIN_HELDOUT_CONFIDENT_ACCURACY = 0.92
MIN_DEV_MACRO_F1 = 0.92


@pytest.fixture(scope="module")
def examples() -> list[Example]:
    return load_examples()


@pytest.fixture(scope="module")
def classifier() -> KeywordClassifier:
    return KeywordClassifier(load_rules(KEYWORDS))


def test_the_set_is_large_mixed_and_split_per_category(examples: list[Example]) -> None:
    assert len(examples) >= 400
    labels = Counter(e.label for e in examples)
    assert set(labels) == set(CATEGORIES)
    # Realistic proportions: questions are the most common, suggestions the rarest; none is token.
    assert labels["inquiry"] > labels["complaint"] > labels["suggestion"] >= 0.1 * len(examples)
    languages = Counter(e.language for e in examples)
    assert set(languages) == set(LANGUAGES)
    assert languages["zh"] / len(examples) >= 0.6
    for label in CATEGORIES:
        heldout = sum(1 for e in examples if e.label == label and e.split == "heldout")
        assert abs(heldout / labels[label] - HELDOUT_SHARE) < 0.02, label


def test_held_out_quality_does_not_regress(examples: list[Example], classifier: KeywordClassifier) -> None:
    report = evaluate(classifier, [e for e in examples if e.split == "heldout"])
    table = format_report("held-out", report)
    assert report.macro_f1 >= MIN_HELDOUT_MACRO_F1, table
    assert report.unsure_rate <= MAX_HELDOUT_UNSURE, table
    assert report.confident_accuracy >= MIN_HELDOUT_CONFIDENT_ACCURACY, table


def test_dev_quality_does_not_regress(examples: list[Example], classifier: KeywordClassifier) -> None:
    report = evaluate(classifier, [e for e in examples if e.split == "dev"])
    assert report.macro_f1 >= MIN_DEV_MACRO_F1, format_report("dev", report, show_misses=True)


def test_rules_are_cue_phrases_not_sentences() -> None:
    # Tuning must add cues that generalise, not the evaluation's sentences: a phrase of more than 7 characters
    # (4 English words) is a sentence fragment that only one message would ever contain.
    long = []
    for rule in load_rules(KEYWORDS):
        phrase = normalize(rule.phrase)
        if (len(phrase.split()) > 4) if phrase.isascii() else (len(phrase) > 7):
            long.append(rule.phrase)
    assert not long


def test_figures_are_computed_from_the_confusion_matrix() -> None:
    classifier = KeywordClassifier(
        [Rule("投诉", "complaint", 3.0), Rule("报价", "inquiry", 1.0), Rule("吗", "inquiry", 0.2)]
    )
    report = evaluate(
        classifier,
        [
            Example("我要投诉", "complaint", "zh"),
            Example("报价发我", "inquiry", "zh"),
            Example("投诉流程是怎样的", "inquiry", "zh"),  # predicted complaint
            Example("在吗", "other", "zh"),  # inquiry, but too weak to act on
            Example("你好", "other", "zh"),  # no cue: other, not confident
        ],
    )
    assert report.confusion["inquiry"] == {"inquiry": 1, "complaint": 1, "suggestion": 0, "other": 0}
    assert report.confusion["other"] == {"inquiry": 1, "complaint": 0, "suggestion": 0, "other": 1}
    assert report.precision("complaint") == 0.5 and report.recall("complaint") == 1.0
    assert report.f1("complaint") == pytest.approx(2 / 3)
    assert report.precision("inquiry") == 0.5 and report.recall("inquiry") == 0.5
    assert report.f1("suggestion") == 0.0  # no support and no prediction
    assert report.macro_f1 == pytest.approx((2 / 3 + 0.5 + 0 + 2 / 3) / 4)
    assert report.accuracy == pytest.approx(3 / 5)
    assert report.unsure_rate == pytest.approx(2 / 5)
    assert report.confident_accuracy == pytest.approx(2 / 3)
    assert [m.example.text for m in report.misses] == ["投诉流程是怎样的", "在吗"]


def test_assign_splits_is_seeded_stratified_and_keeps_existing_splits() -> None:
    fresh = [Example(f"消息{i}", CATEGORIES[i % 4], "zh") for i in range(40)]
    kept = Example("已有", "inquiry", "zh", "dev")
    first = assign_splits([kept, *fresh])
    assert first == assign_splits([kept, *fresh])
    assert first[0] == kept
    for label in CATEGORIES:
        assert sum(1 for e in first[1:] if e.label == label and e.split == "heldout") == 3  # 30 % of 10
    assert assign_splits([kept, *fresh], seed=1) != first


def _write(tmp_path: Path, *lines: object) -> Path:
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "set.jsonl:2: not JSON"),
        ({"text": " ", "label": "inquiry", "language": "zh", "split": "dev"}, "set.jsonl:2: text missing"),
        ({"text": "x", "label": "praise", "language": "zh", "split": "dev"}, "label 'praise'"),
        ({"text": "x", "label": "other", "language": "fr", "split": "dev"}, "language 'fr'"),
        ({"text": "x", "label": "other", "language": "en"}, "split None"),
        ({"text": "好的", "label": "other", "language": "zh", "split": "dev"}, "the same text as line 1"),
    ],
)
def test_bad_lines_are_refused_with_their_line_number(tmp_path: Path, line: object, message: str) -> None:
    good = {"text": "好的", "label": "other", "language": "zh", "split": "dev"}
    with pytest.raises(EvalSetError, match=message):
        load_examples(_write(tmp_path, good, line))


def test_make_eval_prints_all_three_sets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--threshold", "0.5"]) == 0
    out = capsys.readouterr().out
    assert f"== dev ({EVAL_SET.name})" in out and f"== held-out ({EVAL_SET.name})" in out
    assert f"== quality-test cases ({CASES.name}): {len(load_cases())} messages" in out
    assert out.count("macro-F1") == 3 and out.count("not confident (bot asks)") == 3
    # Held-out messages are never listed, so they cannot be tuned on by reading them.
    assert "misclassified" not in out


def test_a_broken_set_gives_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--set", str(_write(tmp_path, "{oops"))]) == 2
    assert "set.jsonl:1: not JSON" in capsys.readouterr().err
