"""Cost of `extract()` on every client message, beside the keyword classifier's cost on the same messages, one core.

The messages are realistic client texts (Chinese, traditional, English, emoji; with and without phones,
dates, amounts, projects) repeated with a varying tail so that no per-text cache helps. Besides the rate,
the first call in a fresh process (importing phonenumbers, cn2an and OpenCC and building their tables) is
measured in a subprocess, since a web process pays it once.
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
from datetime import date

from bench.classifier_bench import _pin_to_one_core, best_rate, make_rules
from bench.figures import Figure, emit, sized
from core.dialogue.classifier import KeywordClassifier
from core.dialogue.entities import extract, preload

SEED = 20261129
MESSAGES = sized(5_000, 1_000)
REPEATS = sized(5, 3)
TODAY = date(2026, 11, 29)
SAMPLES = (
    "冬季大促-信息流那个项目10月底开始跑的，到现在都没量，要补量或退款，电话13800138000",
    "你好，我们公司的“618品牌日”活动，上个月底投的开屏，到现在都没给我们排期表，麻烦尽快给个说法",
    "請儘快恢復投放，冬季大促項目上週三開始就沒量了",
    "账户里的钱被多扣了3,000元，要求退回",
    "hi, our Q4 brand campaign has had zero impressions since last Tuesday. we need a make good or a refund asap",
    "KF-20261129-0001 进度怎么样了？？",
    "发票能先开吗",
    "在吗",
    "不对，电话写错了 应该是13922223334",
    "预算三万五，已经花了两万块，一个线索都没有😡😡😡",
    "我要跟你们经理说，别让我一遍遍填了",
    "挺满意的，5分",
    "昨天下午3点左右突然没量了，王女士 13811113333",
    "投放停了！！！",
    "我们在抖音投的《双11种草》项目效果很差",
)


def make_messages(rng: random.Random, count: int) -> list[str]:
    tails = ("", "，谢谢", " 急", "！！", " thanks", "，麻烦看下", "🙏", "。")
    return [rng.choice(SAMPLES) + rng.choice(tails) + str(rng.randint(0, 9)) * rng.randint(0, 1) for _ in range(count)]


def first_call_seconds() -> tuple[float, float]:
    """Import of the module, then the first extract(), in a fresh interpreter."""
    code = (
        "import time; t = time.perf_counter(); from core.dialogue import entities; i = time.perf_counter() - t;"
        "from datetime import date; t = time.perf_counter(); entities.extract('上週三 13800138000 三万五 要退款',"
        " date(2026, 11, 29)); print(i, time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    pinned = _pin_to_one_core()
    rng = random.Random(SEED)
    messages = make_messages(rng, MESSAGES)
    classifier = KeywordClassifier(make_rules(rng))
    # Libraries loaded and their lazy tables built before timing, as in a server that has run a while.
    preload()
    for sample in SAMPLES:
        extract(sample, TODAY)

    def run_extract(text: str) -> object:
        return extract(text, TODAY)

    rounds = [(best_rate(run_extract, messages, 1)[0], best_rate(classifier.classify, messages, 1)[0])]
    for _ in range(REPEATS - 1):
        rounds.append((best_rate(run_extract, messages, 1)[0], best_rate(classifier.classify, messages, 1)[0]))
    extract_rates = sorted(e for e, _ in rounds)
    classify_rates = sorted(c for _, c in rounds)
    extract_rate, classify_rate = statistics.median(extract_rates), statistics.median(classify_rates)
    imported, first = first_call_seconds()

    print(f"entities benchmark: seed {SEED}, {pinned}; {len(messages):,} client messages, {REPEATS} rounds")
    print(f"{'':<44}{'median':>12}{'per message':>16}")
    print(f"{'extract() (all entities)':<44}{extract_rate:>10,.0f}/s{1e6 / extract_rate:>13,.0f} µs")
    print(f"{'KeywordClassifier.classify, 5,000 rules':<44}{classify_rate:>10,.0f}/s{1e6 / classify_rate:>13,.0f} µs")
    print(f"import of core.dialogue.entities in a fresh process: {imported * 1000:,.0f} ms")
    print(f"first extract() after it (phonenumbers metadata, cn2an, OpenCC): {first * 1000:,.0f} ms")
    emit(
        [
            Figure(
                "entities.extract, one core",
                extract_rate,
                classify_rate,
                "msgs/s",
                "keyword classifier (5,000 rules) on the same messages",
            )
        ]
    )


if __name__ == "__main__":
    main()
