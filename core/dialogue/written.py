"""The language a client's message is written in, where its script leaves no doubt (Chinese or English)."""

from __future__ import annotations

import re

# CJK Unified Ideographs with extension A and the compatibility block: the characters of written Chinese.
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Words of two letters or more: "I" and "a" alone, or an order code such as "A3", say nothing of the language.
_WORD = re.compile(r"[A-Za-z]{2,}")
# Fewer English words than this do not say: "ok", "yes", "KOL video" are typed by Chinese writers too.
ENGLISH_WORDS = 3
# A conversation under way changes language on a sentence, not on a word: an English writer answers a numbered
# question with its Chinese label ("投诉") or says "好的" as readily as a Chinese writer says "ok".
SWITCH_HAN = 4


def written_language(text: str, *, least_han: int = 1) -> str | None:
    """Chinese ("zh"), English of at least ENGLISH_WORDS words ("en"), or None when the script does not say.

    Chinese and English are told apart by their scripts, which short messages cannot hide, where a statistical
    language detector misjudges them ("ok", "KOL 视频"). A Chinese message with a few English words (brand names,
    KOL, PDF) is Chinese; a message mixing both otherwise (an English sentence around a Chinese project name, text
    pasted with its markup) does not say, and the conversation keeps its language. `least_han`: the Han characters
    a message needs to count as Chinese.
    """
    han = len(_HAN.findall(text))
    words = len(_WORD.findall(text))
    # A Chinese word is about two characters long: the words of each script are compared, not their letters.
    if han >= max(least_han, 1) and han / 2 >= words:
        return "zh"
    if words >= ENGLISH_WORDS and not han:
        return "en"
    return None
