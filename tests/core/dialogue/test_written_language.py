"""Which language a message is written in, read from its script."""

from __future__ import annotations

import pytest

from core.dialogue.written import SWITCH_HAN, written_language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("你们的结案报告什么时候给", "zh"),
        ("好", "zh"),
        # Brand names and trade words in a Chinese sentence leave it Chinese.
        ("KOL 的 PDF 报价发一下", "zh"),
        ("OK收到", "zh"),
        ("我们的 KOL campaign 的 CTR 和 CPM 都不对", "zh"),
        ("Hi, the KOL video went live with the wrong product name.", "en"),
        ("do u guys do tiktok ads too", "en"),
        # Both scripts, neither clearly: the conversation keeps the language it has.
        ("The 春季招聘 poster has a typo", None),
        ("项目]]><MsgType>news</MsgType><x>", None),
        # Too little to tell: typed by Chinese and English writers alike.
        ("ok", None),
        ("yes", None),
        ("KOL video", None),
        ("13812345678", None),
        ("", None),
        ("👍", None),
    ],
)
def test_the_script_tells_chinese_from_english(text: str, language: str | None) -> None:
    assert written_language(text) == language


def test_a_conversation_under_way_switches_on_a_sentence_not_a_word() -> None:
    assert written_language("投诉", least_han=SWITCH_HAN) is None
    assert written_language("好的", least_han=SWITCH_HAN) is None
    assert written_language("算了我还是说中文吧", least_han=SWITCH_HAN) == "zh"
