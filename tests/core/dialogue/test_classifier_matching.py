"""Matching fixes clients hit: negated grievances, nouns holding a cue, weak cues adding up, forced rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.dialogue.classifier import KeywordClassifier, Rule, load_rules
from core.dialogue.textmodel import STARTER_MODEL, configured_model
from core.errors import InvalidInput
from core.keywords.spec import parse_rule
from core.keywords.yaml_io import dump_yaml, load_specs, parse_yaml
from core.settings import PROJECT_ROOT


@pytest.fixture(scope="module")
def shipped() -> KeywordClassifier:
    return KeywordClassifier(load_rules(PROJECT_ROOT / "config" / "keywords.yaml"))


def test_a_negated_grievance_is_no_complaint() -> None:
    classifier = KeywordClassifier([Rule("有问题", "complaint", 1.2), Rule("问题", "complaint", 0.5)])
    assert classifier.classify("素材有问题").category == "complaint"
    for text in ("没有问题，谢谢", "目前没问题也没有问题", "应该不有问题"):
        verdict = classifier.classify(text)
        assert verdict.category != "complaint", text
        # The negated span still silences the shorter cue inside it.
        assert "complaint" not in verdict.scores or verdict.scores["complaint"] <= 0, text


def test_english_negation_takes_the_grievance_away() -> None:
    classifier = KeywordClassifier([Rule("broken", "complaint", 2.0), Rule("late", "complaint", 2.0)])
    assert classifier.classify("the link is broken").category == "complaint"
    assert classifier.classify("the link is not broken").scores == {}
    assert classifier.classify("it isn't late").scores == {}


def test_a_negation_does_not_touch_other_categories() -> None:
    classifier = KeywordClassifier([Rule("建议", "suggestion", 2.5)])
    assert classifier.classify("不建议这样").category == "suggestion"


def test_the_shipped_rules_read_the_phrases_clients_write(shipped: KeywordClassifier) -> None:
    assert shipped.classify("没有问题，谢谢").category != "complaint"
    assert shipped.classify("素材有问题").category == "complaint"
    # 咨询 inside 咨询电话 asks nothing: the hotline is a noun.
    hotline = shipped.classify("你们的咨询电话")
    assert hotline.scores.get("inquiry", 0.0) == 0.0 and not hotline.confident
    assert shipped.classify("我想咨询一下").category == "inquiry"
    breakdown = shipped.classify("Could you send the clicks broken down by channel?")
    assert breakdown.category != "complaint"
    assert shipped.classify("the landing page is broken").category == "complaint"
    assert shipped.classify("the tracking has broken down again").category == "complaint"
    assert shipped.classify("when is the down payment due?").category != "complaint"


@pytest.mark.parametrize(
    "text",
    [
        "the logo on the billboard is upside down",
        "Winter Sale ads are showing the old prices",
        "the landing page still shows the outdated menu",
        "the banner has a typo in the headline",
        "the product video is blurry",
        "our ads stopped running since yesterday",
        "the Winter Sale ads are not running",
        "our banner ads stopped showing",
        "our billboard in Pudong went dark on Monday",
        "the campaign is not delivering",
        "all our ads got rejected",
        "the landing page is down",
        "the video you delivered is really low quality",
    ],
)
def test_a_defect_described_plainly_in_english_is_a_complaint(text: str, shipped: KeywordClassifier) -> None:
    assert shipped.classify(text).category == "complaint"


def test_a_clients_recruitment_ads_are_no_job_seeker(shipped: KeywordClassifier) -> None:
    ads = shipped.classify("招聘广告投到外省去了 我们只招本地的")
    assert ads.category != "other" and "other" not in ads.scores
    assert shipped.classify("你们公司在招聘吗").category == "other"


@pytest.fixture(scope="module")
def served() -> KeywordClassifier:
    """The shipped rules with the learned model in force by default, as clients meet them."""
    model = configured_model(PROJECT_ROOT / "config", STARTER_MODEL)
    assert model is not None
    return KeywordClassifier(load_rules(PROJECT_ROOT / "config" / "keywords.yaml"), model=model)


def test_an_offer_to_be_contacted_is_no_grievance(shipped: KeywordClassifier, served: KeywordClassifier) -> None:
    assert shipped.classify("有问题联系我13800138031").scores["complaint"] < 0
    # The learned model reads 有问题 in the offer as a grievance: the counter-cue keeps it from deciding.
    proposal = "建议开票流程能线上化，现在要寄纸质的太慢了。有问题联系我13800138031"
    assert served.classify(proposal).category == "suggestion"
    # A grievance of its own still makes a complaint.
    assert served.classify("海报印错了，有问题找我").category == "complaint"
    assert served.classify("上周的数据报表还没发过来 有问题联系我").category == "complaint"


def test_weak_cues_do_not_add_up_to_a_confident_verdict() -> None:
    nouns = [Rule(p, "inquiry", 0.5) for p in ("投放", "素材", "曝光", "点击率", "转化")]
    classifier = KeywordClassifier(nouns)
    verdict = classifier.classify("投放 素材 曝光 点击率 转化")
    assert verdict.category == "inquiry"
    # Strongest first, each further cue half the one before: 0.5 + 0.25 + 0.125 + ... stays below 1.0.
    assert verdict.scores["inquiry"] == pytest.approx(0.5 * (1 + 0.5 + 0.25 + 0.125 + 0.0625))
    assert not verdict.confident
    # One strong cue is still enough, and counter-cues still count whole.
    strong = KeywordClassifier([*nouns, Rule("请问", "inquiry", 2.0), Rule("不是问", "inquiry", -1.0)])
    assert strong.classify("请问投放").scores["inquiry"] == pytest.approx(2.0 + 0.25)
    assert strong.classify("请问投放").confident


def test_a_forced_rule_decides_outright() -> None:
    rules = [
        Rule("投诉", "complaint", 3.0),
        Rule("太差", "complaint", 2.5),
        Rule("发票抬头", "inquiry", 0.5, forced=True),
        Rule("不是投诉", "complaint", -2.0),
    ]
    classifier = KeywordClassifier(rules)
    verdict = classifier.classify("投诉！太差了，发票抬头写错")
    assert (verdict.category, verdict.confidence, verdict.confident, verdict.forced) == ("inquiry", 1.0, True, True)
    assert [m.phrase for m in verdict.matched if m.forced] == ["发票抬头"]
    assert verdict.to_json("x")["forced"] is True
    # Without the forced phrase the other cues decide as before.
    assert classifier.classify("投诉！太差了").category == "complaint"
    # Not forced: the same rule is one weak cue among others.
    plain = KeywordClassifier([Rule(r.phrase, r.category, r.weight) for r in rules])
    assert plain.classify("投诉！太差了，发票抬头写错").category == "complaint"


def test_forced_travels_through_specs_and_yaml() -> None:
    spec = parse_rule({"phrase": "退款", "category": "complaint", "weight": 2.0, "forced": True})
    assert spec.forced and spec.to_rule().forced
    text = dump_yaml([spec])
    assert "forced: true" in text
    assert parse_yaml(text) == [spec]
    assert not parse_yaml(dump_yaml([parse_rule({"phrase": "退款", "category": "complaint"})]))[0].forced
    with pytest.raises(InvalidInput, match="forced"):
        parse_rule({"phrase": "退款", "category": "complaint", "forced": "yes"})
    with pytest.raises(InvalidInput, match="positive weight"):
        parse_rule({"phrase": "不是投诉", "category": "complaint", "weight": -2.0, "forced": True})


def test_a_rules_file_is_read_as_it_is_now_and_its_rules_are_the_callers_own(tmp_path: Path) -> None:
    path = tmp_path / "keywords.yaml"
    path.write_text("rules:\n  - {phrase: 退款, category: complaint}\n", encoding="utf-8")
    first = load_specs(path)
    assert [(s.phrase, s.category) for s in first] == [("退款", "complaint")]
    first.clear()
    assert [s.phrase for s in load_specs(path)] == ["退款"]
    path.write_text("rules:\n  - {phrase: 报价, category: inquiry}\n", encoding="utf-8")
    assert [(s.phrase, s.category) for s in load_specs(path)] == [("报价", "inquiry")]


@pytest.mark.parametrize("text", ["片尾的二维码扫不出来", "落地页加载不出来", "视频播放不了", "小程序跳转不了"])
def test_things_that_do_not_work_are_complaints(text: str, shipped: KeywordClassifier) -> None:
    verdict = shipped.classify(text)
    assert verdict.category == "complaint" and verdict.confident


def test_an_invoice_for_the_wrong_sum_is_a_complaint(shipped: KeywordClassifier) -> None:
    mail = "Please note that the invoice for November shows the wrong amount. Kindly reissue it. Best regards, Tom"
    assert shipped.classify(mail).category == "complaint"


def test_what_the_agency_made_is_no_question_about_what_it_does(shipped: KeywordClassifier) -> None:
    # "你们做…" asks what the agency offers; "你们做的…" points at its work, often to complain about it.
    assert shipped.classify("你们做抖音推广吗").scores.get("inquiry", 0) > 0
    made = shipped.classify("这个是你们做的吧 logo都糊了")
    assert made.category == "complaint" and made.scores.get("inquiry", 0) == 0
