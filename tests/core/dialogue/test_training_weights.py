"""What training rows count (in-domain sources by their own weight, the proxy corpora 1) and what training chooses."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from core.dialogue.classifier import KeywordClassifier, load_rules
from core.learning import train
from core.learning.crossval import weights_of
from core.learning.data import AGENCY, EVAL_SET, Labelled, read_jsonl, starter_data
from core.learning.fit import FitOptions, fit
from core.settings import PROJECT_ROOT

ROWS = [
    Labelled("微博上的投诉", "complaint", "stc3"),
    Labelled("a complaint on weibo", "complaint", "stc3_en"),
    Labelled("排期表发一下", "inquiry", AGENCY),
    Labelled("酒店很差", "complaint", "htl"),
]


def test_weibo_posts_weigh_more_than_agency_rows_and_proxy_rows_one() -> None:
    assert weights_of(ROWS) == [25.0, 25.0, 15.0, 1.0]


def test_a_source_weight_can_be_set_apart_from_the_in_domain_weight() -> None:
    assert weights_of(ROWS, in_domain=8.0, by_source={"stc3": 3.0}) == [3.0, 8.0, 8.0, 1.0]


def test_the_model_version_changes_with_the_source_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    before = train.data_version(ROWS, FitOptions())
    monkeypatch.setattr(train, "SOURCE_WEIGHT", MappingProxyType({"stc3": 15.0, "stc3_en": 15.0}))
    assert train.data_version(ROWS, FitOptions()) != before


def test_the_model_version_changes_with_the_class_weight() -> None:
    assert train.data_version(ROWS, FitOptions()) != train.data_version(ROWS, FitOptions(class_weight=()))


def test_a_class_weight_multiplies_the_weight_of_that_class_rows() -> None:
    pytest.importorskip("sklearn")
    rows = read_jsonl(EVAL_SET, AGENCY, splits=("dev",))[::2]
    texts, labels = [r.text for r in rows], [r.label for r in rows]
    weights = [2.0 if i % 3 else 1.0 for i in range(len(rows))]
    options = FitOptions(max_features=300, class_weight=(("complaint", 1.5),))
    weighted = fit(texts, labels, weights, options)
    # The same fit with the factor folded into the row weights by hand, and no class weight.
    by_hand = [w * (1.5 if y == "complaint" else 1.0) for w, y in zip(weights, labels, strict=True)]
    assert weighted == fit(texts, labels, by_hand, replace(options, class_weight=()))
    # It counts: complaint rows weighing more make complaint more likely on the same text.
    plain = fit(texts, labels, weights, replace(options, class_weight=()))
    complaint = [t for t, y in zip(texts, labels, strict=True) if y == "complaint"]
    assert sum(
        weighted.predict_proba(t)["complaint"] > plain.predict_proba(t)["complaint"] for t in complaint
    ) > 0.8 * len(complaint)


def test_training_chooses_a_threshold_of_its_own_for_verdicts_without_rule_evidence() -> None:
    pytest.importorskip("sklearn")
    rows = starter_data(None)
    rules = KeywordClassifier(load_rules(PROJECT_ROOT / "config" / "keywords.yaml"))
    model = train.train(rows, rules, FitOptions(max_features=2000)).model
    unruled = sum(1 for r in rows if not any(rules.classify(r.text).scores.values()))
    assert model.meta["unruled_rows"] == unruled >= train.MIN_UNRULED
    # Alone, the model is right less often at the same probability: the point it needs lies higher.
    assert model.unruled_threshold is not None and model.unruled_threshold > model.threshold
    assert model.meta["unruled_precision"] >= model.meta["threshold_target"]
