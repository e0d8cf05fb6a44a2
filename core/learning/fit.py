"""Fitting the text model with scikit-learn and exporting it to the JSON the serving code scores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from core.dialogue.textmodel import TextModel, char_ngrams, prepare

SEED = 20261206
# Character 1-4-grams: 4-grams hold most two-character words twice over (咨询一下, 没有问题), measured better on the
# same folds than 1-3 (docs/classification.md).
NGRAM_RANGE = (1, 4)
# Features kept after pruning (by their largest coefficient over the classes): the file and the memory it takes
# in every process grow with it; measured in docs/classification.md.
MAX_FEATURES = 20_000
# C 5 rather than 10 once the agency's written messages reached 1,106: on the same folds stc3's complaint F1 (rules +
# model) 0.847 -> 0.851 and its coverage at >= 90 % right 60.7 % -> 62.3 %, the agency's at >= 95 % right 84.0 % ->
# 83.4 % (within fold noise); C 3 and 20 measured lower (docs/classification.md).
C = 5.0
# Complaint rows count 1.5 times their row weight in the fit: on the same folds, stc3's complaint F1 (rules + model)
# 0.844 -> 0.851; +0.003 on average over four fold seeds, within fold noise (docs/classification.md).
CLASS_WEIGHT = (("complaint", 1.5),)
# Decimal places kept in the exported file; scoring with the rounded numbers moves a probability by < 1e-4.
DIGITS = 4


@dataclass(frozen=True, slots=True)
class FitOptions:
    """What a fit may vary: pruning, regularisation, the weight of in-domain rows."""

    max_features: int = MAX_FEATURES
    c: float = C
    seed: int = SEED
    ngram_range: tuple[int, int] = NGRAM_RANGE
    # 1 + log(count) as term frequency: long reviews repeat n-grams that short client messages do not.
    sublinear: bool = True
    # How much more a row of a class counts, as (class, factor) pairs; a class not named counts 1.
    class_weight: tuple[tuple[str, float], ...] = CLASS_WEIGHT


def one_thread() -> Any:
    """BLAS and OpenMP limited to one thread for the fits inside: the machine's other processes keep their cores,
    and a fit of this size is not faster with more.

    scikit-learn, and through it numpy's and scipy's BLAS and OpenMP, are loaded first: a limit holds only for the
    libraries loaded when it is set, and one loaded later inside it runs a thread per core, which spins on a busy
    machine (a fit then takes ten times the CPU).
    """
    import sklearn.feature_extraction.text
    import sklearn.linear_model
    import sklearn.model_selection  # noqa: F401
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


def _vectorizer(
    vocabulary: Sequence[str] | None = None, ngram_range: tuple[int, int] = NGRAM_RANGE, sublinear: bool = True
) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        analyzer=partial(char_ngrams, low=ngram_range[0], high=ngram_range[1]),
        min_df=1 if vocabulary is not None else 2,
        vocabulary=vocabulary,
        norm="l2",
        use_idf=True,
        smooth_idf=True,
        sublinear_tf=sublinear,
    )


def _classifier(options: FitOptions) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=options.c, max_iter=3000, random_state=options.seed)


def fit(
    texts: Sequence[str],
    labels: Sequence[str],
    weights: Sequence[float] | None = None,
    options: FitOptions = FitOptions(),
    *,
    version: str = "",
    threshold: float = 0.5,
    meta: dict[str, Any] | None = None,
) -> TextModel:
    """Fits TF-IDF over character n-grams and a multinomial logistic regression, prunes it, and exports it."""
    import numpy as np

    prepared = [prepare(t) for t in texts]
    # As scikit-learn's class_weight does: the class's factor multiplies each row's own weight.
    factors = dict(options.class_weight)
    if factors:
        weights = [(1.0 if weights is None else weights[i]) * factors.get(label, 1.0) for i, label in enumerate(labels)]
    vectorizer = _vectorizer(None, options.ngram_range, options.sublinear)
    features = vectorizer.fit_transform(prepared)
    classifier = _classifier(options).fit(features, labels, sample_weight=weights)
    # Pruning by refitting on the kept n-grams only, so the exported model is exactly a fitted scikit-learn model.
    strength = np.abs(classifier.coef_).max(axis=0)
    names = vectorizer.get_feature_names_out()
    kept = sorted(str(names[i]) for i in np.argsort(-strength, kind="stable")[: options.max_features])
    vectorizer = _vectorizer(kept, options.ngram_range, options.sublinear)
    features = vectorizer.fit_transform(prepared)
    classifier = _classifier(options).fit(features, labels, sample_weight=weights)
    idf = vectorizer.idf_
    coef = classifier.coef_
    return TextModel(
        version=version,
        classes=tuple(str(c) for c in classifier.classes_),
        ngram_range=options.ngram_range,
        intercept=tuple(round(float(v), DIGITS) for v in classifier.intercept_),
        features={
            gram: (round(float(idf[i]), DIGITS), tuple(round(float(v), DIGITS) for v in coef[:, i]))
            for gram, i in sorted(vectorizer.vocabulary_.items())
        },
        threshold=threshold,
        meta=meta or {},
        sublinear=options.sublinear,
    )


def sklearn_pipeline(model: TextModel) -> tuple[Any, Any]:
    """A scikit-learn vectorizer and classifier holding exactly the exported model's numbers, to check the scorer."""
    import numpy as np

    grams = sorted(model.features)
    vectorizer = _vectorizer(grams, model.ngram_range, model.sublinear)
    vectorizer.fit([""])
    vectorizer.idf_ = np.array([model.features[g][0] for g in grams])
    classifier = _classifier(FitOptions())
    classifier.classes_ = np.array(model.classes)
    classifier.coef_ = np.array([[model.features[g][1][k] for g in grams] for k in range(len(model.classes))])
    classifier.intercept_ = np.array(model.intercept)
    return vectorizer, classifier
