"""Classification quality of the keyword rules on labelled client messages (`make eval`)."""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from core.dialogue.classifier import KeywordClassifier, load_rules
from core.dialogue.forms import CATEGORIES
from core.settings import PROJECT_ROOT, Settings

EVAL_SET = PROJECT_ROOT / "tests" / "data" / "eval" / "messages.jsonl"
CASES = PROJECT_ROOT / "tests" / "data" / "classifier_cases.yaml"
KEYWORDS = PROJECT_ROOT / "config" / "keywords.yaml"
LANGUAGES = ("zh", "zh-Hant", "en", "mixed")
SPLITS = ("dev", "heldout")
# The held-out part was drawn once, with this seed, before any rule was tuned on the dev part; messages added
# later get their split from the same draw over the new messages only (assign_splits), so no message moves.
SPLIT_SEED = 20261203
HELDOUT_SHARE = 0.3


class EvalSetError(ValueError):
    """A line of the evaluation set that cannot be used, with where it is."""


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled client message."""

    text: str
    label: str
    language: str
    split: str | None = None
    note: str | None = None

    def to_json(self) -> dict[str, str]:
        out = {"text": self.text, "label": self.label, "language": self.language}
        if self.split is not None:
            out["split"] = self.split
        if self.note:
            out["note"] = self.note
        return out


def load_examples(path: Path = EVAL_SET, *, require_split: bool = True) -> list[Example]:
    """The evaluation set: one JSON object per line with text, label, language, split and an optional note."""
    examples: list[Example] = []
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EvalSetError(f"{where}: not JSON ({exc.msg})") from exc
            if not isinstance(raw, dict):
                raise EvalSetError(f"{where}: expected an object")
            text, label, language = raw.get("text"), raw.get("label"), raw.get("language")
            split, note = raw.get("split"), raw.get("note")
            if not isinstance(text, str) or not text.strip():
                raise EvalSetError(f"{where}: text missing or empty")
            if label not in CATEGORIES:
                raise EvalSetError(f"{where}: label {label!r} is not one of {', '.join(CATEGORIES)}")
            if language not in LANGUAGES:
                raise EvalSetError(f"{where}: language {language!r} is not one of {', '.join(LANGUAGES)}")
            if (split is None and require_split) or (split is not None and split not in SPLITS):
                raise EvalSetError(f"{where}: split {split!r} is not one of {', '.join(SPLITS)}")
            if note is not None and not isinstance(note, str):
                raise EvalSetError(f"{where}: note must be text")
            if text in seen:
                raise EvalSetError(f"{where}: the same text as line {seen[text]}")
            seen[text] = number
            examples.append(Example(text, str(label), str(language), split, note))
    return examples


def assign_splits(examples: Sequence[Example], seed: int = SPLIT_SEED, share: float = HELDOUT_SHARE) -> list[Example]:
    """Gives every example without a split one: per label, a seeded shuffle puts `share` of them in held-out."""
    rng = random.Random(seed)
    heldout: set[int] = set()
    for label in CATEGORIES:
        pending = [i for i, e in enumerate(examples) if e.split is None and e.label == label]
        rng.shuffle(pending)
        heldout.update(pending[: round(len(pending) * share)])
    return [
        e if e.split is not None else Example(e.text, e.label, e.language, "heldout" if i in heldout else "dev", e.note)
        for i, e in enumerate(examples)
    ]


def load_cases(path: Path = CASES) -> list[Example]:
    """The quality test's case list (a mapping of category to texts) as examples."""
    with path.open(encoding="utf-8") as fh:
        raw = yaml.safe_load(fh) or {}
    return [
        Example(str(text), str(label), "en" if str(text).isascii() else "zh")
        for label, texts in raw.items()
        for text in texts or []
    ]


@dataclass(frozen=True, slots=True)
class Miss:
    """A message the classifier put in the wrong category, with the cues it found."""

    example: Example
    predicted: str
    confidence: float
    cues: str


@dataclass(slots=True)
class Report:
    """Figures of one classifier on one set of examples."""

    confusion: dict[str, dict[str, int]]
    unsure: int = 0
    confident_correct: int = 0
    misses: list[Miss] = field(default_factory=list)
    # language -> [correct, total]
    by_language: dict[str, list[int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(sum(row.values()) for row in self.confusion.values())

    @property
    def accuracy(self) -> float:
        return _ratio(sum(self.confusion[c][c] for c in CATEGORIES), self.total)

    def precision(self, category: str) -> float:
        return _ratio(self.confusion[category][category], sum(row[category] for row in self.confusion.values()))

    def recall(self, category: str) -> float:
        return _ratio(self.confusion[category][category], sum(self.confusion[category].values()))

    def f1(self, category: str) -> float:
        p, r = self.precision(category), self.recall(category)
        return _ratio(2 * p * r, p + r)

    @property
    def macro_f1(self) -> float:
        return sum(self.f1(c) for c in CATEGORIES) / len(CATEGORIES)

    @property
    def unsure_rate(self) -> float:
        """Share of messages where the bot would ask the client to pick a category."""
        return _ratio(self.unsure, self.total)

    @property
    def confident_accuracy(self) -> float:
        """Accuracy over the messages the bot would act on without asking."""
        return _ratio(self.confident_correct, self.total - self.unsure)


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def evaluate(classifier: KeywordClassifier, examples: Iterable[Example]) -> Report:
    """Classifies every example and counts the outcomes."""
    report = Report({expected: dict.fromkeys(CATEGORIES, 0) for expected in CATEGORIES})
    for example in examples:
        verdict = classifier.classify(example.text)
        report.confusion[example.label][verdict.category] += 1
        tally = report.by_language.setdefault(example.language, [0, 0])
        tally[0] += verdict.category == example.label
        tally[1] += 1
        if not verdict.confident:
            report.unsure += 1
        elif verdict.category == example.label:
            report.confident_correct += 1
        if verdict.category != example.label:
            cues = ", ".join(f"{m.phrase}:{m.category}{m.weight:+g}" for m in verdict.matched) or "no cue"
            report.misses.append(Miss(example, verdict.category, verdict.confidence, cues))
    return report


def format_report(title: str, report: Report, *, show_misses: bool = False) -> str:
    """The figures as a plain-text table."""
    width = max(len(c) for c in CATEGORIES) + 2
    lines = [f"== {title}: {report.total} messages", f"{'':{width}}precision  recall      f1  support"]
    for c in CATEGORIES:
        support = sum(report.confusion[c].values())
        lines.append(f"{c:{width}}{report.precision(c):9.3f}{report.recall(c):8.3f}{report.f1(c):8.3f}{support:9d}")
    lines.append(
        f"macro-F1 {report.macro_f1:.3f}   accuracy {report.accuracy:.3f}   "
        f"not confident (bot asks) {report.unsure_rate:.3f}   accuracy when confident {report.confident_accuracy:.3f}"
    )
    lines.append(
        "accuracy by language: "
        + ", ".join(
            f"{language} {_ratio(correct, total):.3f} ({total})"
            for language, (correct, total) in sorted(report.by_language.items())
        )
    )
    lines.append("confusion (rows: expected, columns: predicted)")
    lines.append(" " * width + "".join(c.rjust(width) for c in CATEGORIES))
    for expected in CATEGORIES:
        row = "".join(str(report.confusion[expected][predicted]).rjust(width) for predicted in CATEGORIES)
        lines.append(expected.ljust(width) + row)
    if show_misses:
        lines.append(f"misclassified ({len(report.misses)}):")
        for miss in report.misses:
            lines.append(
                f"  {miss.example.label} -> {miss.predicted} ({miss.confidence}): {miss.example.text}  [{miss.cues}]"
            )
    return "\n".join(lines)


def _write_examples(path: Path, examples: Sequence[Example]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for example in examples:
            fh.write(json.dumps(example.to_json(), ensure_ascii=False) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Prints the figures for the dev part, the held-out part and the quality test's cases."""
    parser = argparse.ArgumentParser(prog="python -m bench.eval_classifier", description=__doc__)
    parser.add_argument("--rules", type=Path, default=KEYWORDS, help="keywords YAML (default config/keywords.yaml)")
    parser.add_argument("--set", type=Path, default=EVAL_SET, dest="eval_set", help="evaluation set (JSONL)")
    parser.add_argument("--threshold", type=float, help="confidence threshold (default: the configured one)")
    parser.add_argument("--misses", action="store_true", help="list the misclassified dev messages")
    parser.add_argument(
        "--assign-splits", action="store_true", help="give messages without a split one (seeded), then stop"
    )
    args = parser.parse_args(argv)
    try:
        if args.assign_splits:
            examples = assign_splits(load_examples(args.eval_set, require_split=False))
            _write_examples(args.eval_set, examples)
            print(f"{args.eval_set}: {sum(e.split == 'heldout' for e in examples)} of {len(examples)} held out")
            return 0
        examples = load_examples(args.eval_set)
        cases = load_cases()
        rules = load_rules(args.rules)
    except (OSError, EvalSetError, yaml.YAMLError) as exc:
        print(f"eval: {exc}", file=sys.stderr)
        return 2
    threshold = args.threshold if args.threshold is not None else Settings().dialogue.classifier_threshold
    classifier = KeywordClassifier(rules, threshold=threshold)
    print(f"rules: {args.rules} ({classifier.rule_count}); threshold {threshold}")
    dev = [e for e in examples if e.split == "dev"]
    heldout = [e for e in examples if e.split == "heldout"]
    # Held-out misses are never listed: reading them while tuning would turn the part into a second dev set.
    print(format_report(f"dev ({args.eval_set.name})", evaluate(classifier, dev), show_misses=args.misses))
    print(format_report(f"held-out ({args.eval_set.name})", evaluate(classifier, heldout)))
    print(format_report(f"quality-test cases ({CASES.name})", evaluate(classifier, cases)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
