"""The learned text model in serving: character n-gram TF-IDF and a multinomial logistic regression, in plain Python.

The model is fitted with scikit-learn (core/learning/fit.py) and exported to a versioned JSON file; this module
reads that file and reproduces scikit-learn's predict_proba without importing it or NumPy, so web processes carry
neither. The file also holds how the rules' scores join the model's log-odds (core/learning/combination.py).
"""

from __future__ import annotations

import gzip
import json
import math
import re
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.dialogue.classifier import normalize, softmax
from core.dialogue.hanzi import to_simplified
from core.errors import ConfigError

FORMAT = "kefu-text-model"
# The starter model shipped with kefu, relative to the config folder.
STARTER_MODEL = "classifier/model.json.gz"
FORMAT_VERSION = 2
# Files of these versions are read too: version 1 has no fitted combination (rule scores added as they are).
READABLE_VERSIONS = (1, 2)

# @mentions run to the next space or punctuation (Weibo's "@中国联通客服 "); URLs to the next space.
_MENTION = re.compile(r"@\s?[^\s@,，.。!！?？:：;；、]+")
_URL = re.compile(r"(?:https?://|www\.)\S+")


def prepare(text: str) -> str:
    """NFKC, traditional to simplified, lower case, @mentions and URLs removed, whitespace folded."""
    # OpenCC's t2s, with only the two tables it reads loaded (2 MiB, not the 25 MiB of all of OpenCC's).
    norm = to_simplified(normalize(text))
    if "@" in norm:
        norm = _MENTION.sub(" ", norm)
    if "http" in norm or "www." in norm:
        norm = _URL.sub(" ", norm)
    return " ".join(norm.split())


def key(gram: str) -> bytes:
    """An n-gram as the model's index holds it: its UTF-8 bytes (a lone surrogate in a message kept, not an error)."""
    return gram.encode("utf-8", "surrogatepass")


def char_ngrams(text: str, low: int = 1, high: int = 3) -> list[str]:
    """Character n-grams of the prepared text, runs of spaces excluded; the analyzer of training and serving."""
    grams: list[str] = []
    for size in range(low, high + 1):
        for i in range(len(text) - size + 1):
            gram = text[i : i + size]
            if not gram.isspace():
                grams.append(gram)
    return grams


class PackedFeatures(Mapping[str, tuple[float, tuple[float, ...]]]):
    """Each n-gram's idf and class coefficients packed in one array of floats, read as n-gram -> (idf, coefficients).

    A dict of tuples of floats holds 20,000 n-grams x 5 numbers as 100,000 objects (6.5 MiB); packed, the numbers
    take 0.8 MB and only the n-grams' index stays a dict, keyed by each n-gram's UTF-8 bytes (`key`): 1.3 MiB, against
    1.8 MiB keyed by the str objects themselves (whose headers are larger).
    """

    __slots__ = ("_index", "_values", "_width")

    def __init__(self, rows: Iterable[tuple[str, Sequence[float]]], width: int) -> None:
        """`rows`: each n-gram with its idf then one coefficient per class, `width` numbers in all."""
        self._index: dict[bytes, int] = {}
        self._values = array("d")
        self._width = width
        for gram, values in rows:
            if len(values) != width:
                raise ConfigError(f"feature {gram!r} has {len(values)} values, not {width}")
            self._index[key(gram)] = len(self._values)
            self._values.extend(values)

    def __getitem__(self, gram: str) -> tuple[float, tuple[float, ...]]:
        at = self._index[key(gram)]
        return self._values[at], tuple(self._values[at + 1 : at + self._width])

    def __contains__(self, gram: object) -> bool:
        return isinstance(gram, str) and key(gram) in self._index

    def __iter__(self) -> Iterator[str]:
        return (k.decode("utf-8", "surrogatepass") for k in self._index)

    def __len__(self) -> int:
        return len(self._index)

    def known(self, grams: Iterable[str]) -> dict[bytes, int]:
        """How many times each n-gram of the model occurs among `grams`, by key."""
        counts: dict[bytes, int] = {}
        index = self._index
        for gram in grams:
            k = gram.encode("utf-8", "surrogatepass")  # key(gram), inline: once per n-gram of every message
            if k in index:
                counts[k] = counts.get(k, 0) + 1
        return counts

    def add_weighted(self, scores: list[float], counts: Mapping[bytes, float]) -> None:
        """Adds each n-gram's l2-normalised tf-idf (tf given per n-gram's key in `counts`) times its coefficients."""
        values, index, classes = self._values, self._index, range(len(scores))
        weighted = [(tf * values[index[gram]], index[gram]) for gram, tf in counts.items()]
        norm = math.sqrt(sum(w * w for w, _ in weighted))
        for w, at in weighted:
            share = w / norm
            for i in classes:
                scores[i] += share * values[at + 1 + i]


@dataclass(frozen=True, slots=True)
class TextModel:
    """A fitted model: per n-gram its idf and one coefficient per class, one intercept per class."""

    version: str
    classes: tuple[str, ...]
    ngram_range: tuple[int, int]
    intercept: tuple[float, ...]
    # n-gram -> (idf, coefficient of each class); held packed whatever mapping is given
    features: Mapping[str, tuple[float, tuple[float, ...]]]
    # Confident at or above this probability (chosen on held-back labels when trained).
    threshold: float
    meta: Mapping[str, Any]
    # How the rules' scores and the model's log-odds are summed, fitted on out-of-fold log-odds when trained:
    # rule_weight x rule score + model_weight x log-odds + prior (one per class, the deployment's category mix).
    rule_weight: float = 1.0
    model_weight: float = 1.0
    prior: tuple[float, ...] = ()
    # Term frequency as 1 + log(count) (scikit-learn's sublinear_tf), so a repeated n-gram does not drown the rest.
    sublinear: bool = False
    # Confident at or above this probability (and the threshold) when no rule gives evidence: the model alone is
    # right less often than with rules beside it, so its own point of the curve is chosen apart when trained.
    unruled_threshold: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.features, PackedFeatures):
            rows = ((gram, (idf, *coefs)) for gram, (idf, coefs) in self.features.items())
            object.__setattr__(self, "features", PackedFeatures(rows, 1 + len(self.classes)))

    def logits(self, text: str) -> list[float]:
        """The linear scores (log-odds up to a shared constant) of each class for a raw message."""
        features = self.features
        assert isinstance(features, PackedFeatures)  # __post_init__ packs them
        counts: Mapping[bytes, float] = features.known(char_ngrams(prepare(text), *self.ngram_range))
        scores = list(self.intercept)
        if counts:
            if self.sublinear:
                counts = {gram: 1.0 + math.log(n) for gram, n in counts.items()}
            features.add_weighted(scores, counts)
        return scores

    def predict_proba(self, text: str) -> dict[str, float]:
        """Probability of each class, as scikit-learn's predict_proba gives it."""
        return dict(zip(self.classes, softmax(self.logits(text)), strict=True))

    def combine(self, logits: list[float], rules: Mapping[str, float]) -> list[float]:
        """Probability of each class from the model's log-odds and the rules' scores, by the fitted combination."""
        prior = self.prior or (0.0,) * len(self.classes)
        a, b = self.rule_weight, self.model_weight
        return softmax([b * z + a * rules.get(c, 0.0) + p for z, c, p in zip(logits, self.classes, prior, strict=True)])

    def confident_at(self, probability: float, ruled: bool) -> bool:
        """Whether a verdict of this probability is confident, with rule evidence behind it or without."""
        if probability < self.threshold:
            return False
        return ruled or self.unruled_threshold is None or probability >= self.unruled_threshold

    def with_threshold(self, threshold: float) -> TextModel:
        """The same model, confident at another point of its precision-coverage curve."""
        return self if threshold == self.threshold else replace(self, threshold=threshold)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "version": self.version,
            "classes": list(self.classes),
            "ngram_range": list(self.ngram_range),
            "sublinear_tf": self.sublinear,
            "threshold": self.threshold,
            **({"unruled_threshold": self.unruled_threshold} if self.unruled_threshold is not None else {}),
            "intercept": list(self.intercept),
            "meta": dict(self.meta),
            "combination": {
                "rule_weight": self.rule_weight,
                "model_weight": self.model_weight,
                "prior": list(self.prior) or [0.0] * len(self.classes),
            },
            "features": {g: [idf, *coefs] for g, (idf, coefs) in self.features.items()},
        }


def model_from_json(raw: Mapping[str, Any]) -> TextModel:
    """A model from its exported JSON; ConfigError when the file is not one this code can score."""
    if raw.get("format") != FORMAT or raw.get("format_version") not in READABLE_VERSIONS:
        raise ConfigError(f"not a {FORMAT} file of format version {', '.join(map(str, READABLE_VERSIONS))}")
    classes = tuple(str(c) for c in raw["classes"])
    combination = raw.get("combination") or {}
    prior = tuple(float(v) for v in combination.get("prior") or (0.0,) * len(classes))
    if len(prior) != len(classes):
        raise ConfigError(f"the prior has {len(prior)} values, not {len(classes)}")
    # Packed straight from the file's lists (array("d") takes the numbers as they are parsed).
    features = PackedFeatures(((str(gram), values) for gram, values in raw["features"].items()), len(classes) + 1)
    low, high = raw["ngram_range"]
    return TextModel(
        version=str(raw["version"]),
        classes=classes,
        ngram_range=(int(low), int(high)),
        intercept=tuple(float(v) for v in raw["intercept"]),
        features=features,
        threshold=float(raw["threshold"]),
        unruled_threshold=float(raw["unruled_threshold"]) if raw.get("unruled_threshold") is not None else None,
        meta=dict(raw.get("meta") or {}),
        rule_weight=float(combination.get("rule_weight", 1.0)),
        model_weight=float(combination.get("model_weight", 1.0)),
        prior=prior,
        sublinear=bool(raw.get("sublinear_tf", False)),
    )


def configured_model(config_dir: Path, setting: str) -> TextModel | None:
    """The model the settings name (relative to the config folder), or None when they name none."""
    return load_model(config_dir / setting) if setting.strip() else None


def load_model(path: Path) -> TextModel:
    """A model file, plain JSON or gzipped (by the .gz suffix); read once per process while the file is unchanged."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the model ({exc})") from exc
    # A model is immutable, so every Services built in a process (and every test) can share one.
    return _load_model(path.resolve(), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _load_model(path: Path, mtime_ns: int, size: int) -> TextModel:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                raw = json.load(fh)
        else:
            raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the model ({exc})") from exc
    return model_from_json(raw)


def dump_model(model: TextModel, path: Path) -> None:
    """Writes the model as compact JSON (gzipped when the name ends in .gz)."""
    text = json.dumps(model.to_json(), ensure_ascii=False, separators=(",", ":"))
    if path.suffix == ".gz":
        # mtime=0: the same model gives the same bytes, so a retrain without changes leaves git clean.
        with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
            fh.write(text.encode("utf-8"))
    else:
        path.write_text(text + "\n", encoding="utf-8")
