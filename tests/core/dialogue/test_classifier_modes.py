"""Match modes of keyword rules: auto (today's behaviour), substring, word and whole message."""

from __future__ import annotations

import pytest

from core.dialogue.classifier import KeywordClassifier, Rule
from core.errors import ConfigError


def _phrases(rules: list[Rule], text: str) -> list[str]:
    return [m.phrase for m in KeywordClassifier(rules).find(text)]


def test_auto_keeps_word_boundaries_for_english_and_none_for_chinese() -> None:
    rules = [Rule("refund", "complaint", 2.0), Rule("退款", "complaint", 2.0)]
    assert _phrases(rules, "refund now") == ["refund"]
    assert _phrases(rules, "refunded twice") == []
    assert _phrases(rules, "申请退款了") == ["退款"]


def test_substring_matches_inside_words() -> None:
    rules = [Rule("refund", "complaint", 2.0, match_mode="substring")]
    assert _phrases(rules, "refunded twice") == ["refund"]
    assert _phrases(rules, "nonrefundable") == ["refund"]


def test_word_sets_a_phrase_apart_in_any_script() -> None:
    rules = [Rule("急", "complaint", 1.0, match_mode="word"), Rule("ok", "other", 1.0, match_mode="word")]
    assert _phrases(rules, "急！") == ["急"]
    assert _phrases(rules, "很急 急") == ["急"]
    assert _phrases(rules, "着急") == []
    assert _phrases(rules, "急事") == []
    assert _phrases(rules, "ok.") == ["ok"]
    assert _phrases(rules, "okay") == []
    # Unlike auto, a letter of another script is no boundary either.
    assert _phrases(rules, "好ok") == []
    assert _phrases([Rule("ok", "other", 1.0)], "好ok") == ["ok"]


def test_whole_matches_the_entire_message_only() -> None:
    rules = [Rule("收到", "other", 2.0, match_mode="whole")]
    assert _phrases(rules, "收到") == ["收到"]
    assert _phrases(rules, "  收到！！ ") == ["收到"]
    assert _phrases(rules, "收到了吗") == []
    assert _phrases(rules, "发票收到") == []
    verdict = KeywordClassifier(rules).classify("收到~")
    assert verdict.category == "other" and verdict.confident


def test_one_phrase_in_several_modes_votes_where_each_mode_matches() -> None:
    rules = [Rule("ok", "other", 2.0, match_mode="whole"), Rule("ok", "inquiry", 0.5, match_mode="substring")]
    classifier = KeywordClassifier(rules)
    assert classifier.classify("ok").scores == {"other": 2.0, "inquiry": 0.5}
    assert classifier.classify("is it okay").scores == {"inquiry": 0.5}


def test_traditional_spellings_follow_the_rule_s_mode() -> None:
    rules = [Rule("发票", "inquiry", 2.0, match_mode="whole")]
    assert _phrases(rules, "發票") == ["发票"]
    assert _phrases(rules, "發票呢") == []


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ConfigError):
        KeywordClassifier([Rule("x", "other", 1.0, match_mode="fuzzy")])
