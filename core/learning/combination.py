"""How rule evidence and the model's log-odds are summed, per source of messages: a weight for each and a prior,
fitted by log-loss on out-of-fold log-odds, so the rules count as much as they are worth beside this model on that
source's messages (the agency's rules are written for agency messages, not for Weibo posts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.dialogue.classifier import softmax

# Pulls the priors towards 0 (no preference), so a source with few rows of a category does not get an extreme one.
PRIOR_PENALTY = 0.001


@dataclass(frozen=True, slots=True)
class Weights:
    """rule_weight x rule score + model_weight x log-odds + prior (one per class): one source's combination."""

    rule_weight: float = 1.0
    model_weight: float = 1.0
    prior: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class Combination:
    """The weights of each source; a source without its own adds the rules to the log-odds as they are."""

    by_source: Mapping[str, Weights] = field(default_factory=dict)

    def of(self, source: str) -> Weights:
        return self.by_source.get(source) or Weights()

    def probabilities(
        self, classes: Sequence[str], logits: Sequence[float], rules: Mapping[str, float], source: str
    ) -> list[float]:
        w = self.of(source)
        prior = w.prior or (0.0,) * len(classes)
        a, b = w.rule_weight, w.model_weight
        return softmax([b * z + a * rules.get(c, 0.0) + p for z, c, p in zip(logits, classes, prior, strict=True)])


def fit_weights(
    classes: Sequence[str],
    logits: Sequence[Sequence[float]],
    rules: Sequence[Mapping[str, float]],
    labels: Sequence[str],
) -> Weights:
    """The weights and prior that minimise the log-loss of the combined probabilities on these rows."""
    import numpy as np
    from scipy.optimize import minimize

    z = np.asarray(logits, dtype=float)
    r = np.array([[s.get(c, 0.0) for c in classes] for s in rules], dtype=float)
    y = np.array([classes.index(label) for label in labels])
    rows = np.arange(len(y))

    def loss(p: Any) -> tuple[float, Any]:
        # The first class's prior stays 0: only differences between classes matter to a softmax.
        s = p[1] * z + p[0] * r + np.concatenate([[0.0], p[2:]])
        s -= s.max(axis=1, keepdims=True)
        prob = np.exp(s)
        prob /= prob.sum(axis=1, keepdims=True)
        value = -np.log(prob[rows, y] + 1e-12).mean() + PRIOR_PENALTY * (p[2:] ** 2).sum()
        d = prob.copy()
        d[rows, y] -= 1.0
        d /= len(y)
        grad = np.concatenate([[(d * r).sum(), (d * z).sum()], d.sum(axis=0)[1:] + 2 * PRIOR_PENALTY * p[2:]])
        return float(value), grad

    start = np.concatenate([[1.0, 1.0], np.zeros(len(classes) - 1)])
    found = minimize(loss, start, jac=True, method="L-BFGS-B").x
    return Weights(
        rule_weight=round(float(found[0]), 4),
        model_weight=round(float(found[1]), 4),
        prior=(0.0, *(round(float(v), 4) for v in found[2:])),
    )


def fit_combination(
    classes: Sequence[str],
    logits: Sequence[Sequence[float]],
    rules: Sequence[Mapping[str, float]],
    labels: Sequence[str],
    sources: Sequence[str],
) -> Combination:
    """Each source's weights, fitted on its own rows."""
    by_source = {}
    for source in sorted(set(sources)):
        pick = [i for i, s in enumerate(sources) if s == source]
        by_source[source] = fit_weights(
            classes, [logits[i] for i in pick], [rules[i] for i in pick], [labels[i] for i in pick]
        )
    return Combination(by_source)
