"""Traditional spellings of simplified rule phrases, so that clients writing 繁體 meet the same rules."""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator
from functools import cache, lru_cache
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opencc_purepy import OpenCC
    from opencc_purepy.dictionary_lib import DictionaryMaxlength
    from opencc_purepy.starter_union import StarterUnion

# Standard traditional, Taiwan and Hong Kong usage differ in a few characters (后台: 後臺 / 後台, 账户: 賬戶 / 帳户).
_CONFIGS = ("s2t", "s2tw", "s2hk")
# OpenCC's default loads every table it has (about 30 MiB in each process that converts anything). kefu
# loads only the tables its conversions read, and of the big one (STPhrases, 49,000 phrases) only the
# phrases that occur in the text being converted: the tables of a rule set take kilobytes, not megabytes.
_TO_TRADITIONAL = {
    "st_characters": "STCharacters.txt",
    "tw_variants_phrases": "TWVariantsPhrases.txt",
    "tw_variants": "TWVariants.txt",
    "hk_variants_phrases": "HKVariantsPhrases.txt",
    "hk_variants": "HKVariants.txt",
}
_PHRASES_SLOT, _PHRASES_FILE = "st_phrases", "STPhrases.txt"
_TO_SIMPLIFIED = {"ts_phrases": "TSPhrases.txt", "ts_characters": "TSCharacters.txt"}
# Every phrase's spellings, once found: rule sets are rebuilt with mostly the same phrases.
_spellings: dict[str, tuple[str, ...]] = {}


def _table_text(name: str) -> str:
    return (resources.files("opencc_purepy") / "dicts" / name).read_text("utf-8")


def _table_lines(name: str) -> Iterator[str]:
    """A table's lines one at a time: the big one is never held whole."""
    with (resources.files("opencc_purepy") / "dicts" / name).open("r", encoding="utf-8") as lines:
        yield from lines


def _tables(files: dict[str, str]) -> DictionaryMaxlength:
    """A private table set with only `files` loaded (slot name to packaged file)."""
    from opencc_purepy.dictionary_lib import DictionaryMaxlength

    tables = DictionaryMaxlength()  # type: ignore[no-untyped-call]
    for slot, name in files.items():
        setattr(tables, slot, DictionaryMaxlength.load_dictionary_maxlength(_table_text(name)))
    return tables


@cache
def _longest_phrase() -> int:
    return max(len(line.partition("\t")[0]) for line in _table_lines(_PHRASES_FILE))


def _phrases_in(texts: list[str]) -> tuple[dict[str, str], int]:
    """The entries of the phrase table whose phrase occurs in one of `texts` (the only ones a conversion reads)."""
    longest = _longest_phrase()
    occurring = {t[i:j] for t in texts for i in range(len(t)) for j in range(i + 2, min(len(t), i + longest) + 1)}
    table: dict[str, str] = {}
    for line in _table_lines(_PHRASES_FILE):
        phrase, _, rest = line.partition("\t")
        if phrase in occurring and rest:
            table[phrase] = rest.split()[0]
    return table, max((len(p) for p in table), default=1)


def _converters(texts: list[str]) -> tuple[OpenCC, ...]:
    from opencc_purepy import OpenCC

    tables = _tables(_TO_TRADITIONAL)
    setattr(tables, _PHRASES_SLOT, _phrases_in(texts))
    return tuple(OpenCC(config, tables) for config in _CONFIGS)


def traditional_spellings(phrases: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Each phrase's traditional spellings that differ from it (none for ASCII or already traditional text)."""
    wanted = list(dict.fromkeys(phrases))
    new = [p for p in wanted if p not in _spellings and not p.isascii()]
    if new:
        converters = _converters(new)
        for phrase in new:
            forms: list[str] = []
            for converter in converters:
                form = converter.convert(phrase)
                # The converter reports a failure by returning a message instead of raising; a character-for-
                # character conversion always keeps the length, so anything else is not a spelling of the phrase.
                if form != phrase and len(form) == len(phrase) and form not in forms:
                    forms.append(form)
            _spellings[phrase] = tuple(forms)
    return {p: _spellings.get(p, ()) for p in wanted}


def traditional_forms(phrase: str) -> tuple[str, ...]:
    """The traditional spellings of one phrase (see traditional_spellings: prefer it for many phrases)."""
    return traditional_spellings((phrase,))[phrase]


def _packed(values: list[int]) -> array[int]:
    """The same non-negative integers as an array of the smallest machine type that holds them."""
    top = max(values, default=0)
    code = next(c for c in ("B", "H", "I", "Q") if top < 1 << (8 * array(c).itemsize))
    return array(code, values)


def _compact(union: StarterUnion) -> None:
    """The union's two tables by BMP character (65,536 entries each) as arrays instead of lists: 0.2 MiB, not 1 MiB.

    OpenCC indexes a union (for each first character, the lengths of its phrases) on its first conversion and then
    reads only that index; the tables, same values, serve unions without one.
    """
    union.bmp_mask = _packed(union.bmp_mask)  # type: ignore[assignment]
    union.bmp_cap = _packed(union.bmp_cap)  # type: ignore[assignment]


@cache
def _to_simplified() -> OpenCC:
    from opencc_purepy import OpenCC
    from opencc_purepy.union_cache import UnionKey

    converter = OpenCC("t2s", _tables(_TO_SIMPLIFIED))
    # convert() (no punctuation) reads the T2S union: indexed now rather than on the first conversion.
    _compact(converter.union_cache.ensure_indexed(UnionKey.T2S))
    return converter


def to_simplified(text: str) -> str:
    """The text with traditional characters folded to simplified ones; ASCII text comes back as it is."""
    if text.isascii():
        return text
    return _simplified(text)


@lru_cache(maxsize=256)
def _simplified(text: str) -> str:
    # One turn folds the same message for each reading of it (acts, entities, slots, the model's n-grams).
    return _to_simplified().convert(text)
