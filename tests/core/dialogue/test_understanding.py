"""The dialogue understands clients as they write: acts before details, details from every message."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from core.dialogue.actions import recognize, split_issues
from core.dialogue.acts import Act, ActLexicon, default_lexicon
from core.dialogue.classifier import KeywordClassifier, load_rules, normalize
from core.dialogue.forms import Forms
from core.dialogue.machine import step
from core.dialogue.model import (
    CONFIRM,
    EDIT,
    Deps,
    Event,
    EventKind,
    LeaveTicket,
    OpenTicket,
    Outcome,
    Say,
    Schedule,
    Snapshot,
    State,
    TicketNote,
    TicketView,
)
from core.dialogue.reading import extract_slots
from core.dialogue.textmodel import STARTER_MODEL, configured_model
from core.errors import ConfigError
from core.settings import PROJECT_ROOT, DialogueSettings
from core.texts import Texts

CONFIG = PROJECT_ROOT / "config"
TODAY = date(2026, 12, 2)  # a Wednesday

COMPLAINT_FILLED = {
    "description": "冬季大促的信息流广告从上周开始就不跑量了",
    "project": "冬季大促-信息流",
    "since": None,
    "expected": None,
    "phone": "13800138000",
}


@pytest.fixture(scope="module")
def deps() -> Deps:
    classifier = KeywordClassifier(load_rules(CONFIG / "keywords.yaml"))
    return Deps(
        classifier,
        Forms.load(CONFIG / "forms.yaml"),
        Texts.load(CONFIG),
        DialogueSettings(),
        lexicon=default_lexicon(),
        today=TODAY,
    )


def say(text: str, snapshot: Snapshot, deps: Deps) -> Outcome:
    return step(snapshot, Event(EventKind.MESSAGE, text=text), deps)


def keys(outcome: Outcome) -> list[str]:
    return [e.key for e in outcome.effects if isinstance(e, Say)]


def confirming(**context: Any) -> Snapshot:
    return Snapshot(State.CONFIRMING, "complaint", dict(COMPLAINT_FILLED), {"summary_shown": True, **context})


# ---------------------------------------------------------------- acts


@pytest.mark.parametrize(
    "text",
    ["确认", "确定", "对的", "没问题", "可以", "好的提交吧", "ok", "是", "嗯", "yes", "沒問題", "確認", "OK!", "👌"],
)
def test_affirmations_are_recognised_alone(text: str) -> None:
    acts = default_lexicon().recognize(text)
    assert Act.AFFIRM in acts and acts.pure


@pytest.mark.parametrize("text", ["不对", "不是", "不行", "no", "不對"])
def test_denials_win_over_the_affirmation_inside_them(text: str) -> None:
    acts = default_lexicon().recognize(text)
    assert Act.DENY in acts and Act.AFFIRM not in acts


@pytest.mark.parametrize(
    ("text", "act"),
    [
        ("我要跟你们经理说，别让我一遍遍填了", Act.HANDOFF),
        ("找个真人吧", Act.HANDOFF),
        ("我直接找你们老板", Act.HANDOFF),
        ("算了 不用了", Act.CANCEL),
        ("不用了，取消吧", Act.CANCEL),
        ("你是机器人还是真人啊？", Act.BOT_QUESTION),
        ("我的工单怎么样了", Act.STATUS),
        ("KF-20261129-0001 进度", Act.STATUS),
        ("到底有没有人在处理？？", Act.STATUS),
        ("多久能下线？？", Act.STATUS),
        ("在吗", Act.GREETING),
        ("嗯 没事了 谢谢", Act.THANKS),
        ("对了，发票能先开吗？", Act.QUESTION),
        ("电话就不留了，微信上联系我就行", Act.DECLINE_CONTACT),
        ("有真人吗？", Act.HANDOFF),
        ("不想跟机器人聊了", Act.HANDOFF),
        ("处理好了吗", Act.STATUS),
        ("先别提交", Act.DENY),
        ("都对，提交吧", Act.AFFIRM),
        ("looks good", Act.AFFIRM),
        ("哦没事 找到了 谢谢", Act.THANKS),
        ("我要找我们的客户经理", Act.HANDOFF),
        ("let me talk to someone", Act.HANDOFF),
        ("信息有误", Act.DENY),
        ("有个地方不对", Act.DENY),
        ("还有个事要投诉", Act.NEW_ISSUE),
        ("another question: can you send the invoice?", Act.NEW_ISSUE),
        ("补充一下 用户截图我等下发给你们", Act.ADDITION),
        ("还是那个问题，今天又被改了", Act.ADDITION),
        ("有没有人工啊", Act.HANDOFF),
        ("让我们客户经理小王直接联系我", Act.HANDOFF),
        ("can I just talk to a real person please", Act.HANDOFF),
        ("我想找一下负责我们项目的小王", Act.HANDOFF),
        ("找下对接我们的同事", Act.HANDOFF),
        ("人呢？？", Act.HANDOFF),
        # A person of the agency named and asked to get in touch.
        ("让小李联系我吧 她知道情况", Act.HANDOFF),
        ("叫王经理给我回个电话", Act.HANDOFF),
        ("請張總直接打給我", Act.HANDOFF),
        ("can I speak to a real person?", Act.HANDOFF),
        ("把我的问题转给销售", Act.HANDOFF),
        ("hello, is anyone there?", Act.GREETING),
        ("hi there", Act.GREETING),
        ("催一下 这个事有结果了吗", Act.STATUS),
        ("hello?? is anyone even looking at this", Act.STATUS),
        ("你们到底有没有在处理啊", Act.STATUS),
        ("hi, it's been two days, has anyone actually started on this?", Act.STATUS),
        ("are you working on it?", Act.STATUS),
        ("另外还有个事 周年庆直播的回放没有声音", Act.NEW_ISSUE),
        ("还有 下个月的排期表什么时候能给我们", Act.SIDE_MARKER),
        ("还有，报价单发我一份", Act.SIDE_MARKER),
    ],
)
def test_acts_of_real_messages(text: str, act: Act) -> None:
    assert act in default_lexicon().recognize(text)


def test_a_side_marker_said_alone_is_a_yes_only_where_configured() -> None:
    lexicon = default_lexicon()
    assert lexicon.recognize("对了").found == {Act.AFFIRM}
    # Followed by what it marks, it opens a side question.
    assert Act.SIDE_MARKER in lexicon.recognize("对了，发票能开吗").found
    assert Act.AFFIRM not in lexicon.recognize("对了，发票能开吗").found
    assert lexicon.recognize("另外").found == {Act.SIDE_MARKER}


@pytest.mark.parametrize(
    "text",
    [
        "人工智能广告怎么投放",
        "是从上周开始的",
        "现在还是不行",
        "你们客服说过会退款",
        "小李上次说周三能上线",
        "我们经理让我问一下合同的事",
        "让小李确认过的方案又改了",
        "客服，你好，发票怎么开",
        "电话联系我 13800138000",
        # a marker only where it opens the message, set apart
        "还有点问题没说清楚",
        "数据还有问题",
    ],
)
def test_words_inside_other_words_are_not_acts(text: str) -> None:
    acts = default_lexicon().recognize(text)
    assert not acts.found & {Act.HANDOFF, Act.AFFIRM, Act.GREETING}, acts


def test_a_claimed_category_beats_the_one_denied() -> None:
    acts = default_lexicon().recognize("我是投诉！！不是咨询！！")
    assert acts.claim == "complaint"
    assert default_lexicon().recognize("Not a complaint, just asking").claim == "inquiry"


@pytest.mark.parametrize(("text", "score"), [("挺满意的，5分", 5), ("1分，问题还在", 1), ("很不满意", 1), ("五星", 5)])
def test_scores_in_words(text: str, score: int) -> None:
    assert default_lexicon().recognize(text).score == score


def test_minutes_are_no_score() -> None:
    assert default_lexicon().recognize("等了5分钟了还没人回").score is None


# ---------------------------------------------------------------- confirming


@pytest.mark.parametrize(
    "text",
    [
        *["确认", "确定", "对的", "没问题", "可以", "好的提交吧", "ok", "是", "嗯", "yes", "沒問題", "对了", "對了！"],
        # a yes with thanks is still a yes
        *["好的谢谢", "好的，谢谢", "可以的谢谢", "ok thanks"],
    ],
)
def test_confirming_in_words_submits(text: str, deps: Deps) -> None:
    outcome = say(text, confirming(), deps)
    assert outcome.state is State.TICKET_OPEN, text
    assert any(isinstance(e, OpenTicket) for e in outcome.effects)


@pytest.mark.parametrize("text", ["不对", "不是", "不行"])
def test_denying_asks_what_to_change(text: str, deps: Deps) -> None:
    outcome = say(text, confirming(), deps)
    assert outcome.state is State.CONFIRMING and keys(outcome) == ["confirm.what_to_change"]


def test_what_the_client_says_after_being_asked_what_to_change_is_kept(deps: Deps) -> None:
    denied = say("不对", confirming(turn=4), deps)
    answered = say("而且找了对接的同事也一直没人回", after(denied, turn=5), deps)
    assert answered.state is State.CONFIRMING
    assert answered.slots["description"] == COMPLAINT_FILLED["description"] + "；而且找了对接的同事也一直没人回"
    assert keys(answered) == ["confirm.changed", "confirm.brief"]
    assert {k: v for k, v in answered.slots.items() if k != "description"} == {
        k: v for k, v in COMPLAINT_FILLED.items() if k != "description"
    }
    # Only the message right after the question: later, an unclear message changes nothing.
    later = say("嗯嗯嗯我再想想看哈哈", after(answered, turn=6), deps)
    assert later.slots == answered.slots and "confirm.changed" not in keys(later)
    stale = say("嗯嗯嗯我再想想看哈哈", after(denied, turn=6), deps)
    assert stale.slots == denied.slots and "confirm.changed" not in keys(stale)


def after(outcome: Outcome, *, turn: int) -> Snapshot:
    """The conversation after `outcome`, at the client's turn `turn` (the engine counts them)."""
    return Snapshot(outcome.state, outcome.category, dict(outcome.slots), {**outcome.context, "turn": turn})


def test_naming_the_wrong_detail_without_its_value_asks_for_it(deps: Deps) -> None:
    outcome = say("no, the project name is wrong", confirming(), deps)
    assert outcome.state is State.COLLECTING and outcome.context["asking"] == "project"
    assert "project" not in outcome.slots


def test_a_correction_in_words_changes_the_detail_at_once(deps: Deps) -> None:
    outcome = say("不对，电话写错了 应该是13922223334", confirming(), deps)
    assert outcome.state is State.CONFIRMING
    assert outcome.slots["phone"] == "13922223334"
    assert keys(outcome) == ["confirm.changed", "confirm.brief"]


def test_a_date_given_as_the_correction_changes_the_start_date(deps: Deps) -> None:
    outcome = say("写错了，应该是上周五开始的", confirming(), deps)
    assert outcome.state is State.CONFIRMING
    assert outcome.slots["since"] == "上周五开始的 (2026-11-27)"
    assert keys(outcome) == ["confirm.changed", "confirm.brief"]


@pytest.mark.parametrize(
    ("text", "slot", "value"),
    [
        # only the end of the number: it replaces the end of the number held
        ("电话错了 尾号是3321", "phone", "13800133321"),
        ("手机号后四位写错了，应该是 9921", "phone", "13800139921"),
        # the wrong words name the detail that holds them
        ("名字打错了应该是冬季大促不是冬季大促-信息流", "project", "冬季大促"),
        ("打错了，信息流不是信息留", "description", "冬季大促的信息流广告从上周开始就不跑量了"),
        # the new value after a colon
        ("改一下期望：全额退款", "expected", "全额退款"),
    ],
)
def test_a_correction_in_the_clients_own_words(text: str, slot: str, value: str, deps: Deps) -> None:
    outcome = say(text, confirming(), deps)
    assert outcome.state is State.CONFIRMING
    assert outcome.slots[slot] == value


def test_wrong_words_put_right_where_they_stand(deps: Deps) -> None:
    snapshot = replace(confirming(), slots={**COMPLAINT_FILLED, "project": "华美达酒店开业"})
    outcome = say("名字打错了应该是华美不是华美达", snapshot, deps)
    assert outcome.slots["project"] == "华美酒店开业"
    assert keys(outcome) == ["confirm.changed", "confirm.brief"]


def test_a_correction_that_adds_keeps_what_the_detail_held(deps: Deps) -> None:
    snapshot = replace(confirming(), slots={**COMPLAINT_FILLED, "expected": "马上删帖"})
    outcome = say("诉求那里再加一条：公开道歉", snapshot, deps)
    assert outcome.state is State.CONFIRMING
    assert outcome.slots["expected"] == "马上删帖；公开道歉"


@pytest.mark.parametrize("text", ["都不对", "都不對", "全错了", "描述不全", "信息不全", "no that's wrong"])
def test_all_of_it_called_wrong_keeps_the_draft_and_asks_what_to_change(text: str, deps: Deps) -> None:
    outcome = say(text, confirming(), deps)
    assert outcome.state is State.CONFIRMING and keys(outcome) == ["confirm.what_to_change"]
    assert outcome.slots == COMPLAINT_FILLED


@pytest.mark.parametrize("text", ["项目名称多了个字", "項目名稱少了一個字", "电话号码有误"])
def test_what_is_wrong_without_the_new_value_asks_for_it(text: str, deps: Deps) -> None:
    outcome = say(text, confirming(), deps)
    assert outcome.state is State.COLLECTING
    assert outcome.context["asking"] in {"project", "phone"}


def test_a_detail_named_alone_at_the_summary_is_asked_for(deps: Deps) -> None:
    outcome = say("电话", confirming(), deps)
    assert outcome.state is State.COLLECTING and outcome.context["asking"] == "phone"
    assert outcome.slots["description"] == COMPLAINT_FILLED["description"]


@pytest.mark.parametrize(
    ("asking", "text", "value"),
    [
        ("since", "上周五，不对，是上周四", "上周四"),
        ("project", "双11的那个，哦不对，是国庆的", "国庆的"),
        ("phone", "13500001121，不对，13500001122", "13500001122"),
    ],
)
def test_an_answer_corrected_as_it_is_given_keeps_it(asking: str, text: str, value: str, deps: Deps) -> None:
    slots = {k: v for k, v in COMPLAINT_FILLED.items() if k != asking}
    outcome = say(text, Snapshot(State.COLLECTING, "complaint", slots, {"asking": asking}), deps)
    assert outcome.slots[asking] == value


@pytest.mark.parametrize("text", ["稍等我看看", "我再想想", "我跟老板确认下", "let me check"])
def test_checking_the_summary_first_waits_for_it(text: str, deps: Deps) -> None:
    outcome = say(text, confirming(), deps)
    assert outcome.state is State.CONFIRMING and keys(outcome) == ["confirm.hold"]
    assert outcome.slots == COMPLAINT_FILLED


@pytest.mark.parametrize("text", ["写错了", "搞错了吧", "nah", "that's not right", "不要提交"])
def test_calling_the_summary_wrong_asks_what_to_change(text: str, deps: Deps) -> None:
    outcome = say(text, confirming(), deps)
    assert outcome.state is State.CONFIRMING and keys(outcome) == ["confirm.what_to_change"]


@pytest.mark.parametrize("text", ["nvm", "forget about it", "don't bother", "不搞了"])
def test_dropping_the_matter_cancels_the_form(text: str, deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "complaint", {"description": "信息流停了"}, {"asking": "project"})
    assert say(text, snap, deps).state is State.CLOSED
    assert say(text, confirming(), deps).state is State.CLOSED


def test_an_unclear_answer_at_the_confirmation_keeps_the_form_alive(deps: Deps) -> None:
    outcome = say("嗯嗯嗯我再想想看哈哈", confirming(), deps)
    assert outcome.state is State.CONFIRMING
    assert any(isinstance(e, Schedule) for e in outcome.effects), "a re-shown confirmation needs an idle timer"


# ---------------------------------------------------------------- details from every message


def test_first_message_with_every_detail_goes_straight_to_the_confirmation(deps: Deps) -> None:
    text = "投诉！「冬季大促-信息流」10月底开始跑的，现在完全不跑量，要补量或退款，电话13800138000"
    outcome = say(text, Snapshot(State.NEW), deps)
    assert outcome.category == "complaint"
    assert outcome.state is State.CONFIRMING, outcome.context
    assert outcome.slots["project"] == "冬季大促-信息流"
    assert outcome.slots["phone"] == "13800138000"
    assert "2026-10-31" in outcome.slots["since"]
    assert "退款" in outcome.slots["expected"]


def test_the_project_a_first_message_is_about_is_not_asked(deps: Deps) -> None:
    outcome = say("投诉 周年庆的预算上限是10万 你们投了13万 谁批准的？", Snapshot(State.NEW), deps)
    assert outcome.category == "complaint"
    assert outcome.slots["project"] == "周年庆"
    assert outcome.context.get("asking") != "project"


def test_a_guessed_project_never_replaces_the_project_given(deps: Deps) -> None:
    outcome = say("电话改成13922223334 春季招商的投放也是这样", confirming(), deps)
    assert outcome.slots["phone"] == "13922223334"
    assert outcome.slots["project"] == COMPLAINT_FILLED["project"]


def test_a_lone_topic_word_is_not_asked_again(deps: Deps) -> None:
    outcome = say("发票", Snapshot(State.CLASSIFYING, context={"issue_text": "咨询一下"}), deps)
    if outcome.category == "inquiry":
        assert outcome.slots.get("topic") == "发票与付款"
        assert outcome.context.get("asking") == "question"


def test_the_whole_question_given_for_the_topic_is_not_asked_for_again(deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "inquiry", {}, {"asking": "topic", "first_text": "想问下"})
    outcome = say("抖音开屏春节期间多少钱", snap, deps)
    assert outcome.slots["question"] == "抖音开屏春节期间多少钱"
    assert outcome.state is State.CONFIRMING


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("想了解一下你们小红书代运营的套餐", "报价与合同"),
        ("投放", "投放与效果"),
        ("专票的事", "发票与付款"),
        ("大概什么价位", "报价与合同"),
        # traditional characters read as simplified ones
        ("你們有做香港的戶外廣告嗎", "投放与效果"),
        ("發票什麼時候開", "发票与付款"),
    ],
)
def test_words_for_one_topic_answer_with_its_label(text: str, topic: str, deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "inquiry", {}, {"asking": "topic", "first_text": "咨询"})
    assert say(text, snap, deps).slots["topic"] == topic
    # Words of two topics ("抖音" and "多少钱") are the client's own.
    assert say("抖音广告一般多少钱", snap, deps).slots["topic"] == "抖音广告一般多少钱"


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("美妆类的，预算五万左右", "想问下小红书达人投放怎么收费 美妆类的，预算五万左右"),
        ("pricing, a budget of 50k for a beauty brand", "想问下小红书达人投放怎么收费 pricing, a budget"),
        # the topic's words, its label or small words besides say nothing more
        ("报价", "想问下小红书达人投放怎么收费"),
        ("关于价格方面的问题", "想问下小红书达人投放怎么收费"),
        ("报价与合同", "想问下小红书达人投放怎么收费"),
    ],
)
def test_more_of_the_question_told_with_its_topic_joins_the_question(text: str, question: str, deps: Deps) -> None:
    first = "想问下小红书达人投放怎么收费"
    snap = Snapshot(State.COLLECTING, "inquiry", {"question": first}, {"asking": "topic", "first_text": first})
    outcome = say(text, snap, deps)
    assert outcome.slots["topic"] == "报价与合同"
    if question == first:
        assert outcome.slots["question"] == first
    else:
        assert outcome.slots["question"].startswith(question)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("just a question, what are your fees for KOL campaigns", "inquiry"),
        ("I have a question about your KOL campaigns and the fees", "inquiry"),
        ("这是投诉，你们的海报", "complaint"),
    ],
)
def test_the_category_named_in_a_first_message_decides(text: str, category: str, deps: Deps) -> None:
    outcome = say(text, Snapshot(State.NEW), deps)
    assert outcome.category == category and outcome.context["classified"]["picked"] is True
    assert outcome.state in {State.COLLECTING, State.CONFIRMING}


def test_several_answers_in_one_message(deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "complaint", {"description": "信息流又停了好几天"}, {"asking": "project"})
    outcome = say("冬季大促，上周三开始的，电话 138-0013-8000", snap, deps)
    assert outcome.slots["project"]
    assert outcome.slots["phone"] == "13800138000"
    assert "2026-11-25" in outcome.slots["since"]
    assert outcome.context.get("asking") == "expected"


def text_of(outcome: Outcome, key: str, deps: Deps) -> str:
    said = next(e for e in outcome.effects if isinstance(e, Say) and e.key == key)
    return deps.texts.get(said.key, "zh", **said.params)


def test_a_date_given_for_the_project_fills_the_empty_start_date_and_the_project_is_asked_again(deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "complaint", {"description": "落地页打不开"}, {"asking": "project"})
    outcome = say("上周三", snap, deps)
    assert "project" not in outcome.slots
    assert outcome.slots["since"] == "上周三 (2026-11-25)"
    assert outcome.context["asking"] == "project"
    assert keys(outcome) == ["form.noted", "form.ask"]
    assert "开始时间" in text_of(outcome, "form.noted", deps)


def test_a_date_given_for_the_project_when_the_start_is_known_is_asked_about_once(deps: Deps) -> None:
    slots = {"description": "落地页打不开", "since": "上周 (2026-11-23)"}
    snap = Snapshot(State.COLLECTING, "complaint", slots, {"asking": "project"})
    outcome = say("上周三", snap, deps)
    assert "project" not in outcome.slots and outcome.slots["since"] == "上周 (2026-11-23)"
    assert outcome.context["asking"] == "project"
    assert keys(outcome) == ["form.other_kind", "form.ask"]
    assert text_of(outcome, "form.other_kind", deps) == "“上周三”看起来是时间，这里需要的是「涉及项目/活动」。"
    # Said again, it is what the client means.
    again = say("上周三", Snapshot(State.COLLECTING, "complaint", outcome.slots, outcome.context), deps)
    assert again.slots["project"] == "上周三" and again.context["asking"] == "expected"


@pytest.mark.parametrize(
    ("asked", "text"),
    [("project", "重新印刷并承担费用"), ("project", "要求全额退款"), ("since", "reprint them at your cost")],
)
def test_an_outcome_given_for_the_project_or_start_fills_the_outcome_and_the_detail_is_asked_again(
    asked: str, text: str, deps: Deps
) -> None:
    slots = {"description": "开业海报的logo颜色印错了"} | ({"project": "开业海报"} if asked == "since" else {})
    outcome = say(text, Snapshot(State.COLLECTING, "complaint", slots, {"asking": asked}), deps)
    assert outcome.slots["expected"] == text and asked not in outcome.slots
    assert outcome.context["asking"] == asked
    assert keys(outcome) == ["form.noted", "form.ask"]


@pytest.mark.parametrize("text", ["please send a corrected invoice", "重新开一张发票"])
def test_an_outcome_given_for_the_phone_fills_the_outcome_not_a_bad_number(text: str, deps: Deps) -> None:
    slots = {"description": "the invoice amount is wrong", "project": "October retainer", "since": "last week"}
    outcome = say(text, Snapshot(State.COLLECTING, "complaint", slots, {"asking": "phone"}), deps)
    assert outcome.slots["expected"] == text and "phone" not in outcome.slots
    assert keys(outcome) == ["form.noted", "form.ask"] and outcome.context["asking"] == "phone"


@pytest.mark.parametrize(
    "text", ["I want to complain about the invoice you sent, the amount is wrong", "I'd like to report a problem"]
)
def test_wanting_to_complain_in_english_is_no_outcome_wanted(text: str, deps: Deps) -> None:
    assert "expected" not in extract_slots("complaint", text, deps)


@pytest.mark.parametrize("text", ["要么换人要么退钱", "换人", "换个设计师"])
def test_other_staff_as_the_outcome_wanted_asks_for_no_person_here(text: str, deps: Deps) -> None:
    slots = {"description": "小王太不专业了 方案一拖再拖", "project": "年货节方案", "since": "这个月初"}
    outcome = say(text, Snapshot(State.COLLECTING, "complaint", slots, {"asking": "expected"}), deps)
    assert outcome.state is State.COLLECTING and outcome.slots["expected"] == text
    assert outcome.context["asking"] == "phone"
    # Asked anything else, "换人" still asks for a person.
    assert (
        say("换人", Snapshot(State.COLLECTING, "complaint", slots, {"asking": "phone"}), deps).state
        is State.HUMAN_QUEUE
    )


@pytest.mark.parametrize("text", ["重开", "补开一张"])
def test_reissuing_an_invoice_asked_for_the_project_is_the_outcome_wanted(text: str, deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "complaint", {"description": "发票抬头开错了"}, {"asking": "project"})
    outcome = say(text, snap, deps)
    assert outcome.slots.get("expected") == text and "project" not in outcome.slots


def test_a_date_inside_the_project_named_is_part_of_its_name(deps: Deps) -> None:
    asked = Snapshot(State.COLLECTING, "complaint", {"description": "发票抬头开错了"}, {"asking": "project"})
    named = say("去年的年框", asked, deps)
    assert named.slots["project"] == "去年的年框" and "since" not in named.slots
    # Said beside the project, the date is still when it began.
    beside = say("年框合同，上个月开始的", asked, deps)
    assert beside.slots.get("since", "").startswith("上个月")


@pytest.mark.parametrize("text", ["希望重新印", "要求重新投放一次"])
def test_an_outcome_wanted_again_is_no_correction_of_it(text: str, deps: Deps) -> None:
    slots = {"description": "开业海报的logo颜色印错了", "project": "开业海报", "expected": text}
    outcome = say(text, Snapshot(State.COLLECTING, "complaint", slots, {"asking": "since"}), deps)
    # Its 重新 is the outcome's own word: the outcome stays, and the start date is asked once more.
    assert outcome.slots["expected"] == text and outcome.context["asking"] == "since"
    assert keys(outcome) == ["form.other_kind", "form.ask"]


def test_an_outcome_given_for_the_project_when_one_is_known_is_asked_about_once(deps: Deps) -> None:
    slots = {"description": "开业海报的logo颜色印错了", "expected": "希望重新印"}
    snap = Snapshot(State.COLLECTING, "complaint", slots, {"asking": "project"})
    # Another outcome joins the one known, and the project is asked for again.
    joined = say("全额退款", snap, deps)
    assert joined.slots["expected"] == "希望重新印；全额退款" and "project" not in joined.slots
    assert keys(joined) == ["form.noted", "form.ask"] and joined.context["asking"] == "project"
    # The same outcome again adds nothing: asked about once, then taken as said.
    outcome = say("全额退款", Snapshot(State.COLLECTING, "complaint", joined.slots, joined.context), deps)
    assert outcome.slots["expected"] == "希望重新印；全额退款" and "project" not in outcome.slots
    assert (
        text_of(outcome, "form.other_kind", deps) == "“全额退款”看起来是期望的处理结果，这里需要的是「涉及项目/活动」。"
    )
    again = say("全额退款", Snapshot(State.COLLECTING, "complaint", outcome.slots, outcome.context), deps)
    assert again.slots["project"] == "全额退款"


# ---------------------------------------------------------------- the start date holds a time


def since_asked(**slots: Any) -> Snapshot:
    base = {"description": "冬季大促的信息流从上周开始就不跑量了", "project": "冬季大促"}
    return Snapshot(State.COLLECTING, "complaint", {**base, **slots}, {"asking": "since"})


@pytest.mark.parametrize(
    "text",
    ["上周三", "昨晚八点", "三天前", "月初", "一直这样", "好久了", "从上线开始", "a while ago"],
)
def test_an_answer_that_says_when_is_the_start_date(text: str, deps: Deps) -> None:
    outcome = say(text, since_asked(), deps)
    assert outcome.slots["since"].startswith(text) and outcome.context["asking"] == "expected"


@pytest.mark.parametrize("text", ["不记得了", "不清楚", "not sure"])
def test_not_knowing_when_leaves_the_start_date_out(text: str, deps: Deps) -> None:
    outcome = say(text, since_asked(), deps)
    assert outcome.slots["since"] is None and outcome.context["asking"] == "expected"
    assert outcome.slots["description"] == since_asked().slots["description"]


def test_a_project_named_for_the_start_date_replaces_a_project_only_guessed(deps: Deps) -> None:
    # "开业海报" was read from the description, never asked: the name the client gives is the project.
    snap = since_asked(description="开业海报印的颜色偏差太大", project="开业海报")
    outcome = say("春季新品传单", snap, deps)
    assert outcome.slots["project"] == "春季新品传单" and "since" not in outcome.slots
    assert keys(outcome) == ["form.noted", "form.ask"] and outcome.context["asking"] == "since"


def test_a_project_named_for_the_start_date_when_the_client_gave_one_is_asked_about_once(deps: Deps) -> None:
    outcome = say("春季新品传单", since_asked(), deps)
    assert outcome.slots["project"] == "冬季大促" and "since" not in outcome.slots
    assert text_of(outcome, "form.other_kind", deps) == "“春季新品传单”看起来是项目名称，这里需要的是「开始时间」。"
    # Said again, it is no start date all the same: kept with the issue, the start date left out.
    again = say("春季新品传单", Snapshot(State.COLLECTING, "complaint", outcome.slots, outcome.context), deps)
    assert again.slots["since"] is None and again.slots["project"] == "冬季大促"
    assert again.slots["description"].endswith(" 春季新品传单") and again.context["asking"] == "expected"


def test_more_of_the_issue_given_for_the_start_date_is_added_to_the_description(deps: Deps) -> None:
    outcome = say("传单上的电话也印错了", since_asked(), deps)
    assert outcome.slots["description"] == "冬季大促的信息流从上周开始就不跑量了 传单上的电话也印错了"
    assert "since" not in outcome.slots and outcome.context["asking"] == "since"
    assert keys(outcome) == ["form.added_to", "form.ask"]
    assert text_of(outcome, "form.added_to", deps) == "已补充到「问题描述」。"


def test_words_that_say_nothing_of_when_are_asked_about_once_then_kept_with_the_issue(deps: Deps) -> None:
    # (An insult there is venting: answered calmly, see test_venting.py.)
    outcome = say("这个要问我们老板，脑子里没印象", since_asked(), deps)
    assert "since" not in outcome.slots and outcome.slots["description"] == since_asked().slots["description"]
    assert keys(outcome) == ["form.not_a_time", "form.ask"] and outcome.context["asking"] == "since"
    # The hint does not quote what was said.
    assert "脑子" not in text_of(outcome, "form.not_a_time", deps)
    again = say("颜色全都偏红", Snapshot(State.COLLECTING, "complaint", outcome.slots, outcome.context), deps)
    assert again.slots["since"] is None and again.slots["description"].endswith(" 颜色全都偏红")
    assert keys(again) == ["form.added_to", "form.ask"] and again.context["asking"] == "expected"
    # A time after the hint is the answer.
    timed = say("上周三", Snapshot(State.COLLECTING, "complaint", outcome.slots, outcome.context), deps)
    assert timed.slots["since"] == "上周三" and timed.context["asking"] == "expected"


def test_words_of_the_issue_sent_right_after_it_while_the_start_date_is_asked_go_on_telling_it(deps: Deps) -> None:
    snap = told({"description": "你们做的海报", "project": "年货节"}, "since")
    outcome = quick("logo印错了", snap, deps, gap=3)
    assert outcome.slots["description"] == "你们做的海报 logo印错了" and "since" not in outcome.slots
    assert keys(outcome) == ["form.ask"]


@pytest.mark.parametrize("since", ["不记得了", "春季新品传单", None])
def test_a_past_date_given_for_the_outcome_fills_a_start_date_with_no_day_in_it(since: str | None, deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "complaint", dict(since_asked(since=since).slots), {"asking": "expected"})
    outcome = say("上周三发现的", snap, deps)
    assert outcome.slots["since"] == "上周三 (2026-11-25)" and "expected" not in outcome.slots
    assert keys(outcome) == ["form.noted", "form.ask"] and outcome.context["asking"] == "expected"


def test_a_past_date_given_for_the_outcome_when_the_start_is_known_is_asked_about_once(deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "complaint", dict(since_asked(since="三天前").slots), {"asking": "expected"})
    outcome = say("上周三发现的", snap, deps)
    assert outcome.slots["since"] == "三天前" and "expected" not in outcome.slots
    assert text_of(outcome, "form.other_kind", deps) == "“上周三发现的”看起来是时间，这里需要的是「期望结果」。"


def test_a_count_of_what_was_printed_is_no_project_and_each_answer_goes_to_its_detail(deps: Deps) -> None:
    outcome = say("投诉！你们设计师把我们logo颜色搞错了，印了五千张传单全废了", Snapshot(State.NEW), deps)
    assert "project" not in outcome.slots and outcome.context["asking"] == "project"
    for text, asked in (("春季新品传单", "since"), ("上周三发现的", "expected")):
        outcome = say(text, Snapshot(outcome.state, outcome.category, outcome.slots, outcome.context), deps)
        assert outcome.context["asking"] == asked
    assert outcome.slots["project"] == "春季新品传单" and outcome.slots["since"] == "上周三发现的 (2026-11-25)"
    assert "expected" not in outcome.slots


@pytest.mark.parametrize(("text", "project"), [("项目是双十一那个", "双十一"), ("活动叫春季焕新", "春季焕新")])
def test_the_project_named_as_such_while_another_detail_is_asked_is_the_project(
    text: str, project: str, deps: Deps
) -> None:
    # The project was answered before with what was no project; naming it as the project puts that right.
    slots = {"description": "返点一直没给", "project": "返点按合同给", "since": "上个月", "phone": "13566667777"}
    outcome = say(text, Snapshot(State.COLLECTING, "complaint", slots, {"asking": "expected"}), deps)
    assert outcome.slots["project"] == project and "expected" not in outcome.slots
    assert outcome.context["asking"] == "expected"
    assert keys(outcome) == ["form.noted", "form.ask"]


@pytest.mark.parametrize("text", ["项目是双十一，希望全额退款", "项目有问题"])
def test_more_than_the_project_named_answers_the_detail_asked(text: str, deps: Deps) -> None:
    slots = {"description": "返点一直没给", "project": "返点", "phone": "13566667777"}
    outcome = say(text, Snapshot(State.COLLECTING, "complaint", slots, {"asking": "expected"}), deps)
    assert outcome.slots["expected"]


@pytest.mark.parametrize(
    ("text", "label"), [("投放吧", "投放与效果"), ("发票的事", "发票与付款"), ("报价", "报价与合同")]
)
def test_words_pointing_to_one_choice_answer_with_its_label(text: str, label: str, deps: Deps) -> None:
    slots = {"question": "你们合作的KOL有没有母婴类的"}
    outcome = say(text, Snapshot(State.COLLECTING, "inquiry", slots, {"asking": "topic"}), deps)
    assert outcome.slots["topic"] == label


@pytest.mark.parametrize("text", ["开业海报那批", "春季招商活动", "就是那个落地页"])
def test_a_project_named_is_no_outcome(text: str, deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "complaint", {"description": "开业海报的logo颜色印错了"}, {"asking": "project"})
    outcome = say(text, snap, deps)
    assert outcome.slots["project"] and "expected" not in outcome.slots


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("你们做的海报logo颜色错了，周五之前必须改好", "周五之前必须改好"),
        ("The banner has the wrong opening hours, please fix it before Saturday", "please fix it before Saturday"),
    ],
)
def test_a_day_said_as_a_deadline_is_no_start_date(text: str, expected: str, deps: Deps) -> None:
    slots = extract_slots("complaint", text, deps)
    assert "since" not in slots
    assert slots["expected"] == expected


def test_a_day_before_which_things_went_well_is_still_a_start_date(deps: Deps) -> None:
    assert "since" in extract_slots("complaint", "上周五之前都正常，之后就没有曝光了", deps)


@pytest.mark.parametrize("text", ["138 1234 5678", "13812345678", "电话 138-1234-5678"])
def test_a_phone_number_given_for_the_outcome_is_the_phone_not_the_outcome(text: str, deps: Deps) -> None:
    slots = {k: v for k, v in COMPLAINT_FILLED.items() if k not in {"expected", "phone"}}
    outcome = say(text, Snapshot(State.COLLECTING, "complaint", slots, {"asking": "expected"}), deps)
    assert outcome.state is State.COLLECTING
    assert outcome.slots["phone"] == "13812345678" and "expected" not in outcome.slots
    assert outcome.context["asking"] == "expected"


@pytest.mark.parametrize(
    ("text", "contact"),
    [
        ("邮箱是 zhang.wei@acme.com 谢谢", "zhang.wei@acme.com"),
        ("发我邮箱吧 li@example.com", "li@example.com"),
        ("王经理 电话13811113333", "13811113333"),
        ("就这个微信", "就这个微信"),
    ],
)
def test_a_contact_answer_is_the_address_or_number_in_it(text: str, contact: str, deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "suggestion", {"proposal": "希望周报每周一早上发"}, {"asking": "contact"})
    assert say(text, snap, deps).slots["contact"] == contact


def test_an_email_given_for_the_suggestion_is_its_contact(deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "suggestion", {}, {"asking": "proposal"})
    outcome = say("li@example.com", snap, deps)
    assert outcome.slots == {"contact": "li@example.com"} and outcome.context["asking"] == "proposal"


@pytest.mark.parametrize("text", ["双十一大促", "618活动", "国庆推文", "双十一"])
def test_a_project_named_for_a_date_is_the_project(text: str, deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "complaint", {"description": "落地页打不开"}, {"asking": "project"})
    assert say(text, snap, deps).slots["project"] == text


@pytest.mark.parametrize("text", ["下周一前给答复", "下周一", "今天"])
def test_an_outcome_by_a_day_is_the_outcome(text: str, deps: Deps) -> None:
    slots = {k: v for k, v in COMPLAINT_FILLED.items() if k != "expected"}
    outcome = say(text, Snapshot(State.COLLECTING, "complaint", slots, {"asking": "expected"}), deps)
    assert outcome.slots["expected"] == text and outcome.state is State.CONFIRMING


def test_a_day_ahead_is_no_start_date(deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "complaint", {"description": "落地页打不开"}, {"asking": "project"})
    assert "since" not in say("春季招商，下周一前给答复", snap, deps).slots
    assert say("下周一前给答复", confirming(), deps).slots["since"] is None


def test_a_description_with_a_phone_number_in_it_is_the_description(deps: Deps) -> None:
    outcome = say(
        "你们客服电话 13812345678 一直打不通", Snapshot(State.COLLECTING, "other", {}, {"asking": "description"}), deps
    )
    assert outcome.slots["description"] == "你们客服电话 13812345678 一直打不通"
    assert outcome.slots["contact"] == "13812345678"


@pytest.mark.parametrize(
    ("text", "asked", "label"), [("对的", "project", "涉及项目/活动"), ("yes", "since", "开始时间")]
)
def test_a_bare_yes_to_an_open_question_is_asked_again_naming_the_detail(
    text: str, asked: str, label: str, deps: Deps
) -> None:
    slots = (
        {"description": "落地页打不开", "project": "春季招商"} if asked == "since" else {"description": "落地页打不开"}
    )
    outcome = say(text, Snapshot(State.COLLECTING, "complaint", slots, {"asking": asked}), deps)
    assert outcome.slots == slots and outcome.context["asking"] == asked
    assert keys(outcome) == ["form.not_an_answer", "form.ask"]
    assert f"「{label}」" in text_of(outcome, "form.not_an_answer", deps)


@pytest.mark.parametrize(
    ("text", "project"),
    [
        ("是春季招聘", "春季招聘"),
        ("应该是 双十一大促", "双十一大促"),
        ("it's Spring Launch", "Spring Launch"),
        # the detail's own word with the copula or a colon
        ("项目是年货节", "年货节"),
        ("项目叫春节拜年视频", "春节拜年视频"),
        ("活动名称：618大促", "618大促"),
        ("Project: Spring Launch", "Spring Launch"),
        # a field word that opens a name is part of it
        ("活动页面改版", "活动页面改版"),
    ],
)
def test_the_copula_before_an_answer_is_not_part_of_the_detail(text: str, project: str, deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "complaint", {"description": "招聘广告投到外省去了"}, {"asking": "project"})
    assert say(text, snap, deps).slots["project"] == project


def test_the_copula_before_a_date_answer_is_dropped_and_the_day_kept(deps: Deps) -> None:
    snap = Snapshot(
        State.COLLECTING, "complaint", {"description": "信息流停了", "project": "冬季大促"}, {"asking": "since"}
    )
    assert say("是上周三开始的", snap, deps).slots["since"] == "上周三开始的 (2026-11-25)"


@pytest.mark.parametrize("text", ["13912345678 上面也有", "王女士 13811113333", "+86 139 1234 5678"])
def test_the_phone_is_taken_from_anywhere_in_the_answer(text: str, deps: Deps) -> None:
    slots = {k: v for k, v in COMPLAINT_FILLED.items() if k != "phone"}
    outcome = say(text, Snapshot(State.COLLECTING, "complaint", slots, {"asking": "phone"}), deps)
    assert outcome.state is State.CONFIRMING
    assert outcome.slots["phone"].startswith("13")


@pytest.mark.parametrize(
    "text", ["you can call me at +86 138 1234 5678", "有事打我电话13812345678", "call me 13812345678"]
)
def test_a_call_asked_for_at_a_number_gives_the_number(text: str, deps: Deps) -> None:
    slots = {k: v for k, v in COMPLAINT_FILLED.items() if k != "phone"}
    outcome = say(text, Snapshot(State.COLLECTING, "complaint", slots, {"asking": "phone"}), deps)
    assert outcome.state is State.CONFIRMING and outcome.slots["phone"] == "13812345678"


@pytest.mark.parametrize("text", ["打电话给我", "直接打给我吧", "call me"])
def test_a_call_asked_for_without_a_number_asks_for_a_person(text: str, deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "complaint", {"description": "信息流停了"}, {"asking": "project"})
    assert say(text, snap, deps).state is State.HUMAN_QUEUE


def test_declining_the_phone_uses_the_clients_channel(deps: Deps) -> None:
    slots = {k: v for k, v in COMPLAINT_FILLED.items() if k != "phone"}
    snap = Snapshot(State.COLLECTING, "complaint", slots, {"asking": "phone"}, channel="wechat")
    outcome = say("电话就不留了，微信上联系我就行", snap, deps)
    assert outcome.state is State.CONFIRMING
    assert "微信" in outcome.slots["phone"]


# ---------------------------------------------------------------- requests before details


def test_requests_are_not_stored_as_details(deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "complaint", {"description": "信息流停了"}, {"asking": "project"})
    assert say("我要跟你们经理说，别让我一遍遍填了", snap, deps).state is State.HUMAN_QUEUE
    outcome = say("你是机器人还是真人啊？", snap, deps)
    assert "project" not in outcome.slots and keys(outcome)[0] == "chat.bot_identity"
    assert say("算了 不用了", snap, deps).state is State.CLOSED


@pytest.mark.parametrize(
    "text", ["不用了", "不要", "no", "No.", "不用了。", "没有，谢谢", "不用留了", "nope, thanks", "不用 你们自己看着办"]
)
def test_a_no_to_a_detail_that_may_be_left_out_leaves_it_out_and_cancels_nothing(text: str, deps: Deps) -> None:
    slots = {"proposal": "周报能不能改成周一早上发"}
    outcome = say(text, Snapshot(State.COLLECTING, "suggestion", slots, {"asking": "contact"}), deps)
    assert outcome.state is State.CONFIRMING
    assert outcome.slots["proposal"] == "周报能不能改成周一早上发" and outcome.slots.get("contact") is None


@pytest.mark.parametrize(
    "text",
    [
        "就这些",
        "没有了",
        "不记得了",
        "不清楚",
        "直接提交吧",
        "that's all",
        "not sure",
        "暂时想不到",
        "你们定",
        "up to you",
    ],
)
def test_nothing_more_or_not_known_leaves_an_optional_detail_out(text: str, deps: Deps) -> None:
    slots = {"description": "双十一开屏广告没上线", "project": "双十一开屏", "since": None}
    outcome = say(text, Snapshot(State.COLLECTING, "complaint", slots, {"asking": "expected"}), deps)
    assert outcome.state is State.COLLECTING and outcome.context["asking"] == "phone"
    assert outcome.slots["expected"] is None
    # Where the detail is needed, the same words are no answer: the phone is asked again.
    again = say(text, Snapshot(State.COLLECTING, "complaint", outcome.slots, {"asking": "phone"}), deps)
    assert again.context["asking"] == "phone" and "phone" not in again.slots


@pytest.mark.parametrize(
    "text",
    [
        "这个不重要",
        "无所谓",
        "忘了",
        "不知道啊你们查",
        "我怎么知道 你们自己查啊",
        "不清楚，你们看后台吧",
        "dunno",
        "no idea, you check",
        "说不上来",
        "不太清楚欸",
        "不太記得欸",
        "这个我也不知道",
        "看你们",
        "随便写",
        "木有",
        "n/a",
    ],
)
def test_an_optional_detail_declined_in_other_words_is_left_out_and_adds_nothing(text: str, deps: Deps) -> None:
    outcome = say(text, since_asked(), deps)
    assert outcome.slots["since"] is None and outcome.context["asking"] == "expected"
    assert outcome.slots["description"] == since_asked().slots["description"]


@pytest.mark.parametrize("text", ["不是这周", "没有效果", "都可以，越快越好", "不知道为什么一直在掉量"])
def test_a_no_word_beside_words_that_tell_something_declines_nothing(text: str) -> None:
    assert not default_lexicon().declines(text)


@pytest.mark.parametrize("text", ["不用了", "算了 不用了", "取消"])
def test_a_no_to_a_detail_that_is_needed_still_drops_the_issue(text: str, deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "complaint", {"description": "信息流停了"}, {"asking": "project"})
    assert say(text, snap, deps).state is State.CLOSED


def test_a_yes_or_no_phrase_left_unquoted_in_the_acts_file_is_refused() -> None:
    with pytest.raises(ConfigError, match="quote"):
        ActLexicon({"skip_when_optional": [False, "不用了"]})


def test_an_objection_changes_the_category(deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "inquiry", {}, {"asking": "topic", "first_text": "你们的信息流广告一直不跑"})
    outcome = say("我是投诉！！不是咨询！！", snap, deps)
    assert outcome.category == "complaint"
    assert outcome.slots["description"] == "你们的信息流广告一直不跑"


def test_an_objection_at_the_summary_shows_the_new_form_whole(deps: Deps) -> None:
    context = {"first_text": "请问你们能做小红书达人投放吗", "summary_shown": True}
    snap = Snapshot(
        State.CONFIRMING, "inquiry", {"topic": "投放与效果", "question": "请问你们能做小红书达人投放吗"}, context
    )
    outcome = say("不是咨询，我是要投诉你们上次找的达人", snap, deps)
    assert outcome.category == "complaint" and "summary_shown" not in outcome.context
    # A first answer to the new form is an answer, not an update.
    outcome = say("春季新品", Snapshot(outcome.state, "complaint", outcome.slots, outcome.context), deps)
    assert "confirm.changed" not in keys(outcome)


# ---------------------------------------------------------------- the category the first description tells

FILED_AS_OTHER = {"category": "other", "confidence": 0.95, "confident": True, "matched": [], "picked": False}


def test_the_first_description_moves_an_issue_filed_by_the_bot_to_its_category(deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "other", {}, {"asking": "description", "classified": FILED_AS_OTHER})
    outcome = say("这个海报上的电话印错了", snap, deps)
    assert outcome.category == "complaint" and outcome.state is State.COLLECTING
    assert outcome.slots["description"] == "这个海报上的电话印错了"
    assert keys(outcome) == ["classify.described", "form.ask"] and outcome.context["asking"] == "project"
    assert text_of(outcome, "classify.described", deps) == "根据您的描述，已改为【投诉】。"
    classified = outcome.context["classified"]
    assert classified["category"] == "complaint" and classified["confident"] and not classified["picked"]
    # Once: a later answer of the new form is read as an answer.
    snap = Snapshot(outcome.state, outcome.category, dict(outcome.slots), dict(outcome.context))
    later = say("冬季大促-信息流 发票什么时候能开", snap, deps)
    assert later.category == "complaint" and later.context["asking"] == "since"


def test_a_description_given_for_the_topic_moves_the_issue_with_the_details_it_carries(deps: Deps) -> None:
    opened = say("发票", Snapshot(State.NEW), deps)
    assert opened.category == "inquiry" and opened.context["asking"] == "question"
    text = "你们发票开错了三次了，太不负责了，电话13812345678"
    outcome = say(text, after(opened, turn=2), deps)
    assert outcome.category == "complaint"
    assert outcome.slots == {"description": text, "phone": "13812345678"}
    assert outcome.context["asking"] == "project"


def test_a_description_that_completes_the_new_form_goes_to_the_confirmation(deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "other", {}, {"asking": "description", "classified": FILED_AS_OTHER})
    outcome = say("「冬季大促-信息流」10月底起完全不跑量，太差了，要补量，电话13800138000", snap, deps)
    assert outcome.category == "complaint" and outcome.state is State.CONFIRMING
    assert keys(outcome)[0] == "classify.described"


@pytest.mark.parametrize(
    "context",
    [
        # the client picked the category (a button, a number)
        {"classified": {**FILED_AS_OTHER, "picked": True}},
        # the client named it in words, or a forced rule decided it
        {"classified": {**FILED_AS_OTHER, "settled": True}},
        # the issue moved once already
        {"classified": {**FILED_AS_OTHER, "described": True}},
        # the summary was shown: the description is being corrected, not told
        {"classified": FILED_AS_OTHER, "summary_shown": True},
    ],
)
def test_a_category_the_client_chose_stays_whatever_the_description(context: dict[str, Any], deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "other", {}, {"asking": "description", **context})
    outcome = say("这个海报上的电话印错了", snap, deps)
    assert outcome.category == "other" and outcome.slots["description"] == "这个海报上的电话印错了"
    assert "classify.described" not in keys(outcome)


@pytest.mark.parametrize("opening", ["我要咨询", "咨询", "I have a question"])
def test_a_category_named_in_the_first_message_is_not_moved(opening: str, deps: Deps) -> None:
    opened = say(opening, Snapshot(State.NEW), deps)
    assert opened.category == "inquiry" and opened.context["classified"]["settled"]
    outcome = say("海报上的电话印错了，太不负责了", after(opened, turn=2), deps)
    assert outcome.category == "inquiry" and "classify.described" not in keys(outcome)


@pytest.mark.parametrize("text", ["春季招聘 发票什么时候能开", "我是李总的助理，有事找你们"])
def test_a_description_of_the_same_category_or_of_none_for_sure_is_an_answer(text: str, deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "other", {}, {"asking": "description", "classified": FILED_AS_OTHER})
    outcome = say(text, snap, deps)
    assert outcome.category == "other" and outcome.slots["description"] == text
    assert keys(outcome) == ["form.ask"]


@pytest.mark.parametrize("opening", ["[图片]", "[表情]", "👍👍", "。。。"])
def test_a_message_without_words_is_greeted_and_told_nothing_of_the_issue(opening: str, deps: Deps) -> None:
    model = configured_model(CONFIG, STARTER_MODEL)
    learned = replace(deps, classifier=KeywordClassifier(load_rules(CONFIG / "keywords.yaml"), model=model))
    greeted = say(opening, Snapshot(State.NEW), learned)
    assert greeted.state is State.GREETED and greeted.category is None
    assert keys(greeted) == ["greeting.welcome"]
    outcome = say("你们发票怎么开", after(greeted, turn=2), learned)
    assert outcome.category == "inquiry"
    assert outcome.context["first_text"] == "你们发票怎么开"


def test_a_side_question_is_filed_and_the_form_goes_on(deps: Deps) -> None:
    slots = {k: v for k, v in COMPLAINT_FILLED.items() if k != "phone"}
    outcome = say("对了，发票能先开吗？", Snapshot(State.COLLECTING, "complaint", slots, {"asking": "phone"}), deps)
    assert outcome.context["side_questions"] == ["对了，发票能先开吗？"]
    assert outcome.context["asking"] == "phone"
    assert keys(outcome) == ["form.side_noted", "form.ask"]


@pytest.mark.parametrize(
    ("text", "asking"),
    [
        ("对了发票开了没", "project"),
        ("另外想知道报价单什么时候发", "expected"),
        ("诶对了 尾款啥时候要付啊", "phone"),
        ("對了 合同蓋章那份寄出了沒", "since"),
        ("btw when will the media plan be ready", "expected"),
    ],
)
def test_a_side_question_without_a_question_mark_is_filed_not_taken_as_the_answer(
    text: str, asking: str, deps: Deps
) -> None:
    slots = {k: v for k, v in COMPLAINT_FILLED.items() if k not in ("project", "since", "expected", "phone")}
    slots |= {"project": "年货节落地页"} if asking != "project" else {}
    outcome = say(text, Snapshot(State.COLLECTING, "complaint", slots, {"asking": asking}), deps)
    assert outcome.context["side_questions"] == [text]
    assert outcome.context["asking"] == asking
    assert text not in outcome.slots.values() and outcome.slots["description"] == slots["description"]


def test_a_side_marker_before_an_answer_that_asks_nothing_answers() -> None:
    assert Act.QUESTION not in default_lexicon().recognize("对了，项目是双十一").found


@pytest.mark.parametrize("state", [State.NEW, State.COLLECTING, State.CONFIRMING, State.TICKET_OPEN])
@pytest.mark.parametrize("text", ["找个真人吧", "我要跟你们经理说", "我直接找你们老板", "有没有人工啊"])
def test_asking_for_a_person_works_from_any_state(state: State, text: str, deps: Deps) -> None:
    snap = Snapshot(state, "complaint" if state is not State.NEW else None, dict(COMPLAINT_FILLED), {"asking": "since"})
    assert say(text, snap, deps).state is State.HUMAN_QUEUE


def test_the_client_is_offered_a_person_after_repeated_bad_answers(deps: Deps) -> None:
    slots = {k: v for k, v in COMPLAINT_FILLED.items() if k != "phone"}
    snap = Snapshot(State.COLLECTING, "complaint", slots, {"asking": "phone", "reasks": 1})
    outcome = say("12345", snap, deps)
    # The phone is required: only a person is offered, not "跳过", which would be refused again.
    assert "form.offer_person_required" in keys(outcome) and "form.offer_person" not in keys(outcome)


def test_skip_is_offered_for_an_optional_detail_only(deps: Deps) -> None:
    slots = {k: v for k, v in COMPLAINT_FILLED.items() if k not in {"project", "since"}}
    snap = Snapshot(State.COLLECTING, "complaint", slots, {"asking": "project", "reasks": 1})
    assert "form.offer_person_required" in keys(say("跳过", snap, deps))
    snap = Snapshot(State.COLLECTING, "complaint", slots | {"project": "双十一"}, {"asking": "since", "reasks": 1})
    assert "form.offer_person" in keys(say("嗯", snap, deps))


# ---------------------------------------------------------------- greetings, thanks, status


def test_a_greeting_opens_no_form_and_the_next_message_is_read_fresh(deps: Deps) -> None:
    greeted = say("在吗", Snapshot(State.NEW), deps)
    assert greeted.state is State.GREETED and "first_text" not in greeted.context
    snap = Snapshot(greeted.state, greeted.category, greeted.slots, greeted.context)
    outcome = say("你们投放的信息流广告效果太差了，我要投诉", snap, deps)
    assert outcome.category == "complaint"


def test_thanks_end_quietly(deps: Deps) -> None:
    outcome = say("嗯 没事了 谢谢", Snapshot(State.GREETED, context={"turn": 2}), deps)
    assert outcome.state is State.CLOSED
    assert not any(isinstance(e, Schedule) for e in outcome.effects)


def test_fragments_add_up_before_classifying(deps: Deps) -> None:
    first = say("你们那个信息流", Snapshot(State.NEW), deps)
    snap = Snapshot(first.state, first.category, first.slots, first.context)
    outcome = say("又停了！！！太差了", snap, deps)
    assert outcome.category == "complaint"
    assert "你们那个信息流" in outcome.context["first_text"]


@pytest.mark.parametrize(
    "text",
    [
        "我的工单怎么样了",
        "KF-20261129-0001 进度",
        "到底有没有人在处理？？",
        "多久能下线？？",
        "催一下 这个事有结果了吗",
        "hello?? is anyone even looking at this",
        "工单号是多少",
        "我的单号多少来着",
        "what's my ticket number?",
        "有下文吗",
        "跟进到哪了",
        "怎么一直没人回我",
        "is someone handling this?",
        "where are we on this?",
    ],
)
def test_status_questions_get_the_status(text: str, deps: Deps) -> None:
    view = TicketView("KF-20261129-0001", "complaint", "investigating", "李娜", "12-03 18:00")
    outcome = say(text, Snapshot(State.TICKET_OPEN, has_ticket=True, ticket=view), deps)
    said = [e for e in outcome.effects if isinstance(e, Say)]
    assert [s.key for s in said] == ["progress.report"]
    assert said[0].params["ticket_no"] == "KF-20261129-0001"
    assert "李娜" in said[0].params["holder"] and "12-03 18:00" in said[0].params["deadline"]


# ---------------------------------------------------------------- a ticket asked about that is not known


@pytest.mark.parametrize(
    "text",
    [
        "你好，之前提交的工单有进展了吗",
        "any update on my ticket?",
        "我上周反馈的问题处理得怎么样了",
        "我的投诉有结果了吗",
        # the earlier matter named in the client's own words
        "我那个投诉处理到哪一步了 都一个礼拜了",
        "上次说的那个事怎么样了",
        # nothing but asking: it can only be about something told before
        "还没人联系我啊 你们到底有没有在处理",
        "你们处理了没有",
        "any updates?",
        "what's happening with my complaint?",
        "我们上次反馈的问题现在什么情况",
        "上次那个怎么样了",
    ],
)
@pytest.mark.parametrize("state", [State.NEW, State.GREETED, State.CLOSED])
def test_a_status_question_with_no_ticket_found_asks_for_its_number_not_a_category(
    text: str, state: State, deps: Deps
) -> None:
    outcome = say(text, Snapshot(state, context={"turn": 1}), deps)
    assert keys(outcome) == ["progress.none_found"]
    assert outcome.state is state and outcome.category is None and not outcome.slots


@pytest.mark.parametrize(
    "text",
    [
        *["下个月的排期表什么时候能给？", "投放数据什么时候能出来", "广告停了三天了 还没人处理", "要多久能处理好"],
        # "上次那个" before the matter it names: a campaign's deliverable, nothing filed
        "老师好～请问上次那个直播的数据报告什么时候能发过来呀",
    ],
)
def test_a_status_phrase_about_a_matter_not_filed_is_still_an_issue(text: str, deps: Deps) -> None:
    outcome = say(text, Snapshot(State.NEW, context={"turn": 1}), deps)
    assert not [k for k in keys(outcome) if k.startswith("progress.")]


def _looked(deps: Deps, *, phone: str | None = None) -> Snapshot:
    """The conversation after a status question found no ticket: the client's next turn."""
    asked = say("你好，之前提交的工单有进展了吗", Snapshot(State.NEW, context={"turn": 1}, client_phone=phone), deps)
    return replace(after(asked, turn=2), client_phone=phone)


def test_the_number_sent_next_is_looked_up_and_its_status_told(deps: Deps) -> None:
    snap = _looked(deps)
    assert Act.STATUS in recognize("KF-20261129-0001", snap, deps)
    found = say("KF-20261129-0001", replace(snap, ticket=EARLIER), deps)
    assert keys(found) == ["progress.report"] and found.state is State.NEW
    # Not the client's (or no such ticket): the same answer either way, naming only the number he sent.
    missing = say("kf 20261129 0002", snap, deps)
    assert keys(missing) == ["progress.number_not_found"]
    assert [e.params for e in missing.effects if isinstance(e, Say)] == [{"ticket_no": "KF-20261129-0002"}]


def test_a_status_told_after_a_greeting_alone_adds_no_category_menu(deps: Deps) -> None:
    greeted = say("你好", Snapshot(State.NEW, context={"turn": 1}), deps)
    told = say("之前提交的工单有进展了吗", replace(after(greeted, turn=2), ticket=EARLIER), deps)
    assert keys(told) == ["progress.report"] and told.state is State.GREETED
    # With an issue being told, the category is asked again after the status.
    asked = say("你们的海报", Snapshot(State.NEW, context={"turn": 1}), deps)
    told = say("对了之前那个工单怎么样了", replace(after(asked, turn=2), ticket=EARLIER), deps)
    assert keys(told) == ["progress.report", "classify.ask"]


def test_a_ticket_number_said_alone_asks_about_it(deps: Deps) -> None:
    for text in ("KF-20261129-0001", "工单号：KF-20261129-0001", "my ticket is kf-20261129-0001"):
        assert Act.STATUS in recognize(text, Snapshot(State.NEW), deps), text
    assert Act.STATUS not in recognize("KF-20261129-0001 的海报还是印错了", Snapshot(State.NEW), deps)
    assert keys(say("KF-20261129-0001", Snapshot(State.NEW, ticket=EARLIER), deps)) == ["progress.report"]


def test_a_phone_sent_next_looks_up_only_the_clients_own_number(deps: Deps) -> None:
    # Another number than the one on the client's record (or none on record) reveals nothing: anyone can type it.
    assert keys(say("13812345678", _looked(deps), deps)) == ["progress.phone_unverified"]
    assert keys(say("手机 13812345678", _looked(deps, phone="13900001111"), deps)) == ["progress.phone_unverified"]
    assert keys(say("是用13812345678这个号提交的", _looked(deps), deps)) == ["progress.phone_unverified"]
    # His own number was looked up already with his record: nothing under it either.
    assert keys(say("138 1234 5678", _looked(deps, phone="13812345678"), deps)) == ["progress.none_for_phone"]
    # A phone beside an issue is the issue's contact.
    issue = say("投放数据不对，电话13812345678", _looked(deps), deps)
    assert not [k for k in keys(issue) if k.startswith("progress.")]
    # A phone in a message that is no answer to the lookup is no lookup.
    assert Act.STATUS not in recognize("13812345678", Snapshot(State.NEW, context={"turn": 1}), deps)


def test_an_issue_described_after_the_lookup_is_taken_in(deps: Deps) -> None:
    text = "我要投诉，你们做的海报logo印错了"
    outcome = say(text, _looked(deps), deps)
    fresh = say(text, Snapshot(State.NEW, context={"turn": 2}), deps)
    assert (outcome.state, outcome.category, outcome.slots) == (fresh.state, fresh.category, fresh.slots)
    assert outcome.category == "complaint" and keys(outcome) == keys(fresh)


def test_asking_again_with_nothing_new_offers_a_person_and_a_person_gets_what_was_said(deps: Deps) -> None:
    again = say("那我之前提交的工单到底怎么样了", _looked(deps), deps)
    assert keys(again) == ["progress.still_none"]
    handed = say("人工", after(again, turn=3), deps)
    opened = [e for e in handed.effects if isinstance(e, OpenTicket)]
    assert handed.state is State.HUMAN_QUEUE and opened and opened[0].handoff
    assert "之前提交的工单" in str(opened[0].details)


def test_a_claim_while_waiting_upgrades_the_ticket(deps: Deps) -> None:
    view = TicketView("KF-20261129-0001", "other", "classified")
    outcome = say("我要投诉你们的投放", Snapshot(State.HUMAN_QUEUE, has_ticket=True, ticket=view), deps)
    notes = [e for e in outcome.effects if isinstance(e, TicketNote)]
    assert any(n.kind == "client_reclassified" and n.data["category"] == "complaint" for n in notes)


def test_every_message_while_waiting_is_acknowledged(deps: Deps) -> None:
    snap = Snapshot(State.HUMAN_QUEUE, has_ticket=True, context={"turn": 5, "queue_ack_turn": 4})
    assert keys(say("还要等多久啊这个", snap, deps)) or keys(say("喂喂", snap, deps))
    assert keys(say("好吧那我等一下", snap, deps)) == ["handoff.noted"]


# ---------------------------------------------------------------- feedback


def test_a_score_in_words_is_the_rating(deps: Deps) -> None:
    outcome = say("挺满意的，5分", Snapshot(State.AWAITING_FEEDBACK, has_ticket=True), deps)
    assert outcome.state is State.FEEDBACK_COMMENT
    assert TicketNote("feedback", {"rating": 5}) in outcome.effects


def test_a_low_score_with_words_reopens_and_keeps_the_score(deps: Deps) -> None:
    outcome = say("1分，问题还在", Snapshot(State.AWAITING_FEEDBACK, has_ticket=True), deps)
    assert outcome.state is State.TICKET_OPEN
    assert TicketNote("feedback", {"rating": 1}) in outcome.effects
    assert any(isinstance(e, TicketNote) and e.kind == "feedback_comment" for e in outcome.effects)


# ---------------------------------------------------------------- another issue after a ticket

FILED = {"description": "暑期档排期被你们擅自改了", "project": "暑期档", "phone": "13800138000"}


def _after_complaint(deps: Deps, text: str, state: State = State.TICKET_OPEN) -> tuple[State, bool]:
    outcome = say(text, Snapshot(state, "complaint", dict(FILED), {}, has_ticket=True), deps)
    return outcome.state, any(isinstance(e, LeaveTicket) for e in outcome.effects)


@pytest.mark.parametrize(
    "text",
    [
        "另外想问一下 上季度的发票能一起开吗",
        "还有个事要投诉 元宵节的广告用错了图片",
        "对了，你们的报价单能发我一份吗？",
        "另外suggest一下 能不能搞个dashboard让我们实时看数据",
        "请问你们能做小红书的投放吗，多少钱",
        "双十一活动的素材也被你们拒了，太离谱了",
        # a question of its own after a marker, though worded like a status question
        "还有 下个月的排期表什么时候能给我们",
    ],
)
def test_another_issue_leaves_the_ticket_and_starts_a_form(deps: Deps, text: str) -> None:
    state, left = _after_complaint(deps, text)
    assert left, text
    assert state in {State.COLLECTING, State.CONFIRMING, State.CLASSIFYING}, text


@pytest.mark.parametrize(
    "text",
    [
        "补充一下 用户截图我等下发给你们",
        "还是那个问题，今天又被改了",
        "数据还是不对 今天又少了一半",
        "我的工单怎么样了",
        "好的 谢谢",
        "对了 截图发你们了",
        "太慢了",
        # a question only of how the ticket is handled, however sure the classifier is of an inquiry
        "怎么这么久才处理？",
        # a status question after a marker that points back at what was filed
        "还有 我那个工单什么时候能处理好",
    ],
)
def test_more_about_the_filed_issue_stays_with_its_ticket(deps: Deps, text: str) -> None:
    state, left = _after_complaint(deps, text)
    assert not left, text
    assert state is State.TICKET_OPEN, text


def test_another_issue_after_the_resolution_starts_a_form_instead_of_a_note(deps: Deps) -> None:
    for state in (State.RESOLVED, State.AWAITING_FEEDBACK):
        assert _after_complaint(deps, "还有个问题 发票怎么开？", state) == (State.CONFIRMING, True)
        assert _after_complaint(deps, "还有个问题 想了解一下", state) == (State.COLLECTING, True)


@pytest.mark.parametrize(
    ("text", "first", "rest"),
    [
        ("投放数据一直不对，另外发票什么时候能开？", "投放数据一直不对", "另外发票什么时候能开？"),
        ("你们的素材审核太慢了 还有个事 想问下报价", "你们的素材审核太慢了", "还有个事 想问下报价"),
        ("数据不对 also can you send the invoice?", "数据不对", "also can you send the invoice?"),
        # counted out by the client, whatever the categories
        (
            "两个事 1.上周的账单多扣了我们两千多 2.明年的框架合同怎么签 找谁",
            "两个事 1.上周的账单多扣了我们两千多",
            "2.明年的框架合同怎么签 找谁",
        ),
        ("一是素材审核太慢 二是报价单什么时候发", "一是素材审核太慢", "二是报价单什么时候发"),
        ("两个问题：1.素材审核太慢 2.上周的数据也不对", "两个问题：1.素材审核太慢", "2.上周的数据也不对"),
        # numbers that count nothing
        ("补量2.5万 12.5号前上线", None, None),
        # one issue told with an aside, or a greeting before the issue: nothing to split
        ("冬季大促的信息流广告不跑量了，对了，截图我等下发", None, None),
        ("你好，另外想问下发票", None, None),
        ("素材被拒了，另外上周的素材也被拒了", None, None),
        # a word that begins another issue only leading a clause, inside one: "the campaigns and the fees"
        ("I have a question about your KOL campaigns and the fees pricing, we have a budget of 50k", None, None),
    ],
)
def test_two_issues_in_one_message_are_split_at_the_second(
    deps: Deps, text: str, first: str | None, rest: str | None
) -> None:
    assert split_issues(text, deps) == ((first, rest) if first else (text, None))


@pytest.mark.parametrize("text", ["海报印错了", "链接打不开了"])
def test_a_short_complaint_is_its_own_description(deps: Deps, text: str) -> None:
    outcome = say(text, Snapshot(State.NEW), deps)
    assert outcome.category == "complaint"
    assert outcome.slots.get("description") == text
    assert outcome.context["asking"] != "description"


@pytest.mark.parametrize(
    "text", ["I'd like to file a complaint", "我要投诉", "Hi, I want to make a complaint please", "This is a complaint"]
)
def test_naming_the_category_in_words_is_no_description(deps: Deps, text: str) -> None:
    outcome = say(text, Snapshot(State.NEW), deps)
    assert outcome.category == "complaint" and "description" not in outcome.slots
    assert outcome.context["asking"] == "description"
    told = say("This is a complaint: the banner is blurry", Snapshot(State.NEW), deps)
    assert told.slots["description"] == "This is a complaint: the banner is blurry"


@pytest.mark.parametrize("text", ["没有了", "不需要", "不方便", "no thanks", "nope", "不用了", "不需要了"])
def test_no_to_an_optional_detail_skips_it(deps: Deps, text: str) -> None:
    snap = Snapshot(State.COLLECTING, "complaint", {"description": "x" * 10, "project": "p"}, {"asking": "since"})
    outcome = say(text, snap, deps)
    assert outcome.slots["since"] is None and outcome.context["asking"] == "expected"


def test_no_need_to_a_required_detail_drops_the_matter(deps: Deps) -> None:
    slots = {k: v for k, v in COMPLAINT_FILLED.items() if k != "phone"}
    asked = Snapshot(State.COLLECTING, "complaint", slots, {"asking": "phone"})
    assert say("不用了", asked, deps).state is State.CLOSED
    # "不用了" to the suggestion's optional contact files the suggestion without one.
    snap = Snapshot(State.COLLECTING, "suggestion", {"proposal": "希望报表可以导出excel"}, {"asking": "contact"})
    outcome = say("不用了", snap, deps)
    assert outcome.state is State.CONFIRMING and outcome.slots["contact"] is None


def test_a_correction_while_another_detail_is_asked_asks_it_again(deps: Deps) -> None:
    slots = {"description": "海报价格印错了", "project": "双十一", "since": "上周五", "phone": "13800001111"}
    snap = Snapshot(State.COLLECTING, "complaint", slots, {"asking": "expected"})
    outcome = say("电话写错了，应该是13912345678", snap, deps)
    assert outcome.state is State.COLLECTING and outcome.context["asking"] == "expected"
    assert outcome.slots["phone"] == "13912345678" and "expected" not in outcome.slots
    # Answered now, the form is complete: the summary, not a ticket unseen.
    outcome = say("重新印一批", Snapshot(outcome.state, "complaint", outcome.slots, outcome.context), deps)
    assert outcome.state is State.CONFIRMING


def test_a_detail_given_beside_an_answer_is_no_correction(deps: Deps) -> None:
    # 重新 is a correction's word too; here it is the outcome wanted, and the phone was not given before.
    slots = {"description": "配音念错了品牌名", "project": "品牌宣传片", "since": "周二"}
    outcome = say(
        "重新配音，电话13800138033", Snapshot(State.COLLECTING, "complaint", slots, {"asking": "expected"}), deps
    )
    assert outcome.state is State.CONFIRMING
    assert outcome.slots["phone"] == "13800138033" and outcome.slots["expected"].startswith("重新配音")


@pytest.mark.parametrize(
    ("text", "slot", "value"),
    [
        ("电话写错了，应该是13900001111", "phone", "13900001111"),
        ("不好意思，我的手机号填错了，现在是139-0000-1111", "phone", "13900001111"),
        ("phone should be 13900001111", "phone", "13900001111"),
        ("不对，应该是13900001111", "phone", "13900001111"),
    ],
)
def test_a_correction_of_a_detail_not_yet_given_while_another_is_asked_gives_it(
    text: str, slot: str, value: str, deps: Deps
) -> None:
    # The outcome is asked and the phone never given: the message gives the phone and nothing for the outcome.
    slots = {"description": "开业海报的logo印错了", "project": "开业海报", "since": None}
    outcome = say(text, Snapshot(State.COLLECTING, "complaint", slots, {"asking": "expected"}), deps)
    assert outcome.state is State.COLLECTING and outcome.context["asking"] == "expected"
    assert outcome.slots[slot] == value and "expected" not in outcome.slots
    assert keys(outcome) == ["form.noted", "form.ask"]
    assert text_of(outcome, "form.noted", deps) == f"已记下 联系电话: {value}。"


def test_a_correction_of_the_project_skipped_while_another_is_asked_gives_it(deps: Deps) -> None:
    slots = {"description": "开业海报的logo印错了", "project": None, "since": None}
    snap = Snapshot(State.COLLECTING, "complaint", slots, {"asking": "expected"})
    outcome = say("项目名应该是春季新品传单", snap, deps)
    assert outcome.slots["project"] == "春季新品传单" and "expected" not in outcome.slots
    assert outcome.context["asking"] == "expected" and keys(outcome) == ["form.noted", "form.ask"]


@pytest.mark.parametrize("text", ["今天之内必须给我", "明天之前给我方案", "三天内给我答复"])
def test_a_demand_with_a_deadline_given_for_the_phone_fills_the_skipped_outcome(text: str, deps: Deps) -> None:
    slots = {"description": "开业海报的logo印错了", "project": "开业海报", "since": None, "expected": None}
    outcome = say(text, Snapshot(State.COLLECTING, "complaint", slots, {"asking": "phone"}), deps)
    assert outcome.slots["expected"] == text and "phone" not in outcome.slots
    assert keys(outcome) == ["form.noted", "form.ask"] and outcome.context["asking"] == "phone"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # the outcome said later joins what the detail held, which may have wanted nothing
        ("差了大概三成吧", "差了大概三成吧；希望你们核实一下给个解释"),
        ("退回多收的钱", "退回多收的钱；希望你们核实一下给个解释"),
    ],
)
def test_an_outcome_given_for_the_phone_joins_the_one_given(before: str, after: str, deps: Deps) -> None:
    slots = {"description": "报表曝光对不上", "project": "双十一预热", "since": None, "expected": before}
    outcome = say("希望你们核实一下给个解释", Snapshot(State.COLLECTING, "complaint", slots, {"asking": "phone"}), deps)
    assert outcome.slots["expected"] == after and "phone" not in outcome.slots
    assert outcome.context["asking"] == "phone" and keys(outcome) == ["form.noted", "form.ask"]


@pytest.mark.parametrize("text", ["今天之内必须给我", "明天之前给我方案", "请今天内回复我"])
def test_wanting_something_by_a_day_is_the_outcome_wanted(text: str, deps: Deps) -> None:
    assert extract_slots("complaint", text, deps).get("expected") == text
    assert "since" not in extract_slots("complaint", text, deps)


def test_asked_for_the_category_in_vain_the_bot_files_its_best_reading(deps: Deps) -> None:
    snap = Snapshot(State.NEW)
    # Not sure of the words, the bot offers the categories; the client describes on instead of picking.
    for text in ("投放的事", "开屏那个"):
        outcome = say(text, snap, deps)
        assert outcome.state in {State.GREETED, State.CLASSIFYING}, text
        snap = Snapshot(outcome.state, outcome.category, outcome.slots, outcome.context)
    outcome = say("开屏投放昨天那个", snap, deps)
    assert outcome.category == "inquiry"
    assert keys(outcome) == ["classify.guessed", "confirm.summary", "confirm.ask"]
    # Not the client's own pick: it stays open to the client's correction ("是咨询").
    assert not outcome.context["classified"].get("picked")
    # Every detail given, the summary waits at the confirmation: one yes files it (it took two).
    assert outcome.state is State.CONFIRMING
    assert say("yes", Snapshot(outcome.state, outcome.category, outcome.slots, outcome.context), deps).state is (
        State.TICKET_OPEN
    )


def test_no_guess_without_anything_to_go_on(deps: Deps) -> None:
    snap = Snapshot(State.NEW)
    for text in ("关于那个事", "开屏那个", "昨天那个"):
        outcome = say(text, snap, deps)
        assert outcome.state in {State.GREETED, State.CLASSIFYING}, text
        snap = Snapshot(outcome.state, outcome.category, outcome.slots, outcome.context)


def test_asking_until_the_client_picks_when_guessing_is_off(deps: Deps) -> None:
    patient = replace(deps, settings=deps.settings.model_copy(update={"category_asks_before_guess": 0}))
    snap = Snapshot(State.NEW)
    for text in ("投放的事", "开屏那个", "开屏投放昨天那个"):
        outcome = say(text, snap, patient)
        assert outcome.state in {State.GREETED, State.CLASSIFYING}, text
        snap = Snapshot(outcome.state, outcome.category, outcome.slots, outcome.context)


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("Could you send over the media plan for next month?", "media"),
        ("Can you send the receipt for last month?", "billing"),
        ("When will the ads go live?", "schedule"),
        ("Please share the new poster design", "creative"),
        # Latin cues are whole words: "details" holds no "eta", "feedback" no "fee", "copyright" no "copy".
        ("Could you send the details of the invoice?", "billing"),
        ("I have some feedback on the poster", "creative"),
        ("Is the copyright of the photos ours?", None),
        # The choice most cue words point to: a quote and a budget for a campaign are about pricing.
        ("Could you send us a quote for a KOL campaign, budget around 200k?", "pricing"),
        ("我们的投放预算花完了但效果不好", "media"),
        ("Can you send the contracts and the invoices?", None),
    ],
)
def test_an_english_question_names_its_topic(deps: Deps, text: str, topic: str | None) -> None:
    assert deps.forms.topic_of("inquiry", "topic", normalize(text)) == topic


@pytest.mark.parametrize("text", ["好的", "嗯", "是的", "ok"])
def test_a_plain_yes_after_the_ticket_opened_is_acknowledged_not_added(text: str, deps: Deps) -> None:
    view = TicketView("KF-20261129-0001", "complaint", "classified")
    outcome = say(text, Snapshot(State.TICKET_OPEN, has_ticket=True, ticket=view), deps)
    assert outcome.state is State.TICKET_OPEN
    assert keys(outcome) == ["ticket.acknowledged"]
    assert not any(isinstance(e, TicketNote) for e in outcome.effects)
    # Anything more is added to the ticket as before.
    outcome = say("好的，素材我下午再补一版", Snapshot(State.TICKET_OPEN, has_ticket=True, ticket=view), deps)
    assert keys(outcome) == ["ticket.appended"]


# ---------------------------------------------------------------- messages in a row, a pause, a category's word


def told(slots: dict[str, Any], asked: str | None, state: State = State.COLLECTING, **context: Any) -> Snapshot:
    """A complaint form whose description the client told at his turn 3; it is now his turn 4."""
    ctx: dict[str, Any] = {"turn": 4, "told_turn": 3, "classified": {"category": "complaint", "picked": True}}
    if asked:
        ctx["asking"] = asked
    return Snapshot(state, "complaint", slots, {**ctx, **context})


def quick(text: str, snapshot: Snapshot, deps: Deps, gap: float) -> Outcome:
    return step(snapshot, Event(EventKind.MESSAGE, text=text, data={"gap": gap}), deps)


def test_words_of_the_issue_sent_right_after_it_go_on_telling_it(deps: Deps) -> None:
    snap = told({"description": "你们做的海报"}, "project")
    outcome = quick("logo印错了", snap, deps, gap=3)
    assert outcome.slots["description"] == "你们做的海报 logo印错了" and "project" not in outcome.slots
    assert keys(outcome) == ["form.ask"] and outcome.context["asking"] == "project"
    # A third fragment as quick goes on again.
    again = quick("颜色也不对", after(outcome, turn=5), deps, gap=4)
    assert again.slots["description"] == "你们做的海报 logo印错了 颜色也不对"


def test_a_quick_answer_ends_the_burst(deps: Deps) -> None:
    # A client who answers at once: "海报" answers the project, and "字一直印错了" two seconds later the next question.
    project = quick("海报", told({"description": "就是那个"}, "project"), deps, gap=2)
    assert project.slots["project"] == "海报"
    more = quick("字一直印错了", after(project, turn=5), deps, gap=2)
    assert more.slots["description"] == "就是那个" and more.slots["since"] == "字一直印错了"


@pytest.mark.parametrize(
    ("text", "gap", "told_turn"),
    [
        ("logo印错了", 20, 3),  # time enough to read the question: an answer
        ("logo印错了", 3, 2),  # not right after the telling
        ("年货节", 2, 3),  # no words of an issue
        ("哈哈", 2, 3),  # small talk only
    ],
)
def test_an_answer_is_an_answer_when_not_right_after_the_telling(
    text: str, gap: float, told_turn: int, deps: Deps
) -> None:
    snap = told({"description": "你们做的海报"}, "project", told_turn=told_turn)
    outcome = quick(text, snap, deps, gap=gap)
    assert outcome.slots["project"] == text and outcome.slots["description"] == "你们做的海报"


def test_a_quick_answer_of_the_kind_asked_is_the_answer(deps: Deps) -> None:
    slots = {k: v for k, v in COMPLAINT_FILLED.items() if k != "phone"}
    outcome = quick("电话13812345678 一直打不通你们的", told(slots, "phone"), deps, gap=2)
    assert outcome.slots["phone"] == "13812345678" and outcome.slots["description"] == slots["description"]


def test_more_of_the_issue_at_the_summary_is_added_to_it(deps: Deps) -> None:
    snap = told(dict(COMPLAINT_FILLED), None, State.CONFIRMING, summary_shown=True, told_turn=1)
    outcome = quick("而且曝光量比你们报的少了一半", snap, deps, gap=40)
    assert outcome.state is State.CONFIRMING
    assert outcome.slots["description"] == COMPLAINT_FILLED["description"] + " 而且曝光量比你们报的少了一半"
    assert keys(outcome) == ["confirm.changed", "confirm.brief"]


def test_more_of_an_issue_the_bot_classified_moves_it_where_the_whole_reads(deps: Deps) -> None:
    classified = {"category": "inquiry", "confident": True, "matched": ["投放"], "picked": False}
    slots = {"topic": "投放与效果", "question": "我们上周投放的那个朋友圈广告"}
    snap = Snapshot(
        State.CONFIRMING, "inquiry", slots, {"turn": 2, "told_turn": 1, "summary_shown": True, "classified": classified}
    )
    outcome = quick("数据不对", snap, deps, gap=3)
    assert outcome.category == "complaint" and outcome.state is State.COLLECTING
    assert outcome.slots["description"] == "我们上周投放的那个朋友圈广告 数据不对"
    assert keys(outcome)[0] == "classify.described"
    # Moved once: more words do not move it back.
    assert outcome.context["classified"]["described"] is True
    # The same words a while after the summary are added to the question; the category the client saw stays.
    later = quick("数据不对", snap, deps, gap=90)
    assert later.category == "inquiry" and later.slots["question"] == "我们上周投放的那个朋友圈广告 数据不对"


@pytest.mark.parametrize("text", ["等一下我查一下", "稍等一下 我问问同事", "我找找", "let me check"])
def test_a_client_looking_the_answer_up_is_waited_for(text: str, deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "complaint", {"description": "素材被平台拒了三次"}, {"asking": "project"})
    outcome = say(text, snap, deps)
    assert outcome.state is State.COLLECTING and "project" not in outcome.slots
    assert keys(outcome) == ["form.hold"] and outcome.context["asking"] == "project"
    assert any(isinstance(e, Schedule) for e in outcome.effects)


@pytest.mark.parametrize("text", ["核查一下", "帮我查一下", "查一下原因"])
def test_asking_the_agency_to_look_is_no_pause(text: str, deps: Deps) -> None:
    slots = {"description": "点击量突然暴涨", "project": "周年庆", "since": None}
    outcome = say(text, Snapshot(State.COLLECTING, "complaint", slots, {"asking": "expected"}), deps)
    assert outcome.slots["expected"] == text


@pytest.mark.parametrize(("text", "category"), [("投诉", "complaint"), ("投訴！", "complaint"), ("咨询", "inquiry")])
def test_a_category_word_alone_names_the_category(text: str, category: str, deps: Deps) -> None:
    acts = default_lexicon().recognize(text)
    assert acts.claim == category and acts.pure
    assert default_lexicon().recognize(f"{text}的流程是什么").claim is None


def test_a_category_word_at_the_summary_switches_the_form(deps: Deps) -> None:
    context = {"summary_shown": True, "first_text": "我们上周投放的那个朋友圈广告"}
    slots = {"topic": "投放与效果", "question": "我们上周投放的那个朋友圈广告"}
    outcome = say("投诉", Snapshot(State.CONFIRMING, "inquiry", slots, context), deps)
    assert outcome.category == "complaint" and keys(outcome)[0] == "classify.switched"


def test_the_category_word_of_the_form_answers_no_detail(deps: Deps) -> None:
    slots = {"description": "素材审核太慢了", "project": "618", "since": None}
    outcome = say("投诉", Snapshot(State.COLLECTING, "complaint", slots, {"asking": "expected"}), deps)
    assert "expected" not in outcome.slots and keys(outcome) == ["form.not_an_answer", "form.ask"]


# ---------------------------------------------------------------- nothing open, a ticket filed before


@pytest.mark.parametrize("text", ["好的", "嗯嗯", "ok"])
def test_a_yes_with_nothing_open_starts_no_form(text: str, deps: Deps) -> None:
    first = say(text, Snapshot(State.NEW), deps)
    assert first.state is State.GREETED and first.category is None and keys(first) == ["greeting.welcome"]
    # After a cancellation or the end of a ticket: acknowledged.
    ended = say(text, Snapshot(State.CLOSED, context={"turn": 6}), deps)
    assert ended.state is State.CLOSED and ended.category is None and keys(ended) == ["chat.ok"]
    assert not any(isinstance(e, Schedule) for e in ended.effects)


EARLIER = TicketView("KF-20261129-0001", "complaint", "investigating")


def test_another_issue_announced_alone_is_the_next_message(deps: Deps) -> None:
    snap = Snapshot(State.TICKET_OPEN, "complaint", dict(COMPLAINT_FILLED), {"turn": 8}, has_ticket=True)
    announced = say("还有个事", snap, deps)
    assert announced.state is State.TICKET_OPEN and keys(announced) == ["ticket.await_new_issue"]
    assert not any(isinstance(e, TicketNote) for e in announced.effects)
    told = say("我要投诉你们的视频", after(announced, turn=9), deps)
    assert any(isinstance(e, LeaveTicket) for e in told.effects) and told.category == "complaint"
    assert told.slots["description"] == "我要投诉你们的视频"
    # Without the announcement the same words are about the ticket filed.
    noted = say("我要投诉你们的视频", after(announced, turn=10), deps)
    assert not any(isinstance(e, LeaveTicket) for e in noted.effects)


@pytest.mark.parametrize("text", ["😊", "👌👌", "。。。"])
def test_a_sticker_after_the_ticket_opened_adds_no_note(text: str, deps: Deps) -> None:
    snap = Snapshot(State.TICKET_OPEN, "complaint", dict(COMPLAINT_FILLED), has_ticket=True)
    outcome = say(text, snap, deps)
    assert keys(outcome) == ["ticket.acknowledged"]
    assert not any(isinstance(e, TicketNote) for e in outcome.effects)


def test_the_status_of_a_ticket_filed_before_is_told_while_another_form_is_filled(deps: Deps) -> None:
    slots = {"description": "视频剪得太差"}
    snap = Snapshot(State.COLLECTING, "complaint", slots, {"asking": "project"}, ticket=EARLIER)
    for text in ("对了 上一个工单怎么样了", "对了 我上次那个投诉处理到哪一步了"):
        outcome = say(text, snap, deps)
        assert keys(outcome) == ["progress.report", "form.ask"] and "project" not in outcome.slots
    # Told as the issue itself, words of waiting are the description.
    told = replace(snap, context={"asking": "description"}, slots={})
    assert say("之前的工单一直没人理", told, deps).slots["description"] == "之前的工单一直没人理"


def _next(outcome: Outcome, category: str = "complaint") -> Snapshot:
    """The snapshot of the client's next message (the engine counts its turns)."""
    context = {**outcome.context, "turn": int(outcome.context.get("turn", 0)) + 1}
    return Snapshot(outcome.state, category, outcome.slots, context)


def test_a_yes_right_after_choosing_to_change_is_asked_again_and_a_second_yes_submits(deps: Deps) -> None:
    shown = step(confirming(turn=3), Event(EventKind.BUTTON, button=EDIT), deps)
    assert shown.state is State.CONFIRMING
    again = say("对", _next(shown), deps)
    assert again.state is State.CONFIRMING and keys(again) == ["confirm.change_or_submit"]
    assert say("对", _next(again), deps).state is State.TICKET_OPEN


def test_a_yes_after_saying_something_is_wrong_submits(deps: Deps) -> None:
    # "不对" asks what is wrong; "对" then says it is right after all.
    asked = say("不对", confirming(turn=3), deps)
    assert say("对", _next(asked), deps).state is State.TICKET_OPEN


def test_a_yes_at_the_summary_still_submits_at_once(deps: Deps) -> None:
    assert say("对", confirming(turn=3), deps).state is State.TICKET_OPEN


@pytest.mark.parametrize(
    "first", ["我想咨询下", "想问个问题", "有个问题想请教一下", "你好，请问一下", "quick question"]
)
def test_a_first_message_that_only_announces_a_question_is_not_the_question(first: str, deps: Deps) -> None:
    opened = say(first, Snapshot(State.NEW, None, {}, {}), deps)
    assert opened.category == "inquiry" and opened.context["asking"] == "topic"
    outcome = say("开户需要什么资料", after(opened, turn=2), deps)
    # The question comes now, for the topic: it is the question, and its words name the topic.
    assert outcome.slots["question"] == "开户需要什么资料"
    assert outcome.slots["topic"] == "投放与效果"
    assert outcome.state is State.CONFIRMING


def test_a_question_without_a_topic_word_given_for_the_topic_files_under_other(deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "inquiry", {}, {"asking": "topic", "first_text": "我想咨询下"})
    outcome = say("你们公司地址在哪里", snap, deps)
    assert outcome.slots == {"question": "你们公司地址在哪里", "topic": "其他"}


@pytest.mark.parametrize("first", ["我想咨询下", "想问个问题", "有个事想反映一下"])
def test_an_opener_alone_leaves_the_question_to_be_asked(first: str, deps: Deps) -> None:
    outcome = say(first, Snapshot(State.NEW, None, {}, {}), deps)
    assert "question" not in outcome.slots and "description" not in outcome.slots


@pytest.mark.parametrize("text", ["你好，请问还在吗？", "请问", "还有人吗"])
def test_asking_whether_anyone_is_there_is_a_greeting(text: str, deps: Deps) -> None:
    outcome = say(text, Snapshot(State.NEW, None, {}, {}), deps)
    assert outcome.state is State.GREETED and outcome.category is None


def test_a_short_question_after_please_is_the_question(deps: Deps) -> None:
    outcome = say("请问发票怎么开", Snapshot(State.NEW, None, {}, {}), deps)
    assert outcome.slots["question"] == "请问发票怎么开"


# ---------------------------------------------------------------- details never asked for (ask: false)

ASKED = "咨询一下，小红书达人投放怎么收费？"


def play(snapshot: Snapshot, deps: Deps, *messages: str) -> list[Outcome]:
    """The outcomes of the client's messages in turn (a message "btn:<id>" presses that button)."""
    outcomes = []
    for turn, text in enumerate(messages, start=1):
        if text.startswith("btn:"):
            event = Event(EventKind.BUTTON, button=text[4:])
        else:
            event = Event(EventKind.MESSAGE, text=text)
        snapshot = replace(snapshot, context={**snapshot.context, "turn": turn})
        outcome = step(snapshot, event, deps)
        outcomes.append(outcome)
        snapshot = replace(
            snapshot, state=outcome.state, category=outcome.category, slots=outcome.slots, context=outcome.context
        )
    return outcomes


def said(outcomes: list[Outcome]) -> list[Say]:
    return [e for o in outcomes for e in o.effects if isinstance(e, Say)]


def summary(outcome: Outcome) -> str:
    return next(str(e.params["summary"]) for e in outcome.effects if isinstance(e, Say) and e.key == "confirm.summary")


def opened(outcome: Outcome) -> OpenTicket:
    return next(e for e in outcome.effects if isinstance(e, OpenTicket))


def confirming_inquiry(**slots: str) -> Snapshot:
    filled = {"topic": "报价与合同", "question": "达人投放怎么收费", **slots}
    return Snapshot(State.CONFIRMING, "inquiry", filled, {"summary_shown": True})


def test_an_inquiry_keeps_the_phone_given_with_it_and_asks_no_more_than_before(deps: Deps) -> None:
    first, topic, yes = play(Snapshot(State.NEW), deps, f"{ASKED}我电话13655556666", "报价", "是")
    assert first.category == "inquiry" and first.slots["contact"] == "13655556666"
    assert topic.state is State.CONFIRMING
    assert "3. 联系方式: 13655556666" in summary(topic)
    # Only the topic was asked: never the contact.
    asked = [e.params["prompt"] for e in said([first, topic]) if e.key == "form.ask"]
    assert asked == [deps.texts.get("slots.inquiry.topic.prompt", "zh")]
    assert opened(yes).details["contact"] == "13655556666"


def test_an_inquiry_keeps_an_address_given_in_a_later_answer(deps: Deps) -> None:
    outcomes = play(
        Snapshot(State.NEW, language="en"),
        deps,
        "btn:cat:inquiry",
        "pricing",
        "How much is a KOL campaign? Mail me at amy@acme.com",
    )
    assert outcomes[-1].slots["contact"] == "amy@acme.com"
    assert "Contact: amy@acme.com" in summary(outcomes[-1])


def test_an_inquiry_without_a_contact_shows_no_empty_line_and_offers_none_to_change(deps: Deps) -> None:
    _, topic = play(Snapshot(State.NEW), deps, ASKED, "报价")
    assert topic.state is State.CONFIRMING and "contact" not in topic.slots
    assert summary(topic).splitlines() == ["1. 咨询类别: 报价与合同", f"2. 具体问题: {ASKED}"]
    (change,) = play(Snapshot(topic.state, "inquiry", topic.slots, topic.context), deps, f"btn:{EDIT}")
    assert [b.id for b in said([change])[-1].buttons] == ["edit:topic", "edit:question"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("电话改成13922223333", "13922223333"),
        ("我电话13922223333", "13922223333"),
        ("联系方式改成 li@acme.com", "li@acme.com"),
        ("change the contact to amy@acme.com", "amy@acme.com"),
    ],
)
def test_the_contact_is_added_or_changed_at_the_inquiry_summary(text: str, value: str, deps: Deps) -> None:
    for snapshot in (confirming_inquiry(), confirming_inquiry(contact="13655556666")):
        (outcome,) = play(snapshot, deps, text)
        assert outcome.state is State.CONFIRMING and outcome.slots["contact"] == value, snapshot.slots
        assert said([outcome])[0].key == "confirm.changed"


def test_a_contact_picked_to_change_is_asked_and_may_be_left_out(deps: Deps) -> None:
    snapshot = confirming_inquiry(contact="13655556666")
    shown, picked, skipped = play(snapshot, deps, f"btn:{EDIT}", "btn:edit:contact", "跳过")
    assert "edit:contact" in [b.id for b in said([shown])[-1].buttons]
    assert picked.context["asking"] == "contact"
    assert said([picked])[-1].params["prompt"] == deps.texts.get("slots.inquiry.contact.prompt", "zh")
    assert skipped.state is State.CONFIRMING and skipped.slots["contact"] is None


def test_the_phone_on_record_is_the_inquiry_contact_until_the_client_gives_another(deps: Deps) -> None:
    on_record = Snapshot(State.NEW, client_phone="13800000000")
    first, topic = play(on_record, deps, ASKED, "报价")
    assert first.slots["contact"] == "13800000000" and "联系方式: 13800000000" in summary(topic)
    *_, answered = play(on_record, deps, "我想咨询一下", "报价，有事发我邮箱 li@acme.com")
    assert answered.slots["contact"] == "li@acme.com"


def test_a_number_given_while_the_complaint_is_filled_replaces_the_one_on_record(deps: Deps) -> None:
    on_record = Snapshot(State.NEW, client_phone="13800000000")
    first, project = play(
        on_record, deps, "我要投诉，信息流广告从上周开始就不跑量了", "冬季大促，有事打我手机13911112222"
    )
    assert first.slots["phone"] == "13800000000"
    assert project.slots["phone"] == "13911112222"
    # A number the client gave himself stays: the next one in passing does not replace it while the form is filled.
    given = Snapshot(State.NEW)
    *_, kept = play(
        given, deps, "我要投诉，信息流广告从上周开始就不跑量了，我电话13911112222", "冬季大促，海报上印的13700000000"
    )
    assert kept.slots["phone"] == "13911112222"


@pytest.mark.parametrize(
    ("lang", "first", "topic", "yes", "line"),
    [
        ("zh", f"{ASKED}我电话13655556666，方便的话回个电话", "报价", "是", "希望回电：是"),
        (
            "en",
            "How much do you charge for a KOL campaign? Call me back on 13655556666",
            "pricing",
            "yes",
            "Call back: yes",
        ),
    ],
)
def test_a_client_who_asks_to_be_called_back_with_his_number_has_it_on_the_ticket(
    lang: str, first: str, topic: str, yes: str, line: str, deps: Deps
) -> None:
    started, summed, submitted = play(Snapshot(State.NEW, language=lang), deps, first, topic, yes)
    # The number given: no request for a person, the form goes on.
    assert started.state is State.COLLECTING and started.category == "inquiry"
    assert summary(summed).splitlines()[-1] == line
    assert submitted.state is State.TICKET_OPEN
    details = opened(submitted).details
    assert details["call_back"] is True and details["contact"] == "13655556666"


def test_an_inquiry_without_a_wish_to_be_called_says_nothing_of_it(deps: Deps) -> None:
    *_, submitted = play(Snapshot(State.NEW), deps, f"{ASKED}我电话13655556666", "报价", "是")
    assert "call_back" not in opened(submitted).details


def test_the_ticket_is_titled_after_the_issue_even_when_the_contact_came_first(deps: Deps) -> None:
    *_, submitted = play(Snapshot(State.NEW), deps, "btn:cat:inquiry", "13655556666", "报价", "达人投放怎么收费", "是")
    details = opened(submitted).details
    # The desk titles a ticket after its first detail.
    assert next(iter(details)) == "question" and details["contact"] == "13655556666"
    (confirmed,) = play(confirming_inquiry(contact="13655556666"), deps, f"btn:{CONFIRM}")
    assert next(iter(opened(confirmed).details)) == "question"


def test_a_detail_never_asked_for_must_be_optional(tmp_path: Path) -> None:
    path = tmp_path / "forms.yaml"
    form = "  - name: text\n"
    unasked = "  - name: contact\n    ask: false\n    extract: contact\n"
    path.write_text(
        "".join(f"{c}:\n{form}" for c in ("complaint", "suggestion", "other")) + f"inquiry:\n{form}{unasked}",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="required: false"):
        Forms.load(path)
    path.write_text(path.read_text(encoding="utf-8") + "    required: false\n", encoding="utf-8")
    forms = Forms.load(path)
    assert forms.next_missing("inquiry", {"text": "x"}) is None
    assert [s.name for s in forms.shown("inquiry", {"text": "x"})] == ["text"]
    assert [s.name for s in forms.shown("inquiry", {"text": "x", "contact": "a@b.cn"})] == ["text", "contact"]


def test_a_first_message_no_rule_knows_is_kept_and_only_its_category_asked(deps: Deps) -> None:
    outcome = say("海报的颜色偏灰", Snapshot(State.NEW, None, {}, {}), deps)
    assert outcome.state is State.GREETED and outcome.context["issue_text"] == "海报的颜色偏灰"
    # "describe your issue" would ask for what was just said: the category only.
    assert keys(outcome) == ["greeting.hello", "classify.ask"]
    assert keys(say("你好", Snapshot(State.NEW, None, {}, {}), deps)) == ["greeting.welcome"]


@pytest.mark.parametrize("first", ["想问个问题", "咨询"])
def test_the_inquirys_own_question_asked_for_its_topic_is_no_side_question(first: str, deps: Deps) -> None:
    snap = Snapshot(State.COLLECTING, "inquiry", {}, {"asking": "topic", "first_text": first})
    outcome = say("小红书达人投放怎么收费？", snap, deps)
    assert outcome.slots["question"] == "小红书达人投放怎么收费？" and outcome.state is State.CONFIRMING
    assert "side_questions" not in outcome.context
    # Once the question is told, another question asked for the topic is one aside.
    told = Snapshot(State.COLLECTING, "inquiry", {"question": "开户要什么资料"}, {"asking": "topic"})
    aside = say("小红书达人投放怎么收费？", told, deps)
    assert aside.slots["question"] == "开户要什么资料" and aside.context["side_questions"]
