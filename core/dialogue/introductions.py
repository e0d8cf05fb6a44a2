"""Self-introductions ("我是XX品牌的小王", "this is Anna from Brand X"): part of a greeting, not an issue."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.dialogue.hanzi import to_simplified, traditional_spellings
from core.errors import ConfigError

# Where a clause ends: the introduction must fill its clause ("我是XX品牌的，我们的广告停了" introduces, then tells).
_CLAUSE_END = r"[\s,.!?;:，。！？；：、~～…]"
_HANZI = r"[\u4e00-\u9fff]"
_FROM = "(?:from|at|with|of)"
# "小王", "老张", "阿强": a person called by the surname.
_FAMILIAR = re.compile(rf"[小老阿]{_HANZI}")
_LATIN_NAME = re.compile(r"[a-z][a-z'-]{1,19}")
# Particles after the name or company that say nothing ("XX品牌的", "小王呀").
_TRAILING = "的啊呀哈呢哦嘛"


@dataclass(frozen=True, slots=True)
class Introduction:
    """Where the introduction is in the (normalized) message, and the name to address the client by, if any."""

    start: int
    end: int
    name: str | None


def _strings(raw: Mapping[str, Any], key: str) -> list[str]:
    values = list(raw.get(key) or ())
    if not all(isinstance(v, str) and v for v in values):
        raise ConfigError(f"introduction.{key}: expected a list of words as text")
    return values


def _alternation(words: Iterable[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


class Introductions:
    """The introduction patterns of config/acts.yaml (`introduction:`), compiled; immutable."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        """Compile `raw`, the `introduction` mapping of config/acts.yaml (empty: no introduction is recognised)."""
        leads = [to_simplified(w.lower()) for w in _strings(raw, "leads")]
        self._by_name = frozenset(to_simplified(w.lower()) for w in _strings(raw, "name_leads"))
        self._titles = tuple(to_simplified(w) for w in _strings(raw, "titles"))
        self._companies = tuple(to_simplified(w) for w in _strings(raw, "companies"))
        self._not_openings = tuple(to_simplified(w) for w in _strings(raw, "not_openings"))
        english = [w.lower() for w in _strings(raw, "english_leads")]
        self._english_by_name = frozenset(w.lower() for w in _strings(raw, "english_name_leads"))
        self._english_from = frozenset(w.lower() for w in _strings(raw, "english_from_leads"))
        self._not_names = frozenset(w.lower() for w in _strings(raw, "not_names"))
        all_leads = [*leads, *self._by_name]
        # Most messages hold no lead in any spelling: they are not folded to simplified characters (a tenth of a
        # millisecond) for nothing.
        spelled = traditional_spellings(all_leads)
        self._any_lead = tuple(dict.fromkeys(s for lead in all_leads for s in (lead, *spelled[lead])))
        self._chinese = (
            re.compile(
                rf"(?P<lead>{_alternation(all_leads)})(?P<body>[^\s,.!?;:，。！？；：、~～…]{{1,15}})(?={_CLAUSE_END}|$)"
            )
            if all_leads
            else None
        )
        self._english_leads = (*english, *self._english_by_name, *self._english_from)
        word = r"[a-z][a-z'-]*"
        org = r"[a-z0-9][\w&.'-]*(?:\s+[a-z0-9][\w&.'-]*){0,3}"
        self._english = (
            re.compile(
                rf"(?<![a-z'])(?P<lead>{_alternation(self._english_leads)})\s+"
                rf"(?P<name>{word}(?:\s+(?!{_FROM}\b){word})?)(?:\s+{_FROM}\s+(?P<org>{org}))?"
                # Words run on past a space: only punctuation or the message's end closes the clause.
                rf"(?=\s*[,.!?;:，。！？；：、~～…]|\s*$)"
            )
            if self._english_leads
            else None
        )

    def find(self, norm: str, text: str) -> list[Introduction]:
        """The introductions in `norm` (the message normalized as acts read it; `text` as the client wrote it)."""
        chinese = self._chinese is not None and not norm.isascii() and any(w in norm for w in self._any_lead)
        english = self._english is not None and any(w in norm for w in self._english_leads)
        if not chinese and not english:
            return []
        written = " ".join(unicodedata.normalize("NFKC", text).split())
        # Where normalizing changed the length, the name is given as normalized and no capital can be seen.
        shown = written if len(written) == len(norm) else None
        found: list[Introduction] = []
        if chinese:
            simple = to_simplified(norm)
            if len(simple) == len(norm):
                found.extend(self._chinese_ones(simple, shown or norm))
        if english:
            found.extend(self._english_ones(norm, shown))
        return found

    def _chinese_ones(self, simple: str, shown: str) -> Iterable[Introduction]:
        for match in self._chinese.finditer(simple) if self._chinese is not None else ():
            body = match["body"]
            by_name = match["lead"] in self._by_name
            if body.startswith(self._not_openings):
                continue
            core = body.rstrip(_TRAILING)
            person = _person(core, self._titles, by_name=by_name)
            if person is None and not (core and core.endswith(self._companies + self._titles)):
                continue
            name = None
            if person is not None:
                start = match.start("body") + len(core) - len(person)
                name = shown[start : start + len(person)]
            yield Introduction(match.start(), match.end(), name)

    def _english_ones(self, norm: str, shown: str | None) -> Iterable[Introduction]:
        for match in self._english.finditer(norm) if self._english is not None else ():
            words = match["name"].split()
            if any(w in self._not_names for w in words) or (match["lead"] in self._english_from and not match["org"]):
                continue
            named = match["lead"] in self._english_by_name
            if shown is not None:
                written = shown[match.start("name") : match.end("name")]
                # "This is Anna": a name is written with a capital; "this is urgent" is no introduction.
                named = named or all(w[:1].isupper() for w in written.split())
            if not named:
                continue
            name = shown[match.start("name") : match.end("name")] if shown is not None else None
            yield Introduction(match.start(), match.end(), name)


def _person(core: str, titles: tuple[str, ...], *, by_name: bool) -> str | None:
    """The person a name or company ends with ("小王" of "XX品牌的小王", "李经理"), as the client may be called."""
    last = core.rsplit("的", 1)[-1]
    if _FAMILIAR.fullmatch(last) or (by_name and re.fullmatch(rf"{_HANZI}{{2,4}}", last)):
        return last
    if "的" in core and _LATIN_NAME.fullmatch(last):
        return last
    # "李经理", "王总": a surname (one or two characters) and a title; a title alone ("负责人") names nobody.
    for title in titles:
        if last.endswith(title) and re.fullmatch(rf"{_HANZI}{{1,2}}", last[: -len(title)]):
            return last
    return None
