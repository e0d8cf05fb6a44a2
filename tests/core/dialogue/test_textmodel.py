"""The learned model: preprocessing, the pure-Python scorer against scikit-learn, the file format, the combination."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from array import array
from dataclasses import replace
from pathlib import Path

import pytest

from core.dialogue.classifier import KeywordClassifier, Rule, has_words, normalize
from core.dialogue.hanzi import _to_simplified, to_simplified
from core.dialogue.textmodel import (
    FORMAT,
    STARTER_MODEL,
    TextModel,
    char_ngrams,
    configured_model,
    dump_model,
    load_model,
    model_from_json,
    prepare,
    softmax,
)
from core.errors import ConfigError
from core.learning.data import EVAL_SET, read_jsonl
from core.learning.fit import FitOptions, fit, sklearn_pipeline
from core.settings import PROJECT_ROOT
from handlers.services import Services


@pytest.fixture(scope="module")
def shipped() -> TextModel:
    model = configured_model(PROJECT_ROOT / "config", STARTER_MODEL)
    assert model is not None
    return model


def test_prepare_folds_width_script_case_mentions_and_urls() -> None:
    assert prepare("發票還沒收到") == "发票还没收到"
    assert prepare("ＲＯＩ 太低") == "roi 太低"
    assert prepare("@中国联通客服 网速太慢 https://t.cn/abc 谢谢") == "网速太慢 谢谢"
    assert prepare("see www.example.com/x NOW") == "see now"
    assert char_ngrams("ab c", 1, 2) == ["a", "b", "c", "ab", "b ", " c"]


def test_prepare_folds_traditional_text_as_opencc_t2s_with_all_its_tables_does() -> None:
    # prepare loads only the two tables t2s reads; the folding must be the one training used (OpenCC's t2s).
    from opencc_purepy import OpenCC

    complete = OpenCC("t2s")
    rows = [json.loads(line) for line in EVAL_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [row["text"] for row in rows if row["language"] == "zh-Hant"]
    texts += ["乾隆年間的乾貨", "這個頭髮理得很乾淨", "後臺帳戶的餘額不對", "麵包與鬆餅", "著作權的著落"]
    assert len(texts) >= 10
    for text in texts:
        assert to_simplified(normalize(text)) == complete.convert(normalize(text)), text
        assert prepare(text) == " ".join(complete.convert(normalize(text)).split()), text


def test_the_folding_holds_opencc_s_tables_by_character_as_small_arrays_of_the_same_values() -> None:
    from opencc_purepy import OpenCC
    from opencc_purepy.union_cache import UnionKey

    ours = _to_simplified().union_cache.ensure_indexed(UnionKey.T2S)
    theirs = OpenCC("t2s").union_cache.ensure_indexed(UnionKey.T2S)
    assert isinstance(ours.bmp_mask, array) and isinstance(ours.bmp_cap, array)
    assert ours.bmp_mask.itemsize + ours.bmp_cap.itemsize <= 4  # 2 x 65,536 entries: 0.2 MiB, 1 MiB as lists
    assert list(ours.bmp_mask) == theirs.bmp_mask and list(ours.bmp_cap) == theirs.bmp_cap


def test_the_scorer_reproduces_sklearn_predict_proba(shipped: TextModel) -> None:
    pytest.importorskip("sklearn")
    texts = [*(r.text for r in read_jsonl(EVAL_SET, "agency")[:120]), "", "!!!", "@某某 http://x.cn", "發票"]
    vectorizer, classifier = sklearn_pipeline(shipped)
    expected = classifier.predict_proba(vectorizer.transform([prepare(t) for t in texts]))
    assert list(classifier.classes_) == list(shipped.classes)
    for text, row in zip(texts, expected, strict=True):
        got = shipped.predict_proba(text)
        for name, p in zip(shipped.classes, row, strict=True):
            assert abs(got[name] - p) < 1e-6, (text, name)


def test_a_fit_is_seeded_and_its_export_matches_sklearn(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    rows = read_jsonl(EVAL_SET, "agency", splits=("dev",))
    texts, labels = [r.text for r in rows], [r.label for r in rows]
    options = FitOptions(max_features=500)
    first = fit(texts, labels, options=options, version="t")
    assert first == fit(texts, labels, options=options, version="t")
    assert len(first.features) == 500
    path = tmp_path / "m.json.gz"
    dump_model(first, path)
    again = load_model(path)
    assert again.features == first.features and again.intercept == first.intercept
    vectorizer, classifier = sklearn_pipeline(again)
    probs = classifier.predict_proba(vectorizer.transform([prepare(t) for t in texts[:40]]))
    for text, row in zip(texts[:40], probs, strict=True):
        assert max(abs(again.predict_proba(text)[c] - p) for c, p in zip(again.classes, row, strict=True)) < 1e-6
    # Trained on these messages, it has learned them.
    right = sum(max(p := again.predict_proba(t), key=p.__getitem__) == y for t, y in zip(texts, labels, strict=True))
    assert right / len(texts) > 0.9


def test_rule_scores_are_added_to_the_models_log_odds(shipped: TextModel) -> None:
    text = "报表什么时候发"
    rules = KeywordClassifier([Rule("什么时候", "inquiry", 1.5), Rule("报表", "complaint", -0.5)], model=shipped)
    verdict = rules.classify(text)
    logits = shipped.logits(text)
    a, b, prior = shipped.rule_weight, shipped.model_weight, shipped.prior
    boosted = [
        b * z + a * {"inquiry": 1.5, "complaint": -0.5}.get(c, 0.0) + p
        for z, c, p in zip(logits, shipped.classes, prior, strict=True)
    ]
    probs = dict(zip(shipped.classes, softmax(boosted), strict=True))
    assert verdict.category == max(probs, key=probs.__getitem__)
    assert verdict.confidence == pytest.approx(probs[verdict.category], abs=1e-3)
    assert verdict.confident == (verdict.confidence >= shipped.threshold)
    assert verdict.model == pytest.approx(shipped.predict_proba(text))
    out = verdict.to_json(text)
    assert out["rules"] == {"inquiry": 1.5, "complaint": -0.5} and set(out["model"]) == set(shipped.classes)
    # A forced rule decides whatever the model thinks.
    forced = KeywordClassifier([Rule("报表", "suggestion", 1.0, forced=True)], model=shipped).classify(text)
    assert (forced.category, forced.confidence, forced.confident) == ("suggestion", 1.0, True)
    # No cue at all: the model (with its weight and prior) alone decides.
    alone = KeywordClassifier([], model=shipped).classify(text)
    plain = softmax([b * z + p for z, p in zip(logits, prior, strict=True)])
    assert alone.confidence == pytest.approx(max(plain), abs=1e-3)


def test_the_fitted_rule_weight_is_exported_and_used_by_the_scorer(tmp_path: Path, shipped: TextModel) -> None:
    # The starter model's combination was fitted: the rules neither count as a fixed 1 nor the model's log-odds as is.
    assert shipped.rule_weight > 0 and (shipped.rule_weight, shipped.model_weight) != (1.0, 1.0)
    assert len(shipped.prior) == len(shipped.classes) and any(shipped.prior)
    # Fitted per source; the one served is the agency's.
    agency = shipped.meta["combination"]["agency"]
    assert (agency["rule_weight"], agency["model_weight"], tuple(agency["prior"])) == (
        shipped.rule_weight,
        shipped.model_weight,
        shipped.prior,
    )
    assert shipped.meta["combination"]["stc3"]["rule_weight"] != shipped.rule_weight
    text = "报表什么时候发"
    rules = [Rule("报表", "complaint", 2.0)]
    verdicts = {}
    for weight in (0.0, 1.0, 3.0):
        model = replace(shipped, rule_weight=weight)
        path = tmp_path / f"m{weight}.json.gz"
        dump_model(model, path)
        loaded = load_model(path)
        assert (loaded.rule_weight, loaded.model_weight, loaded.prior) == (weight, shipped.model_weight, shipped.prior)
        verdicts[weight] = KeywordClassifier(rules, model=loaded).classify(text)
    # Weight 0: the rule is shown but adds nothing; the more weight, the more the rule's category gains.
    assert verdicts[0.0].scores == {"complaint": 2.0}
    assert verdicts[0.0].confidence == pytest.approx(max(shipped.combine(shipped.logits(text), {})), abs=1e-3)
    gained = [shipped.combine(shipped.logits(text), {"complaint": 2.0 * w})[0] for w in (0.0, 1.0, 3.0)]
    assert shipped.classes[0] == "complaint" and gained[0] < gained[1] < gained[2]
    assert verdicts[3.0].category == "complaint"


def test_a_file_of_format_version_1_adds_rule_scores_as_they_are(shipped: TextModel) -> None:
    raw = shipped.to_json()
    del raw["combination"], raw["sublinear_tf"]
    old = model_from_json({**raw, "format_version": 1})
    assert (old.rule_weight, old.model_weight, old.prior, old.sublinear) == (1.0, 1.0, (0.0,) * 4, False)
    logits = old.logits("报表什么时候发")
    assert old.combine(logits, {"inquiry": 1.5}) == softmax(
        [z + (1.5 if c == "inquiry" else 0.0) for z, c in zip(logits, old.classes, strict=True)]
    )


def test_the_shipped_model_is_small_and_says_what_it_was_trained_on(shipped: TextModel) -> None:
    path = PROJECT_ROOT / "config" / STARTER_MODEL
    assert path.stat().st_size < 600_000
    assert set(shipped.classes) == {"inquiry", "complaint", "suggestion", "other"}
    assert 0.5 <= shipped.threshold < 1.0
    assert shipped.meta["trained_on"]["agency"] > 400 and shipped.meta["threshold_target"] == 0.9


def test_the_packed_n_grams_read_back_as_given_and_score_any_message() -> None:
    # The index is keyed by the n-grams' bytes: a lone surrogate (valid JSON, "\\ud800") must not break it.
    rows = {"退款": (1.5, (0.5, -0.5)), "a\ud800": (2.0, (1.0, 0.0)), "b": (1.0, (0.0, 2.0))}
    model = TextModel(
        version="t",
        classes=("x", "y"),
        ngram_range=(1, 2),
        intercept=(0.1, -0.1),
        features=rows,
        threshold=0.5,
        meta={},
    )
    assert dict(model.features) == rows and list(model.features) == list(rows)
    assert "退款" in model.features and "退" not in model.features and 1 not in model.features
    # tf-idf of "退款" (1 x 1.5) and "a\ud800" (2 x 2.0), l2-normalised, times each class's coefficients
    norm = math.hypot(1.5, 4.0)
    expected = [0.1 + (1.5 * 0.5 + 4.0 * 1.0) / norm, -0.1 + (1.5 * -0.5) / norm]
    assert model.logits("退款 a\ud800 a\ud800") == pytest.approx(expected, abs=1e-12)


def test_a_file_of_another_format_is_refused(tmp_path: Path, shipped: TextModel) -> None:
    raw = shipped.to_json()
    with pytest.raises(ConfigError, match=FORMAT):
        model_from_json({**raw, "format_version": 99})
    with pytest.raises(ConfigError, match="values"):
        model_from_json({**raw, "features": {"a": [1.0, 2.0]}})
    bad = tmp_path / "x.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read"):
        load_model(bad)
    assert configured_model(tmp_path, "") is None
    assert math.isclose(sum(shipped.predict_proba("你好").values()), 1.0)
    plain = tmp_path / "m.json"
    dump_model(shipped, plain)
    assert json.loads(plain.read_text())["version"] == shipped.version


def _printed_by_a_fresh_process(*lines: str) -> str:
    code = "".join(line + "\n" for line in lines)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT
    ).stdout.strip()


def test_scoring_imports_neither_sklearn_nor_numpy() -> None:
    printed = _printed_by_a_fresh_process(
        "import sys",
        # The whole app, with its weekly training job and the console's model pages, and a stored model unpacked.
        "import handlers.app",
        "from core.learning.store import pack, unpack",
        "from core.dialogue.classifier import KeywordClassifier, load_rules",
        "from core.dialogue.textmodel import configured_model",
        "from core.dialogue.textmodel import STARTER_MODEL",
        "from core.settings import PROJECT_ROOT",
        "m = configured_model(PROJECT_ROOT / 'config', STARTER_MODEL)",
        "k = KeywordClassifier(load_rules(PROJECT_ROOT / 'config' / 'keywords.yaml'), model=m)",
        "k.classify('發票什麼時候開')",
        "unpack(1, pack(m)).logits('发票')",
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('sklearn', 'numpy', 'scipy')))",
    )
    assert printed == "[]"


def test_a_fit_in_a_fresh_process_runs_on_one_thread() -> None:
    pytest.importorskip("sklearn")
    # As in the weekly fit's own process: scikit-learn and its BLAS are not loaded yet when the fit starts.
    printed = _printed_by_a_fresh_process(
        "from threadpoolctl import threadpool_info",
        "from core.learning.fit import one_thread",
        "with one_thread():",
        "    import sklearn.linear_model",
        "    print(sorted({(i['user_api'], i['num_threads']) for i in threadpool_info()}))",
    )
    assert printed == "[('blas', 1), ('openmp', 1)]"


def test_the_combination_is_fitted_per_source_by_log_loss_and_recovers_known_weights() -> None:
    pytest.importorskip("scipy")
    import random

    from core.learning.combination import fit_combination

    # Labels drawn from softmax(b x log-odds + a x rule score + prior), with other numbers on each source: the fit
    # finds each source's numbers.
    rng = random.Random(7)
    classes = ("complaint", "inquiry", "other")
    truth = {"a": (2.0, 0.5, (0.0, 1.0, -1.0)), "b": (0.3, 1.0, (0.0, -0.5, 0.5))}
    logits, rules, labels, sources = [], [], [], []
    for n in range(8000):
        source = "ab"[n % 2]
        a, b, prior = truth[source]
        z = [rng.gauss(0, 2) for _ in classes]
        r = {c: rng.choice((0.0, 0.0, 1.0)) for c in classes}
        probs = softmax([b * v + a * r[c] + p for v, c, p in zip(z, classes, prior, strict=True)])
        labels.append(rng.choices(classes, probs)[0])
        logits.append(z)
        rules.append(r)
        sources.append(source)
    found = fit_combination(classes, logits, rules, labels, sources)
    for source, (a, b, prior) in truth.items():
        w = found.of(source)
        assert w.rule_weight == pytest.approx(a, abs=0.2) and w.model_weight == pytest.approx(b, abs=0.08)
        assert w.prior == pytest.approx(prior, abs=0.25)
    # A source without its own weights adds the rules as they are; the probabilities are the scorer's formula.
    assert found.of("elsewhere").rule_weight == 1.0
    w = found.of("a")
    assert found.probabilities(classes, [1.0, 0.0, -1.0], {"inquiry": 1.0}, "a") == pytest.approx(
        softmax([w.model_weight, w.rule_weight + w.prior[1], -w.model_weight + w.prior[2]])
    )


def test_a_verdict_without_rule_evidence_needs_the_unruled_threshold_too(shipped: TextModel, tmp_path: Path) -> None:
    unruled, ruled = "中秋都过了 中秋促销的广告还挂着", "我要投诉 中秋都过了 中秋促销的广告还挂着"
    rules = [Rule("投诉", "complaint", 3.0), Rule("中秋", "other", 0.0)]

    def verdict(model: TextModel, text: str) -> tuple[float, bool]:
        got = KeywordClassifier(rules, model=model).classify(text)
        return got.confidence, got.confident

    # A zero-weight rule (a mask) is no evidence.
    p, _ = verdict(shipped, unruled)
    between = replace(shipped, threshold=p - 0.01, unruled_threshold=p + 0.01)
    assert verdict(between, unruled) == (p, False)
    assert verdict(replace(between, unruled_threshold=p), unruled) == (p, True)
    assert verdict(replace(between, unruled_threshold=None), unruled) == (p, True)
    # Rule evidence: the threshold alone decides.
    q, _ = verdict(shipped, ruled)
    assert verdict(replace(shipped, threshold=q - 0.01, unruled_threshold=1.0), ruled) == (q, True)
    assert verdict(replace(shipped, threshold=q + 0.01, unruled_threshold=0.0), ruled) == (q, False)
    # Written and read with the model; a file without it holds every verdict to the threshold alone.
    path = tmp_path / "m.json"
    dump_model(between, path)
    assert load_model(path).unruled_threshold == between.unruled_threshold
    assert model_from_json({**between.to_json(), "unruled_threshold": None}).unruled_threshold is None
    assert shipped.unruled_threshold is not None and shipped.unruled_threshold > shipped.threshold


def test_a_model_file_is_read_once_while_it_is_unchanged(tmp_path: Path, shipped: TextModel) -> None:
    path = tmp_path / "m.json"
    dump_model(shipped, path)
    first = load_model(path)
    assert load_model(path) is first
    dump_model(replace(shipped, threshold=0.5), path)
    assert load_model(path).threshold == 0.5


async def test_the_starter_model_is_in_force_by_default(services: Services, shipped: TextModel) -> None:
    classifier = services.classifier.current
    assert classifier.model is not None and classifier.model.version == shipped.version
    assert classifier.rule_count > 900, "the rules stay in front"
    assert classifier.classify("请问发票怎么开").model, "verdicts carry the model's probabilities"


@pytest.mark.parametrize("text", ["[图片]", "[表情]", "[Sticker]", "👍👍👍", "。。。", "[微笑][微笑]", "【语音】 ！"])
def test_a_message_without_words_is_never_confident_though_the_model_is_sure(shipped: TextModel, text: str) -> None:
    assert not has_words(text)
    unmasked = replace(shipped, threshold=0.0, unruled_threshold=None)
    verdict = KeywordClassifier([Rule("投诉", "complaint", 3.0)], model=unmasked).classify(text)
    assert not verdict.confident, verdict
    # The model's verdict stands, only unsure; rule evidence still decides as it would.
    assert verdict.category == max(verdict.model, key=verdict.model.__getitem__)
    assert KeywordClassifier([Rule("👍", "other", 3.0)], model=unmasked).classify("👍👍👍").confident


@pytest.mark.parametrize("text", ["[图片] 发票怎么开", "ok", "在？", "12", "【紧急】广告停了", "a"])
def test_a_message_with_a_word_is_judged_by_the_model(shipped: TextModel, text: str) -> None:
    assert has_words(text)
    unmasked = replace(shipped, threshold=0.0, unruled_threshold=None)
    assert KeywordClassifier([], model=unmasked).classify(text).confident


def test_the_shipped_model_asks_about_a_picture_alone(shipped: TextModel) -> None:
    assert shipped.predict_proba("[图片]")["other"] > shipped.threshold
    assert not KeywordClassifier([], model=shipped).classify("[图片]").confident
