"""Quality of the shipped rule set (config/keywords.yaml) on labelled client messages."""

from __future__ import annotations

import pytest
import yaml

from core.dialogue.classifier import KeywordClassifier, load_rules, normalize
from core.dialogue.forms import CATEGORIES
from core.settings import PROJECT_ROOT

KEYWORDS = PROJECT_ROOT / "config" / "keywords.yaml"
CASES = PROJECT_ROOT / "tests" / "data" / "classifier_cases.yaml"
MIN_ACCURACY = 0.92
MIN_RECALL = 0.85


def _cases() -> list[tuple[str, str]]:
    with CASES.open(encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    return [(str(text), category) for category, texts in raw.items() for text in texts]


@pytest.fixture(scope="module")
def classifier() -> KeywordClassifier:
    return KeywordClassifier(load_rules(KEYWORDS))


def _report(confusion: dict[str, dict[str, int]], misses: list[str]) -> str:
    width = max(len(c) for c in CATEGORIES) + 2
    lines = [
        "confusion (rows: expected, columns: predicted)",
        " " * width + "".join(c.rjust(width) for c in CATEGORIES),
    ]
    for expected in CATEGORIES:
        row = "".join(str(confusion[expected][predicted]).rjust(width) for predicted in CATEGORIES)
        lines.append(expected.ljust(width) + row)
    lines.append(f"misclassified ({len(misses)}):")
    lines.extend(misses)
    return "\n".join(lines)


def test_the_case_set_is_balanced_and_labelled_with_known_categories() -> None:
    cases = _cases()
    assert len(cases) >= 120
    assert {category for _, category in cases} == set(CATEGORIES)
    english = sum(1 for text, _ in cases if text.isascii())
    assert 0.15 <= english / len(cases) <= 0.3


def test_shipped_rules_are_unique_and_known() -> None:
    rules = load_rules(KEYWORDS)
    assert 300 <= len(rules) <= 1200
    keys = [(normalize(r.phrase), r.category) for r in rules]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    assert not duplicates, duplicates
    # Punctuation carries no vote: a question mark ends complaints as often as questions.
    assert not [r.phrase for r in rules if not any(ch.isalnum() for ch in normalize(r.phrase))]
    KeywordClassifier(rules)  # raises ConfigError on an unknown category


def test_accuracy_and_recall_per_category(classifier: KeywordClassifier) -> None:
    cases = _cases()
    confusion = {e: dict.fromkeys(CATEGORIES, 0) for e in CATEGORIES}
    misses = []
    for text, expected in cases:
        verdict = classifier.classify(text)
        confusion[expected][verdict.category] += 1
        if verdict.category != expected:
            cues = ", ".join(f"{m.phrase}:{m.category}{m.weight:+g}" for m in verdict.matched) or "no cue"
            misses.append(f"  {expected} -> {verdict.category} ({verdict.confidence}): {text}  [{cues}]")
    correct = sum(confusion[c][c] for c in CATEGORIES)
    accuracy = correct / len(cases)
    recall = {c: confusion[c][c] / sum(confusion[c].values()) for c in CATEGORIES}
    report = _report(confusion, misses)
    summary = f"accuracy {accuracy:.3f}; recall " + ", ".join(f"{c} {r:.3f}" for c, r in recall.items())
    print(summary, report, sep="\n")
    assert accuracy >= MIN_ACCURACY, f"{summary}\n{report}"
    low = {c: r for c, r in recall.items() if r < MIN_RECALL}
    assert not low, f"{summary}\n{report}"


@pytest.mark.parametrize(
    "text",
    [
        "新年红包封面用的还是旧logo",
        "门店海报还是老版的 新的早就发过去了",
        "The store opening flyers have the old logo on them",
        "the landing page is using the old prices",
    ],
)
def test_work_that_still_shows_what_was_replaced_is_a_complaint(text: str, classifier: KeywordClassifier) -> None:
    verdict = classifier.classify(text)
    assert verdict.category == "complaint" and verdict.confident, verdict
