"""Keyword classifier throughput on 5,000 generated rules, against a naive substring loop, on one core."""

from __future__ import annotations

import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial

import ahocorasick

from bench.figures import Figure, emit, sized
from core.dialogue.classifier import KeywordClassifier, Rule, normalize
from core.dialogue.forms import CATEGORIES

SEED = 20261129
RULES = 5_000
MESSAGES = sized(20_000, 4_000)
REPEATS = sized(5, 3)
# The naive loop does RULES substring tests per message (about 8 s for all messages here). It is timed on
# ROUNDS slices of the messages, each right after the classifier on the same slice, so that both see the
# same machine: another process's burst then moves both figures, not the ratio.
ROUNDS = 5

# Characters clients actually type in this business: service words, money, time, feelings, particles.
CHAR_POOL = (
    "的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要她出也得里后自以会家可下而过天去能对小多然于心学么之都好"
    "看起发当没成只如事把还用第样道想作种开美总从无情己面最女但现前些所同日手又行意动方期它头经长儿回位分爱老因很给名法间斯知世"
    "什两次使身者被高已亲其进此话常与活正感见明问力理尔点文几定本公特做外孩相西果走将月十实向声车全信重三机工物气每并别真打太新"
    "比才便夫再书部水像眼等体却加电主界门利海受听表德少克代员许程先口由死安写性马光白或住难望教命花结乐色更拉东神记处让母父应直"
    "广告投放排期媒介预算报价合同发票付款退款充值开户账户效果曝光点击转化素材创意设计方案策划品牌活动数据报表消耗渠道达人直播视频"
    "抖音小红书微信朋友圈公众号信息流开屏客户经理老板同事团队项目进度上线审核修改确认提交联系电话邮箱周月日今明昨早晚快慢差错骗坑"
    "请问咨询建议希望投诉满意失望垃圾拖延回复处理解决赔偿律师曝光谢谢您好吗呢吧啊哦嗯"
)
_ENGLISH = """
ad ads campaign budget invoice refund quote price cost media plan schedule report weekly monthly click
impressions ctr cpm roi conversion creative design brand strategy launch deadline account manager team
contract payment billing charge late delay terrible great good bad please thanks hello question suggest
suggestion complaint issue problem fix update send share add export dashboard data target audience video post
influencer kol social wechat douyin xiaohongshu event pr press hiring job test wrong chat sorry urgent asap
today tomorrow monday friday results performance spend overspend traffic fake bots scam
"""
ENGLISH_WORDS = tuple(_ENGLISH.split())
PUNCTUATION = "，。？！、 "


def _phrase(rng: random.Random) -> str:
    if rng.random() < 0.15:
        return " ".join(rng.choice(ENGLISH_WORDS) for _ in range(rng.choice((1, 1, 1, 2))))
    return "".join(rng.choice(CHAR_POOL) for _ in range(rng.randint(2, 6)))


def make_rules(rng: random.Random, count: int = RULES) -> list[Rule]:
    """`count` distinct phrases over the four categories; about one in twenty is a counter-cue."""
    seen: set[str] = set()
    rules: list[Rule] = []
    while len(rules) < count:
        phrase = _phrase(rng)
        if normalize(phrase) in seen:
            continue
        seen.add(normalize(phrase))
        weight = -round(rng.uniform(0.5, 3.0), 1) if rng.random() < 0.05 else round(rng.uniform(0.3, 3.0), 1)
        rules.append(Rule(phrase, rng.choice(CATEGORIES), weight))
    return rules


def make_messages(rng: random.Random, rules: Sequence[Rule], count: int = MESSAGES) -> list[str]:
    """Messages of 10–60 characters: pool characters and English words, with 0–3 rule phrases mixed in."""
    messages = []
    for _ in range(count):
        target = rng.randint(10, 60)
        pieces: list[str] = [rng.choice(rules).phrase for _ in range(rng.choice((0, 1, 1, 2, 2, 3)))]
        length = sum(len(p) for p in pieces)
        while length < target:
            roll = rng.random()
            if roll < 0.1:
                piece = " " + rng.choice(ENGLISH_WORDS) + " "
            elif roll < 0.2:
                piece = rng.choice(PUNCTUATION)
            else:
                piece = rng.choice(CHAR_POOL)
            pieces.insert(rng.randint(0, len(pieces)), piece)
            length += len(piece)
        messages.append("".join(pieces)[:60])
    return messages


def naive_scores(rules: Sequence[Rule], text: str) -> dict[str, float]:
    """The baseline: every rule's phrase tested against the normalized text, one by one."""
    normalized_text = normalize(text)
    score: dict[str, float] = {}
    for rule in rules:
        if rule.phrase in normalized_text:
            score[rule.category] = score.get(rule.category, 0.0) + rule.weight
    return score


def best_rate(work: Callable[[str], object], messages: Sequence[str], repeats: int = REPEATS) -> tuple[float, float]:
    """Messages per second of the fastest and the median of `repeats` passes; results are dropped, as by a server."""
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        for message in messages:
            work(message)
        seconds.append(time.perf_counter() - started)
    return len(messages) / min(seconds), len(messages) / statistics.median(seconds)


def floors(rules: Sequence[Rule], messages: Sequence[str]) -> tuple[float, float, float]:
    """Rates of the parts no classifier built this way can skip: normalizing, and one bare automaton pass."""
    automaton = ahocorasick.Automaton()
    for phrase in {normalize(r.phrase) for r in rules}:
        automaton.add_word(phrase, phrase)
    automaton.make_automaton()
    normalized = [normalize(m) for m in messages]

    def one_pass(text: str) -> None:
        for _ in automaton.iter(text):
            pass

    def both(text: str) -> None:
        one_pass(normalize(text))

    return best_rate(normalize, messages)[0], best_rate(one_pass, normalized)[0], best_rate(both, messages)[0]


def _pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to CPU {core}"
    return "not pinned (no sched_setaffinity here)"


def main() -> None:
    pinned = _pin_to_one_core()
    rng = random.Random(SEED)
    rules = make_rules(rng)
    messages = make_messages(rng, rules)
    # The naive loop gets the rules already normalized, as the automaton does: only its matching is timed.
    naive_rules = [Rule(normalize(r.phrase), r.category, r.weight) for r in rules]

    build_seconds = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        classifier = KeywordClassifier(rules)
        build_seconds.append(time.perf_counter() - started)

    classify = classifier.classify
    matched = sum(len(classify(m).matched) for m in messages)
    fast, median = best_rate(classify, messages)
    naive = partial(naive_scores, naive_rules)
    size = len(messages) // ROUNDS
    rounds = []
    for start in range(0, size * ROUNDS, size):
        part = messages[start : start + size]
        rounds.append((best_rate(classify, part, 1)[0], best_rate(naive, part, 1)[0]))
    ratios = sorted(c / n for c, n in rounds)
    naive_rates = sorted(n for _, n in rounds)
    normalize_rate, pass_rate, floor_rate = floors(rules, messages)

    print(f"classifier benchmark: seed {SEED}, Python {platform.python_version()}, {pinned}")
    counter_cues = sum(r.weight < 0 for r in rules)
    print(f"{len(rules):,} rules ({counter_cues} counter-cues); {len(messages):,} messages of 10–60 characters")
    chars = sum(map(len, messages)) / len(messages)
    print(f"{chars:.1f} characters and {matched / len(messages):.2f} matches per message on average")
    print(f"automaton build: {min(build_seconds) * 1000:.1f} ms (best of {REPEATS})")
    print()
    print(f"classifications per second, one core ({REPEATS} passes over all {len(messages):,} messages)")
    print(f"{'':<34}{'best':>14}{'median':>14}")
    print(f"{'KeywordClassifier.classify':<34}{fast:>12,.0f}/s{median:>12,.0f}/s")
    print()
    print(f"against the naive loop: {ROUNDS} rounds, each timing both on the same {size:,} messages back to back")
    print(f"{'naive loop over the rules':<34}{naive_rates[-1]:>12,.0f}/s{statistics.median(naive_rates):>12,.0f}/s")
    print(f"{'ratio (median, range)':<34}{statistics.median(ratios):>13,.1f}x   {ratios[0]:.1f}x to {ratios[-1]:.1f}x")
    print()
    print("ceiling for any classifier built this way (best pass; no work per match at all):")
    print(f"{'normalize() alone':<34}{normalize_rate:>12,.0f}/s")
    print(f"{'one pyahocorasick pass alone':<34}{pass_rate:>12,.0f}/s")
    print(f"{'both':<34}{floor_rate:>12,.0f}/s")
    label = f"classifier, {len(rules):,} rules, one core"
    emit(
        [
            Figure(label, median, statistics.median(naive_rates), "msgs/s", "naive substring loop over the rules"),
            Figure(label, median, floor_rate, "msgs/s", "normalize() + one bare pyahocorasick pass (ceiling)"),
        ]
    )


if __name__ == "__main__":
    main()
