"""`kefu classifier train`: fit the model on labelled messages, choose its confident threshold, export it."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.dialogue.classifier import KeywordClassifier
from core.dialogue.textmodel import TextModel, dump_model
from core.learning.crossval import (
    IN_DOMAIN,
    TARGET_PRECISION,
    Scored,
    choose_threshold,
    combine,
    out_of_fold,
    weights_of,
)
from core.learning.data import Labelled
from core.learning.fit import FitOptions, fit


@dataclass(frozen=True, slots=True)
class Trained:
    """A fitted model and what its training measured."""

    model: TextModel
    seconds: float
    coverage: float
    precision: float


def data_version(rows: Sequence[Labelled], options: FitOptions) -> str:
    """A name that changes exactly when the training data or options do: the same inputs give the same model."""
    digest = hashlib.sha256(repr((options.max_features, options.c, options.seed)).encode())
    for r in rows:
        digest.update(f"{r.text}\t{r.label}\t{r.source}\n".encode())
    return digest.hexdigest()[:12]


def train(
    rows: Sequence[Labelled],
    rules: KeywordClassifier,
    options: FitOptions = FitOptions(),
    *,
    target: float = TARGET_PRECISION,
) -> Trained:
    """Cross-validates to choose the threshold (rules + model, on the in-domain rows), then fits on every row."""
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    # One thread: the machine's other processes keep their cores, and a fit is not faster with more here.
    with threadpool_limits(1):
        classes, logits = out_of_fold(rows, options)
        scored = [
            Scored(r.label, r.source, *combine(classes, z, rules, r.text))
            for r, z in zip(rows, logits, strict=True)
            if r.source in IN_DOMAIN
        ]
        threshold, coverage, precision = choose_threshold(scored, target)
        model = fit(
            [r.text for r in rows],
            [r.label for r in rows],
            weights_of(rows),
            options,
            version=data_version(rows, options),
            threshold=round(threshold, 4),
            meta={
                "trained_on": dict(sorted(Counter(r.source for r in rows).items())),
                "labels": dict(sorted(Counter(r.label for r in rows).items())),
                "seed": options.seed,
                "max_features": options.max_features,
                "c": options.c,
                "threshold_target": target,
                "threshold_coverage": round(coverage, 4),
                "threshold_precision": round(precision, 4),
                "threshold_chosen_on": list(IN_DOMAIN),
            },
        )
    return Trained(model, time.perf_counter() - started, coverage, precision)


def save(trained: Trained, path: Path) -> int:
    """Writes the model file; its size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dump_model(trained.model, path)
    return path.stat().st_size
