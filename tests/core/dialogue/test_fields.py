"""Field words (config/fields.yaml) and corrections in words: "电话写错了 应该是…", "change the phone to…"."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from core.dialogue.fields import FieldSynonyms, edit_request, field_mentions, replaced, revised, says_when, sole_edit
from core.dialogue.forms import CATEGORIES, Forms
from core.settings import DEFAULT_CONFIG_DIR

MENTIONS = [
    ("电话写错了", ("phone",)),
    ("手机号不对", ("phone",)),
    ("號碼填錯了", ("phone",)),
    ("项目名和开始时间都不对", ("project", "since")),
    ("活動名稱改一下", ("project",)),
    ("change the phone number and the campaign name", ("phone", "project")),
    ("诉求写得不清楚", ("expected",)),
    ("问题描述再补充一下", ("description",)),
    ("类型选错了", ("topic",)),
    ("联系方式", ("phone", "contact")),
    ("Tel: 13800138000", ("phone",)),
    # field words inside other words are no mention
    ("没问题", ()),
    ("没有问题，提交吧", ()),
    ("请第一时间处理", ()),
    ("telegram 上联系", ()),
    ("确认", ()),
]


@pytest.mark.parametrize(("text", "expected"), MENTIONS)
def test_field_mentions(text: str, expected: tuple[str, ...]) -> None:
    assert field_mentions(text) == expected


EDITS = [
    # the phrases
    ("不对，电话写错了 应该是13922223334", ("phone", "13922223334")),
    ("项目名改成双十一开屏", ("project", "双十一开屏")),
    ("时间是11月3号不是10月", ("since", "11月3号")),
    ("号码应该是 139 2222 3334", ("phone", "13922223334")),
    ("change the phone to 13922223334", ("phone", "13922223334")),
    # as clients write them
    ("號碼換了 13922223334", ("phone", "13922223334")),
    ("不对，应该是13922223334", ("phone", "13922223334")),
    ("电话号码改一下：13922223334", ("phone", "13922223334")),
    ("手机号打错了，是139-2222-3334", ("phone", "13922223334")),
    ("联系方式改成13922223334", ("phone", "13922223334")),
    ("联系方式改成 微信 abc123", ("contact", "微信 abc123")),
    ("项目不是冬季大促，是双十一开屏", ("project", "双十一开屏")),
    ("把活动名改为「年货节」吧", ("project", "年货节")),
    ("時間應該是上週三", ("since", "上週三")),
    ("开始时间改成11月1号，谢谢", ("since", "11月1号")),
    ("诉求改成退款就行", ("expected", "退款就行")),
    ("the project name should be Spring Launch, thanks", ("project", "Spring Launch")),
    ("wrong campaign, it should be Winter Sale", ("project", "Winter Sale")),
    ("update my phone to +852 9123 4567", ("phone", "+85291234567")),
    # no field named: a date after the marker is the start date, as a number is the phone
    ("写错了，应该是上周五开始的", ("since", "上周五开始的")),
    ("不对，是11月20号", ("since", "11月20号")),
    ("no, it should be last Friday", ("since", "last Friday")),
    # the new value written in after the detail's name, with no other cue
    ("等一下，项目写年度框架合同吧", ("project", "年度框架合同")),
    ("项目就写：双十一", ("project", "双十一")),
    ("项目名称写成春季新品发布", ("project", "春季新品发布")),
    ("电话填13900001111", ("phone", "13900001111")),
    ("项目那栏填国庆大促", ("project", "国庆大促")),
    # a cue of its own (重新) in the value, the write word after "那里" still marks it
    ("等等 还有个地方 期望那里写重新印并且赔偿", ("expected", "重新印并且赔偿")),
    # a field to correct, without the new value yet
    ("电话写错了", ("phone", "")),
    ("项目名不对", ("project", "")),
    ("电话改成 12345", ("phone", "")),
    ("项目名称多了个字", ("project", "")),
    ("电话错了 尾号是3321", ("phone", "")),
    # the new value after a colon, unless another detail is given one after a marker
    ("改一下期望：全额退款", ("expected", "全额退款")),
    ("诉求那里再加一条：公开道歉", ("expected", "公开道歉")),
    ("项目：春节，时间写错了 是上周", ("since", "上周")),
    # no correction
    ("电话是13800138000", None),
    ("是上周五开始的", None),
    ("不对，上周五的数据也不对", None),
    ("尾号8899的账户扣款错了", None),
    ("我的问题是投放停了", None),
    ("没问题，提交吧", None),
    ("确认", None),
    ("好的", None),
    ("不对", None),
    # how something was written is no value to write
    ("项目方案写得很差", None),
    ("我们项目写的文案有问题", None),
]


@pytest.mark.parametrize(("text", "expected"), EDITS)
def test_edit_request(text: str, expected: tuple[str, str] | None) -> None:
    assert edit_request(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("电话写错了，应该是13900001111", ("phone", "13900001111")),
        ("不好意思，我的手机号填错了，现在是139-0000-1111", ("phone", "13900001111")),
        ("phone should be 13900001111", ("phone", "13900001111")),
        ("项目名应该是春季改版", ("project", "春季改版")),
        ("等一下，项目写年度框架合同吧", ("project", "年度框架合同")),
        # more than the correction: an outcome wanted, words of the issue, or no new value
        ("重新配音，电话13800138033", None),
        ("电话写错了，应该是13900001111，还有尽快重印", None),
        ("电话写错了", None),
    ],
)
def test_a_correction_that_is_all_the_message_says(text: str, expected: tuple[str, str] | None) -> None:
    assert sole_edit(text) == expected


@pytest.mark.parametrize(
    ("text", "field", "value", "held", "expected"),
    [
        ("电话错了 尾号是3321", "phone", "", "13622221234", "13622223321"),
        ("the number ends in 88", "phone", "", "13622221234", "13622221288"),
        # what the detail holds is no number: nothing to change the end of
        ("电话错了 尾号是3321", "phone", "", "就这个微信", ""),
        # digits that do not end their clause are of something else
        ("尾号8899的账户扣款错了", "phone", "", "13622221234", ""),
        ("电话错了，尾号3321，谢谢", "phone", "", "13622221234", "13622223321"),
        ("诉求那里再加一条：公开道歉", "expected", "公开道歉", "马上删帖", "马上删帖；公开道歉"),
        (
            "also add to the request: a written apology",
            "expected",
            "a written apology",
            "refund",
            "refund; a written apology",
        ),
        # already held, or nothing held: the value as given
        ("诉求再加一条：删帖", "expected", "删帖", "马上删帖", "删帖"),
        ("诉求再加一条：删帖", "expected", "删帖", "", "删帖"),
        ("诉求改成退款", "expected", "退款", "补量", "退款"),
    ],
)
def test_a_correction_applied_to_what_the_detail_holds(
    text: str, field: str, value: str, held: str, expected: str
) -> None:
    assert revised(text, field, value, held) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("名字打错了应该是华美不是华美达", ("project", "华美周年庆")),
        ("写错了，是上上周 不是上周", ("since", "上上周")),
        # the wrong words in no detail or in two, or no words to put in their place
        ("打错了 应该是金豪不是金冠", None),
        ("错了 应该是周年纪念不是周年庆", None),
        ("电话错了", None),
    ],
)
def test_wrong_words_name_the_detail_that_holds_them(text: str, expected: tuple[str, str] | None) -> None:
    held = {"project": "华美达周年庆", "since": "上周", "expected": "周年庆当天重印"}
    assert replaced(text, held) == expected


def test_every_field_is_a_slot_of_some_form() -> None:
    table = yaml.safe_load((DEFAULT_CONFIG_DIR / "fields.yaml").read_text(encoding="utf-8"))
    forms = Forms.load(DEFAULT_CONFIG_DIR / "forms.yaml")
    slots = {spec.name for category in CATEGORIES for spec in forms.slots(category)}
    assert set(table["fields"]) <= slots


def test_the_table_is_data(tmp_path: Path) -> None:
    path = tmp_path / "fields.yaml"
    path.write_text(
        "fields:\n  phone: [座机]\n  project: [品牌]\nedit_cues: [改]\nvalue_markers: [改成]\nvalue_ends: [不是]\n",
        encoding="utf-8",
    )
    table = FieldSynonyms.load(path)
    assert table.mentions("品牌和座机") == ("project", "phone")
    assert table.edit_request("品牌改成新品牌不是旧的") == ("project", "新品牌")
    assert table.mentions("电话") == ()


def test_a_malformed_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fields.yaml"
    path.write_text("fields:\n  phone: 电话\nedit_cues: []\nvalue_markers: []\nvalue_ends: []\n", encoding="utf-8")
    with pytest.raises(ValueError, match="list of non-empty strings"):
        FieldSynonyms.load(path)


@pytest.mark.parametrize(
    "text",
    [
        # a day, or how long ago
        "上周三",
        "昨晚八点",
        "三天前",
        "月初",
        "since last week",
        # how long, since what, in words of a few between ("从…开始")
        "一直这样",
        "好久了",
        "从上线开始",
        "换了设计师之后",
        "a while ago",
        "since launch",
        # not known: an answer all the same
        "不记得了",
        "不清楚",
        "not sure",
    ],
)
def test_words_that_say_when(text: str) -> None:
    assert says_when(text)


@pytest.mark.parametrize(
    "text", ["春季新品传单", "你们是不是脑子有病啊，这么简单的东西都搞不定", "传单上的电话也印错了", "颜色全都偏红"]
)
def test_words_that_say_nothing_of_when(text: str) -> None:
    assert not says_when(text)


@pytest.mark.parametrize(
    ("text", "field"),
    [("电话", "phone"), ("项目名。", "project"), ("手机号吧", "phone"), ("电话错了", None), ("好的", None)],
)
def test_a_field_named_alone(text: str, field: str | None) -> None:
    from core.dialogue.fields import named_alone

    assert named_alone(text) == field
