"""Traditional spellings of simplified rule phrases, so that clients writing 繁體 meet the same rules."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opencc_purepy import OpenCC

# Standard traditional, Taiwan and Hong Kong usage differ in a few characters (后台: 後臺 / 後台, 账户: 賬戶 / 帳户).
_CONFIGS = ("s2t", "s2tw", "s2hk")


@cache
def _converters() -> tuple[OpenCC, ...]:
    # Importing the converter and loading its tables takes about half a second: once per process, and only
    # when a rule set with Chinese phrases is built.
    from opencc_purepy import OpenCC

    return tuple(OpenCC(config) for config in _CONFIGS)


@cache
def traditional_forms(phrase: str) -> tuple[str, ...]:
    """The phrase's traditional spellings that differ from it (none for ASCII or already traditional text)."""
    if phrase.isascii():
        return ()
    forms: list[str] = []
    for converter in _converters():
        form = converter.convert(phrase)
        # The converter reports a failure by returning a message instead of raising; a character-for-character
        # conversion always keeps the length, so anything else is not a spelling of the phrase.
        if form != phrase and len(form) == len(phrase) and form not in forms:
            forms.append(form)
    return tuple(forms)


@cache
def _to_simplified() -> OpenCC:
    from opencc_purepy import OpenCC

    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    """The text with traditional characters folded to simplified ones; ASCII text comes back as it is."""
    if text.isascii():
        return text
    return _to_simplified().convert(text)
