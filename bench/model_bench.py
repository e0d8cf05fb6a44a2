"""The learned model's cost: classification speed with the shipped rules alone and with the model behind them
(one core), the memory the model adds to a process, the time a model takes to load and to fit."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from bench.classifier_bench import _pin_to_one_core, best_rate
from bench.figures import Figure, emit, sized
from core.dialogue.classifier import KeywordClassifier, load_rules
from core.dialogue.textmodel import STARTER_MODEL, load_model
from core.settings import DEFAULT_CONFIG_DIR

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT / "tests" / "data" / "eval" / "messages.jsonl"
MESSAGES = sized(5_000, 1_000)
REPEATS = sized(5, 3)

# Run in a fresh interpreter: what a web process holds with the rules, and with the model too.
_RSS = """
import json, sys
from pathlib import Path
from core.dialogue.classifier import KeywordClassifier, load_rules
from core.dialogue.textmodel import load_model
config = Path(sys.argv[1])
model = load_model(config / sys.argv[2]) if sys.argv[2] else None
classifier = KeywordClassifier(load_rules(config / "keywords.yaml"), model=model)
classifier.classify("请问发票怎么开")
status = Path("/proc/self/status").read_text()
rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
print(json.dumps({"rss_kib": rss, "sklearn": "sklearn" in sys.modules, "numpy": "numpy" in sys.modules}))
"""


def rss(model: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", _RSS, str(DEFAULT_CONFIG_DIR), model],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def messages() -> list[str]:
    texts = [json.loads(line)["text"] for line in EVAL.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [texts[i % len(texts)] for i in range(MESSAGES)]


def fit_seconds() -> float:
    """One fit of a draft on the starter data with no deployment labels (the weekly job's work, CV excluded)."""
    from core.learning.data import DEFAULT_CORPUS, starter_data
    from core.learning.draft import DraftInputs, train_draft

    rows = starter_data(DEFAULT_CORPUS if DEFAULT_CORPUS.exists() else None)
    started = time.perf_counter()
    train_draft(DraftInputs(rows, [], [], 0.5, None, 0.9))
    return time.perf_counter() - started


def main() -> None:
    pinned = _pin_to_one_core()
    rules = load_rules(DEFAULT_CONFIG_DIR / "keywords.yaml")
    started = time.perf_counter()
    model = load_model(DEFAULT_CONFIG_DIR / STARTER_MODEL)
    load_seconds = time.perf_counter() - started
    texts = messages()
    alone = KeywordClassifier(rules)
    both = KeywordClassifier(rules, model=model)
    _, rules_rate = best_rate(alone.classify, texts, REPEATS)
    _, model_rate = best_rate(both.classify, texts, REPEATS)
    without, with_model = rss(""), rss(STARTER_MODEL)
    assert not with_model["sklearn"] and not with_model["numpy"], "serving must not load scikit-learn or NumPy"
    rss_rules = int(str(without["rss_kib"])) / 1024
    rss_model = int(str(with_model["rss_kib"])) / 1024
    fit = fit_seconds()
    print(f"learned model benchmark, {pinned}; {len(rules):,} shipped rules, {len(model.features):,} n-grams")
    print(f"{len(texts):,} messages (the evaluation set, repeated), median of {REPEATS} passes")
    print(f"rules alone:        {rules_rate:>10,.0f} msgs/s")
    print(f"rules + model:      {model_rate:>10,.0f} msgs/s")
    added = rss_model - rss_rules
    print(f"process RSS, rules: {rss_rules:>10.1f} MiB; with the model: {rss_model:.1f} MiB (+{added:.1f})")
    print(f"model load:         {load_seconds:>10.2f} s; one draft fit on the starter data: {fit:.0f} s")
    emit(
        [
            Figure(
                "classifier, shipped rules + learned model, one core",
                model_rate,
                rules_rate,
                "msgs/s",
                "shipped rules alone",
            ),
            Figure(
                "classifier process RSS with the learned model",
                rss_model,
                rss_rules,
                "MiB",
                "the same process, rules alone",
            ),
            Figure("learned model load (gzipped JSON, 20k n-grams)", load_seconds, None, "s", "–"),
            Figure("draft model fit on the starter data, one core", fit, None, "s", "–"),
        ]
    )


if __name__ == "__main__":
    main()
