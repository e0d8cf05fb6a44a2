"""A draft model from the deployment's own labels: fitted on starter data plus confirmed labels, measured on the
newest fifth of those labels held back, beside the model in force; its confident threshold chosen on the curve."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from core.dialogue.classifier import KeywordClassifier
from core.dialogue.forms import CATEGORIES
from core.dialogue.textmodel import TextModel
from core.keywords.spec import RuleSpec
from core.learning.crossval import TARGET_PRECISION, Scored, choose_threshold, figures, weights_of
from core.learning.data import Labelled
from core.learning.fit import FitOptions, fit, one_thread
from core.learning.labels import WEIGHTS, Confirmed
from core.learning.train import data_version

HELD_BACK = 0.2
# Below this many held-back labels the curve is too coarse to choose on: the threshold in force (or the
# starter model's) is kept, and the report says so.
MIN_HELD = 30
# Thresholds at which the precision-coverage curve is drawn (besides the chosen one).
GRID = (*(round(0.3 + i / 100, 2) for i in range(70)), 1.0)


@dataclass(frozen=True, slots=True)
class DraftInputs:
    """Everything a fit needs, picklable so that it can run in a process of its own."""

    starter: Sequence[Labelled]
    labels: Sequence[Confirmed]
    rules: Sequence[RuleSpec]
    rules_threshold: float
    in_force: TextModel | None
    fallback_threshold: float
    options: FitOptions = field(default_factory=FitOptions)
    target: float = TARGET_PRECISION


def split(labels: Sequence[Confirmed], share: float = HELD_BACK) -> tuple[list[Confirmed], list[Confirmed]]:
    """(trained on, held back): the newest `share` of the labels is held back to measure the draft."""
    ordered = sorted(labels, key=lambda label: label.created_at)
    held = round(len(ordered) * share)
    cut = len(ordered) - held
    return ordered[:cut], ordered[cut:]


def scores(classifier: KeywordClassifier, held: Sequence[Confirmed]) -> list[Scored]:
    out = []
    for label in held:
        verdict = classifier.classify(label.text)
        out.append(Scored(label.category, label.kind, verdict.category, verdict.confidence))
    return out


def curve(scored: Sequence[Scored], thresholds: Sequence[float] = GRID) -> list[dict[str, float]]:
    """Coverage (share answered confidently) and precision (share of those right) at each threshold."""
    points = []
    for t in thresholds:
        sure = [s for s in scored if s.confidence >= t]
        right = sum(s.category == s.label for s in sure)
        points.append(
            {
                "threshold": t,
                "coverage": round(len(sure) / len(scored), 4) if scored else 0.0,
                "precision": round(right / len(sure), 4) if sure else 0.0,
            }
        )
    return points


def measured(scored: Sequence[Scored], threshold: float) -> dict[str, Any]:
    """The figures the console shows for one model on the held-back labels, at its confident threshold."""
    found = figures(scored, threshold)
    return {
        "n": found.n,
        "threshold": threshold,
        "accuracy": round(found.accuracy, 4),
        "f1": {c: round(found.f1[c], 4) for c in CATEGORIES},
        "macro_f1": round(found.macro_f1, 4),
        "coverage": round(found.confident_share, 4),
        "precision": round(found.confident_accuracy, 4),
        "curve": curve(scored),
        # Kept so the console can say exactly what coverage any other threshold gives.
        "scores": [[round(s.confidence, 4), int(s.category == s.label)] for s in scored],
    }


def with_combination_of(model: TextModel, in_force: TextModel | None) -> TextModel:
    """A draft combines rules and model as the model in force does: its weights, its prior where the classes agree,
    its threshold for verdicts without rule evidence.

    Refitting the combination would take a cross-validation of the draft (several fits); the weights fitted with
    the starter model hold for a draft trained on the same starter data plus the deployment's labels.
    """
    if in_force is None:
        return model
    prior = in_force.prior if in_force.classes == model.classes else ()
    # The threshold without rule evidence too: the few held-back labels no rule matches cannot choose it.
    return replace(
        model,
        rule_weight=in_force.rule_weight,
        model_weight=in_force.model_weight,
        prior=prior,
        unruled_threshold=in_force.unruled_threshold,
    )


def train_draft(inputs: DraftInputs) -> tuple[TextModel, dict[str, Any]]:
    """Fit, measure on the held-back labels beside the model in force, choose the threshold; (model, report)."""
    started = time.perf_counter()
    trained_on, held = split(inputs.labels)
    # A held-back text is never trained on, whether it came as a label or also sits in the starter data.
    unseen = {c.text for c in held}
    starter = [r for r in inputs.starter if r.text not in unseen]
    trained_on = [c for c in trained_on if c.text not in unseen]
    rows = [*starter, *(Labelled(c.text, c.category, "deployment") for c in trained_on)]
    # Starter rows keep their weights (in-domain sources count more); deployment labels by their strength.
    weights = [*weights_of(starter), *(WEIGHTS[c.kind] for c in trained_on)]
    if len({r.label for r in rows}) < 2:
        raise ValueError("a model needs labelled messages of at least two categories")
    rules = [s.to_rule() for s in inputs.rules]
    with one_thread():
        model = fit(
            [r.text for r in rows],
            [r.label for r in rows],
            weights,
            inputs.options,
            version=data_version(rows, inputs.options),
            threshold=inputs.fallback_threshold,
        )
    seconds = time.perf_counter() - started
    model = with_combination_of(model, inputs.in_force)
    draft_scored = scores(KeywordClassifier(rules, model=model), held)
    if len(held) >= MIN_HELD:
        threshold, _, _ = choose_threshold(draft_scored, inputs.target)
        chosen_on = "held_back"
    else:
        threshold, chosen_on = inputs.fallback_threshold, "fallback"
    threshold = round(threshold, 4)
    model = replace(
        model,
        threshold=threshold,
        meta={
            "trained_on": {"starter": len(starter), **Counter(c.kind for c in trained_on)},
            "labels": dict(sorted(Counter(r.label for r in rows).items())),
            "seed": inputs.options.seed,
            "max_features": inputs.options.max_features,
            "c": inputs.options.c,
            "class_weight": dict(inputs.options.class_weight),
            "threshold_target": inputs.target,
            "threshold_chosen_on": chosen_on,
        },
    )
    if inputs.in_force is not None:
        live = KeywordClassifier(rules, model=inputs.in_force)
        live_threshold = inputs.in_force.threshold
    else:
        live = KeywordClassifier(rules, threshold=inputs.rules_threshold)
        live_threshold = inputs.rules_threshold
    live_scored = scores(live, held)
    in_force = measured(live_scored, live_threshold)
    if inputs.in_force is None:
        # Rules alone are confident by their own rule (top score ahead of the second), not by a threshold.
        verdicts = [live.classify(c.text) for c in held]
        sure = [v for v, c in zip(verdicts, held, strict=True) if v.confident]
        in_force["coverage"] = round(len(sure) / len(held), 4) if held else 0.0
        in_force["precision"] = (
            round(
                sum(v.category == c.category for v, c in zip(verdicts, held, strict=True) if v.confident) / len(sure), 4
            )
            if sure
            else 0.0
        )
    report = {
        "seconds": round(seconds, 1),
        "trained_on": {"starter": len(starter), **dict.fromkeys(WEIGHTS, 0), **Counter(c.kind for c in trained_on)},
        "held_back": dict.fromkeys(WEIGHTS, 0) | dict(Counter(c.kind for c in held)),
        "threshold": threshold,
        "threshold_target": inputs.target,
        "threshold_chosen_on": chosen_on,
        "features": len(model.features),
        "draft": measured(draft_scored, threshold),
        "in_force": in_force,
    }
    return model, report
