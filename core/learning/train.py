"""`kefu classifier train`: fit the model on labelled messages, choose its confident threshold, export it."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from core.dialogue.classifier import KeywordClassifier
from core.dialogue.textmodel import TextModel, dump_model
from core.learning.crossval import (
    IN_DOMAIN,
    IN_DOMAIN_WEIGHT,
    SOURCE_WEIGHT,
    TARGET_PRECISION,
    Scored,
    choose_threshold,
    cross_combined,
    fitted_combination,
    out_of_fold,
    rule_verdicts,
    weights_of,
)
from core.learning.data import AGENCY, Labelled
from core.learning.fit import FitOptions, fit, one_thread

# Fewer in-domain rows than this without rule evidence: the threshold holds for them too.
MIN_UNRULED = 30


@dataclass(frozen=True, slots=True)
class Trained:
    """A fitted model and what its training measured."""

    model: TextModel
    seconds: float
    coverage: float
    precision: float


def data_version(rows: Sequence[Labelled], options: FitOptions) -> str:
    """A name that changes exactly when the training data or options do: the same inputs give the same model."""
    digest = hashlib.sha256(
        repr(
            (
                options.max_features,
                options.c,
                options.seed,
                options.ngram_range,
                options.sublinear,
                options.class_weight,
                IN_DOMAIN_WEIGHT,
                sorted(SOURCE_WEIGHT.items()),
                MIN_UNRULED,
            )
        ).encode()
    )
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
    started = time.perf_counter()
    with one_thread():
        classes, logits = out_of_fold(rows, options)
        verdicts = rule_verdicts(rows, rules)
        both = cross_combined(rows, classes, logits, verdicts, seed=options.seed)
        scored = [
            Scored(r.label, r.source, *verdict, ruled=rules_said.ruled)
            for r, verdict, rules_said in zip(rows, both, verdicts, strict=True)
            if r.source in IN_DOMAIN
        ]
        threshold, coverage, precision = choose_threshold(scored, target)
        # Where no rule gives evidence the model decides alone, and is right less often at the same probability:
        # those verdicts get their own point of their own curve, when there are enough of them to draw it.
        unruled = [s for s in scored if not s.ruled]
        unruled_point = choose_threshold(unruled, target) if len(unruled) >= MIN_UNRULED else None
        # The combination in force: fitted on every in-domain row's out-of-fold log-odds, per source; the one served
        # is the agency's own (the deployment's messages are agency messages).
        combination = fitted_combination(rows, classes, logits, verdicts)
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
                "class_weight": dict(options.class_weight),
                "threshold_target": target,
                "threshold_coverage": round(coverage, 4),
                "threshold_precision": round(precision, 4),
                "threshold_chosen_on": list(IN_DOMAIN),
                **(
                    {
                        "unruled_rows": len(unruled),
                        "unruled_coverage": round(unruled_point[1], 4),
                        "unruled_precision": round(unruled_point[2], 4),
                    }
                    if unruled_point
                    else {}
                ),
                "combination": {
                    source: {"rule_weight": w.rule_weight, "model_weight": w.model_weight, "prior": list(w.prior)}
                    for source, w in combination.by_source.items()
                },
            },
        )
        served = combination.of(AGENCY)
        model = replace(
            model,
            rule_weight=served.rule_weight,
            model_weight=served.model_weight,
            prior=served.prior,
            unruled_threshold=round(max(threshold, unruled_point[0]), 4) if unruled_point else None,
        )
    return Trained(model, time.perf_counter() - started, coverage, precision)


def save(trained: Trained, path: Path) -> int:
    """Writes the model file; its size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dump_model(trained.model, path)
    return path.stat().st_size
