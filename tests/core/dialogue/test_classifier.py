"""The keyword classifier's mechanics: normalization, matching, scoring, confidence and rule loading."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from core.dialogue.classifier import (
    Classification,
    KeywordClassifier,
    Match,
    Rule,
    load_rules,
    normalize,
    rules_from_mapping,
)
from core.errors import ConfigError


def _phrases(classifier: KeywordClassifier, text: str) -> list[str]:
    return [m.phrase for m in classifier.find(text)]


def test_normalize_folds_full_width_case_and_whitespace() -> None:
    assert normalize("ＡＢＣ１２３") == "abc123"
    assert normalize("  Hello\u3000\tWORLD \n again ") == "hello world again"
    assert normalize("") == ""


def test_rules_are_normalized_like_the_text() -> None:
    classifier = KeywordClassifier([Rule("ＲＯＩ", "inquiry", 1.0)])
    assert _phrases(classifier, "roi 多少") == ["roi"]
    assert _phrases(classifier, "ＲＯＩ多少") == ["roi"]


def test_english_phrases_match_whole_words_only() -> None:
    classifier = KeywordClassifier([Rule("ad", "inquiry", 1.0), Rule("test", "other", 1.0)])
    assert _phrases(classifier, "please add a banner") == []
    assert _phrases(classifier, "the ad is live") == ["ad"]
    assert _phrases(classifier, "ad") == ["ad"]
    assert _phrases(classifier, "AD, again") == ["ad"]
    assert _phrases(classifier, "latest test") == ["test"]
    assert _phrases(classifier, "contest") == []
    assert _phrases(classifier, "tests") == []
    # Chinese characters are not word characters, so an English word inside Chinese text still matches.
    assert _phrases(classifier, "这个ad多少钱") == ["ad"]


def test_chinese_phrases_match_anywhere() -> None:
    classifier = KeywordClassifier([Rule("报价", "inquiry", 1.5)])
    assert _phrases(classifier, "请发一下报价单") == ["报价"]


def test_match_positions_refer_to_the_normalized_text() -> None:
    classifier = KeywordClassifier([Rule("投诉", "complaint", 3.0)])
    (match,) = classifier.find("我要  投诉")
    assert (match.start, match.end) == (3, 5)
    assert normalize("我要  投诉")[match.start : match.end] == "投诉"


def test_a_match_inside_a_longer_match_is_dropped() -> None:
    classifier = KeywordClassifier(
        [
            Rule("投诉", "complaint", 3.0),
            Rule("不是投诉", "complaint", -2.0),
            Rule("不是投诉", "inquiry", 0.5),
            Rule("想问", "inquiry", 2.0),
        ]
    )
    verdict = classifier.classify("不是投诉，只是想问一下")
    assert [(m.phrase, m.category) for m in verdict.matched] == [
        ("不是投诉", "complaint"),
        ("不是投诉", "inquiry"),
        ("想问", "inquiry"),
    ]
    assert verdict.category == "inquiry"
    # 想问 2.0 counts whole, the weaker inquiry cue half (DECAY).
    assert verdict.scores == {"complaint": -2.0, "inquiry": 2.25}
    # Without the counter-cue in the text, the shorter phrase counts.
    assert classifier.classify("我要投诉").category == "complaint"


def test_overlapping_matches_that_do_not_contain_each_other_both_count() -> None:
    classifier = KeywordClassifier([Rule("效果不好", "complaint", 2.0), Rule("不好的话", "inquiry", 1.0)])
    assert _phrases(classifier, "效果不好的话") == ["效果不好", "不好的话"]


def test_negative_weights_take_score_away() -> None:
    classifier = KeywordClassifier(
        [Rule("失望", "complaint", 2.5), Rule("不", "complaint", -1.0), Rule("报价", "inquiry", 1.0)]
    )
    verdict = classifier.classify("失望 不 报价")
    assert verdict.scores == {"complaint": 1.5, "inquiry": 1.0}
    assert verdict.category == "complaint"
    only_negative = classifier.classify("不")
    assert (only_negative.category, only_negative.confidence, only_negative.confident) == ("other", 0.0, False)
    assert only_negative.scores == {"complaint": -1.0}
    assert [m.phrase for m in only_negative.matched] == ["不"]


def test_disabled_rules_are_ignored() -> None:
    classifier = KeywordClassifier([Rule("投诉", "complaint", 3.0, enabled=False), Rule("报价", "inquiry", 1.0)])
    assert classifier.rule_count == 1
    assert classifier.find("我要投诉") == []
    assert KeywordClassifier([Rule("投诉", "complaint", 3.0, enabled=False)]).classify("投诉").category == "other"


def test_unknown_category_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="praise"):
        KeywordClassifier([Rule("谢谢", "praise", 1.0)])


def test_a_disabled_rule_with_an_unknown_category_is_not_checked() -> None:
    assert KeywordClassifier([Rule("谢谢", "praise", 1.0, enabled=False)]).rule_count == 0


def test_empty_text_and_no_rules_give_other_with_no_confidence() -> None:
    classifier = KeywordClassifier([Rule("投诉", "complaint", 3.0)])
    for text in ("", "   ", "你好"):
        verdict = classifier.classify(text)
        assert (verdict.category, verdict.confidence, verdict.confident) == ("other", 0.0, False)
        assert verdict.matched == () and verdict.scores == {}
    empty = KeywordClassifier([])
    assert empty.rule_count == 0
    assert empty.find("投诉") == []
    assert empty.classify("投诉").category == "other"


def test_confidence_is_share_times_strength() -> None:
    rules = [Rule("投诉", "complaint", 3.0), Rule("报价", "inquiry", 1.0), Rule("吗", "inquiry", 0.5)]
    classifier = KeywordClassifier(rules)
    alone = classifier.classify("投诉")
    assert (alone.category, alone.confidence, alone.confident) == ("complaint", 1.0, True)
    mixed = classifier.classify("投诉 报价")
    assert mixed.confidence == 0.75 and mixed.confident
    weak = classifier.classify("报价")
    # Strength 1.0 / 2.0 halves the confidence: 0.5 is exactly the default threshold.
    assert weak.confidence == 0.5 and weak.confident
    weaker = classifier.classify("吗")
    assert weaker.category == "inquiry" and weaker.confidence == 0.25 and not weaker.confident


def test_threshold_and_strength_ref_are_honoured() -> None:
    rules = [Rule("报价", "inquiry", 1.0)]
    assert not KeywordClassifier(rules, threshold=0.6).classify("报价").confident
    assert KeywordClassifier(rules, strength_ref=1.0).classify("报价").confidence == 1.0


def test_a_tie_is_never_confident() -> None:
    rules = [Rule("投诉", "complaint", 3.0), Rule("建议", "suggestion", 3.0)]
    verdict = KeywordClassifier(rules).classify("投诉和建议")
    assert verdict.scores == {"complaint": 3.0, "suggestion": 3.0}
    assert verdict.category in {"complaint", "suggestion"}
    assert verdict.confidence == 0.5
    assert not verdict.confident
    # Even a threshold the confidence clears cannot make a tie confident.
    assert not KeywordClassifier(rules, threshold=0.1).classify("投诉和建议").confident


def test_a_phrase_may_vote_for_several_categories() -> None:
    classifier = KeywordClassifier([Rule("退款", "complaint", 1.2), Rule("退款", "inquiry", 0.5)])
    assert [(m.category, m.weight) for m in classifier.find("退款")] == [("complaint", 1.2), ("inquiry", 0.5)]


def test_to_json_shapes() -> None:
    verdict = KeywordClassifier([Rule("投诉", "complaint", 3.0)]).classify("我要投诉")
    # "rules" (the rules' score per category) was added beside the original fields; nothing was taken away.
    assert verdict.to_json("我要投诉") == {
        "text": "我要投诉",
        "category": "complaint",
        "confidence": 1.0,
        "confident": True,
        "matched": [{"phrase": "投诉", "category": "complaint", "weight": 3.0}],
        "rules": {"complaint": 3.0},
    }


def test_verdicts_equal_ones_built_through_the_constructors() -> None:
    # The classifier fills Match and Classification slots directly for speed; this holds it to the constructors.
    assert [f.name for f in fields(Match)] == ["phrase", "category", "weight", "start", "end", "forced"]
    assert [f.name for f in fields(Classification)] == [
        "category",
        "confidence",
        "confident",
        "scores",
        "matched",
        "model",
        "forced",
    ]
    assert not hasattr(Match, "__post_init__") and not hasattr(Classification, "__post_init__")
    rules = [Rule("投诉", "complaint", 3.0), Rule("不是投诉", "complaint", -2.0), Rule("报价", "inquiry", 1.0)]
    classifier = KeywordClassifier(rules)
    for text in ("不是投诉，报价多少", "投诉", "你好", "报价 报价"):
        verdict = classifier.classify(text)
        rebuilt = tuple(Match(m.phrase, m.category, m.weight, m.start, m.end, m.forced) for m in verdict.matched)
        assert verdict == Classification(
            verdict.category, verdict.confidence, verdict.confident, verdict.scores, rebuilt
        )
        assert list(verdict.matched) == classifier.find(text)
        assert hash(verdict.matched) == hash(rebuilt)


def test_a_classifier_built_from_new_rules_gives_its_own_verdict_on_a_message_classified_before() -> None:
    before = KeywordClassifier([Rule("退款", "complaint", 2.0)])
    assert before.classify("我要退款").category == "complaint"
    assert before.classify("我要退款") is before.classify("我要退款"), "a verdict given once is kept"
    # Rules published anew make a new classifier: what the old one kept is not its verdict.
    after = KeywordClassifier([Rule("退款", "inquiry", 2.0)])
    assert after.classify("我要退款").category == "inquiry"
    assert KeywordClassifier([Rule("退款", "complaint", 2.0)], threshold=1.5).classify("我要退款").confident is False
    assert before.classify("我要退款").category == "complaint" and before.classify("我要退款").confident


def test_rules_from_mapping_accepts_the_rules_list() -> None:
    rules = rules_from_mapping(
        {
            "rules": [
                {"phrase": "投诉", "category": "complaint", "weight": 3},
                {"phrase": "报价", "category": "inquiry"},
                {"phrase": "测试", "category": "other", "weight": 1.5, "enabled": False},
            ]
        }
    )
    assert rules == [
        Rule("投诉", "complaint", 3.0),
        Rule("报价", "inquiry", 1.0),
        Rule("测试", "other", 1.5, enabled=False),
    ]


def test_rules_from_mapping_accepts_category_lists() -> None:
    raw = {"complaint": ["投诉", {"太差": 2.5, "不是投诉": -2}], "suggestion": None, "other": [315]}
    rules = rules_from_mapping(raw)
    assert rules == [
        Rule("投诉", "complaint", 1.0),
        Rule("太差", "complaint", 2.5),
        Rule("不是投诉", "complaint", -2.0),
        Rule("315", "other", 1.0),
    ]


def test_load_rules_reads_yaml_and_tolerates_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "keywords.yaml"
    path.write_text("rules:\n  - {phrase: 请问, category: inquiry, weight: 2}\n", encoding="utf-8")
    assert load_rules(path) == [Rule("请问", "inquiry", 2.0)]
    path.write_text("", encoding="utf-8")
    assert load_rules(path) == []


def test_traditional_spellings_match_the_simplified_rule() -> None:
    classifier = KeywordClassifier([Rule("发票", "inquiry", 1.0), Rule("后台", "inquiry", 1.0)])
    # Standard, Taiwan and Hong Kong forms; the match reports the rule's own phrase and positions.
    (match,) = classifier.find("請問發票開了嗎")
    assert (match.phrase, match.start, match.end) == ("发票", 2, 4)
    assert _phrases(classifier, "後臺看不到") == ["后台"]
    assert _phrases(classifier, "後台看不到") == ["后台"]
    assert _phrases(classifier, "发票和發票") == ["发票", "发票"]
    assert classifier.rule_count == 2


def test_a_traditional_spelling_that_is_a_rule_of_its_own_keeps_its_votes() -> None:
    classifier = KeywordClassifier([Rule("发票", "inquiry", 1.0), Rule("發票", "other", 2.0)])
    verdict = classifier.classify("發票")
    assert [(m.phrase, m.category) for m in verdict.matched] == [("發票", "other")]
    assert classifier.classify("发票").category == "inquiry"


def test_traditional_text_overrules_like_simplified_text() -> None:
    classifier = KeywordClassifier(
        [Rule("投诉", "complaint", 3.0), Rule("不是投诉", "complaint", -2.0), Rule("想问", "inquiry", 2.0)]
    )
    verdict = classifier.classify("不是投訴，只是想問一下")
    assert verdict.category == "inquiry"
    assert [m.phrase for m in verdict.matched] == ["不是投诉", "想问"]


def test_a_curly_apostrophe_reads_as_a_straight_one() -> None:
    assert normalize("Don\u2019t") == "don't"
    classifier = KeywordClassifier([Rule("don't match", "complaint", 2.0), Rule("who\u2019s", "inquiry", 1.0)])
    assert _phrases(classifier, "The numbers don\u2019t match") == ["don't match"]
    assert _phrases(classifier, "the numbers don't match") == ["don't match"]
    assert _phrases(classifier, "Who's our AM? 谁\u2019s") == ["who's"]
