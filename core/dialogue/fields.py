"""The words clients use for each detail (config/fields.yaml), and corrections such as "电话写错了 应该是139…"."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

from core.dialogue.dates import find_dates
from core.dialogue.entities import find_phones
from core.dialogue.folding import Folded, fold
from core.settings import config_dir_from_env
from core.yaml_files import load_file

# Fields whose value is an entity: the correction carries the normalised entity, not the words.
_ENTITY_FIELDS = {"phone": find_phones}
# Whether words hold a date does not depend on the day it is counted from: any day will do.
_ANY_DAY = date(2026, 1, 1)
_VALUE_STOP = re.compile(r"[，。！？!?；;,\n]|\.(?:\s|$)")
_TRAILING = re.compile(r"(?:\s|吧|啊|哈|呀|哦|了|呢|啦|嘛|哈哈|please|pls|thx)+$")
# Before a new value: punctuation, and the copula of "不是重新印，是要退款".
_LEADING = re.compile(r"^(?:[\s:：,，\-—=>]|是(?=\S))+")
# A number as clients write one: digits with spaces, dashes or a country code between them.
_NUMBER = re.compile(r"\+?\d[\d\s\-()（）]*")
# What is left of a correction once its words and value are taken out, and says nothing: punctuation, particles.
_NOTHING = re.compile(r"[\W_]|[了的啊吧呀哦呢啦嘛哈噢诶哎]")
# After a detail's name, a colon gives its new value when no marker does ("改一下期望：全额退款").
_COLON = re.compile(r"\s*[:：]")
# The end of a phone number: a few digits ("尾号是3321").
_TAIL_DIGITS = re.compile(r"\d{2,8}(?!\d)")
# "应该是华美不是华美达", "是11号不是1号", "X, not Y": the right words, then the wrong ones.
_CLAUSE_WORDS = r"[^，。！？!?；;,\s]{1,30}"
_CONTRAST = re.compile(
    rf"(?:应该是|应该为|应为|是|should be|(?<=[，。！？!?；;,\s]))\s*({_CLAUSE_WORDS}?)"
    rf"\s*(?:而不是|不是|, not | not )\s*({_CLAUSE_WORDS})"
)
# "…" in a word stands for a few words of one clause ("从…开始" holds "从上线开始").
_GAP = r"[^，。！？!?；;,\n]{0,12}?"


def _alternation(words: Iterable[str], *, not_after: str = "") -> re.Pattern[str]:
    """Longest word first, English words only whole, "…" a gap of a few words, optionally not right after any of
    `not_after`."""
    parts = []
    for word in sorted(set(words), key=len, reverse=True):
        escaped = re.escape(word.lower()).replace("…", _GAP)
        parts.append(rf"(?<![a-z]){escaped}(?![a-z])" if word.isascii() and word[-1].isalpha() else escaped)
    guard = "".join(f"(?<!{re.escape(c)})" for c in not_after)
    return re.compile(f"{guard}(?:{'|'.join(parts)})")


# Said between a detail's name and its write word ("项目就写…", "联系人请填…").
_WRITE_LEAD = (
    r"\s*(?:那里|这里|那儿|这儿|那栏|这栏|那一栏|这一栏|那一项|这一项|一栏|栏)?"
    r"\s*(?:就|请|帮我|麻烦|也|还是|直接|可以)?\s*"
)
# After a write word, these say how something was written, not what to write ("写得很差", "写错了", "填完了").
_WRITE_NOT = r"(?![得的错了完好清掉过])"


def _write_pattern(words: Iterable[str]) -> re.Pattern[str]:
    """A write word where a detail's name ends, optionally after a polite or emphatic word."""
    alternation = _alternation(words).pattern
    return re.compile(f"{_WRITE_LEAD}{alternation}{_WRITE_NOT}\\s*[:：]?")


@dataclass(frozen=True, slots=True)
class Mention:
    """A field word at a span of the folded text, and the fields it can name."""

    start: int
    end: int
    fields: tuple[str, ...]


@dataclass(frozen=True)
class FieldSynonyms:
    """The field table: which words name which fields, and the cues and markers of a correction."""

    synonyms: dict[str, tuple[str, ...]]
    words: re.Pattern[str]
    cues: re.Pattern[str]
    markers: re.Pattern[str]
    ends: re.Pattern[str]
    ignored: re.Pattern[str] | None
    # Words that say when without naming a day ("一直这样", "从上线开始", "不记得了").
    when: re.Pattern[str] | None = None
    # Words that go with a correction and say nothing besides ("不好意思", "我的", "现在").
    fillers: re.Pattern[str] | None = None
    # A write word right after a field's name ("项目写…"): a correction with its value (see `_written`).
    writes: re.Pattern[str] | None = None
    # Words that add the value to what the detail holds ("再加一条").
    adds: re.Pattern[str] | None = None
    # Words that give only the end of the phone number ("尾号").
    tails: re.Pattern[str] | None = None

    @classmethod
    def from_data(cls, data: dict[str, object]) -> FieldSynonyms:
        """Build from the parsed YAML (see config/fields.yaml for its shape)."""
        fields = _mapping(data["fields"])
        synonyms: dict[str, list[str]] = {}
        for field, words in fields.items():
            for word in words:
                synonyms.setdefault(word.lower(), []).append(field)
        ignored = _strings(data.get("ignore", []))
        return cls(
            synonyms={word: tuple(names) for word, names in synonyms.items()},
            words=_alternation(synonyms),
            cues=_alternation(_strings(data["edit_cues"])),
            # "不是" and "没…" are denials, not the marker "是" of a new value.
            markers=_alternation(_strings(data["value_markers"]), not_after="不而没"),
            ends=_alternation(_strings(data["value_ends"])),
            ignored=_alternation(ignored) if ignored else None,
            when=_alternation(_strings(data["when_words"])) if data.get("when_words") else None,
            fillers=_alternation(_strings(data["edit_fillers"])) if data.get("edit_fillers") else None,
            writes=_write_pattern(_strings(data["write_words"])) if data.get("write_words") else None,
            adds=_alternation(_strings(data["add_words"])) if data.get("add_words") else None,
            tails=_alternation(_strings(data["tail_words"])) if data.get("tail_words") else None,
        )

    @classmethod
    def load(cls, path: Path) -> FieldSynonyms:
        """Read a fields.yaml."""
        return cls.from_data(load_file(path))

    def _mentions(self, folded: str) -> list[Mention]:
        if self.ignored is not None:
            folded = self.ignored.sub(lambda m: " " * len(m[0]), folded)
        return [Mention(m.start(), m.end(), self.synonyms[m[0]]) for m in self.words.finditer(folded)]

    def mentions(self, text: str) -> tuple[str, ...]:
        """Fields the text names, in the order it names them."""
        names: dict[str, None] = {}
        for mention in self._mentions(fold(text).folded):
            names.update(dict.fromkeys(mention.fields))
        return tuple(names)

    def says_when(self, text: str) -> bool:
        """Whether the text tells when: a date ("上周三", "三天前"), how long or since what ("一直这样", "从上线开始"),
        or that the client does not know ("不记得了")."""
        folded = fold(text).folded
        if find_dates(folded, _ANY_DAY):
            return True
        return self.when is not None and self.when.search(folded) is not None

    def label_end(self, text: str, field: str) -> int:
        """Where an answer opens with a word naming its own field ("项目是年货节", "Project: Spring"), the end of
        that word; 0 otherwise."""
        folded = fold(text).folded
        found = self.words.match(folded)
        return found.end() if found is not None and field in self.synonyms[found[0]] else 0

    def edit_request(self, text: str) -> tuple[str, str] | None:
        """A correction of one field and its new value, or None when the text corrects nothing.

        The value is the normalised entity for an entity field (a phone number), else the client's words after
        应该是 / 改成 / 是 / should be / to, up to a contrast or the end of the clause. It is "" when the client
        names a field to correct without giving the new value ("电话写错了").
        """
        folded = fold(text)
        if not self.cues.search(folded.folded):
            return self._written(folded)
        mentions = self._mentions(folded.folded)
        if not mentions:
            # "不对，应该是13922223334", "写错了，是上周五开始的": the value's shape names the field.
            phones = find_phones(text)
            return ("phone", phones[0]) if phones else self._dated(folded)
        bounds = [m.start for m in mentions[1:]] + [len(folded.folded)]
        first: tuple[str, str] | None = None
        # A value after a colon counts only when no detail is given one after a marker ("项目：春节，时间写错了 是上周"
        # corrects the date).
        for colon in (False, True):
            for mention, bound in zip(mentions, bounds, strict=True):
                marker = (_COLON if colon else self.markers).search(folded.folded, mention.end, bound)
                # The value runs to the end of its clause, even past a field word inside it ("品牌改成新品牌").
                words = self._value(folded.shown, folded.folded, marker.end() if marker else None, len(folded.folded))
                rest = folded.shown[mention.end : bound]
                field, value = _resolve(mention.fields, words, rest)
                if value:
                    return field, value
                first = first or (field, "")
        # "期望那里写重新印并且赔偿" (重新 a cue of its own): the write word after the detail's name gives the value.
        return self._written(folded) or first

    def sole_edit(self, text: str) -> tuple[str, str] | None:
        """The correction and its new value when the text says nothing besides ("电话写错了，应该是139…"), None when
        it says more ("重新配音，电话138…" wants something done and gives the phone beside it) or no new value."""
        found = self.edit_request(text)
        if found is None or not found[1]:
            return None
        folded = fold(text).folded
        if found[0] in _ENTITY_FIELDS:
            # The number as written ("139-0000-1111"), not as normalised.
            rest = _NUMBER.sub(" ", folded)
        else:
            value = fold(found[1]).folded
            at = folded.rfind(value)
            rest = folded[:at] + " " + folded[at + len(value) :] if at >= 0 else folded
        for words in (self.cues, self.writes, self.markers, self.words, self.fillers):
            if words is not None:
                rest = words.sub(" ", rest)
        return found if not _NOTHING.sub("", rest) else None

    def revised(self, text: str, field: str, value: str, held: str) -> str:
        """The detail's new value once a correction of it is applied to what it holds: the end of the number for
        "尾号是3321", the value added for "再加一条：公开道歉", else the value itself."""
        folded = fold(text).folded
        if not held:
            return value
        if field == "phone" and not value and self.tails is not None and find_phones(held):
            tail = self.tails.search(folded)
            digits = _TAIL_DIGITS.search(folded, tail.end()) if tail is not None else None
            # The digits end their clause: "尾号8899的账户扣款错了" tells of an account, not of the phone.
            clause = _VALUE_STOP.search(folded, digits.end()) if digits is not None else None
            after = folded[digits.end() : clause.start() if clause else len(folded)] if digits is not None else ""
            if digits is not None and len(digits[0]) < len(held) and not _NOTHING.sub("", _TRAILING.sub("", after)):
                return held[: -len(digits[0])] + digits[0]
        if value and self.adds is not None and self.adds.search(folded) and fold(value).folded not in fold(held).folded:
            return f"{held}；{value}" if not value.isascii() else f"{held}; {value}"
        return value

    def replaced(self, text: str, held: Mapping[str, str]) -> tuple[str, str] | None:
        """Words of a detail put right without naming it ("名字打错了应该是华美不是华美达"): the one detail that holds
        the wrong words, and its value with the right ones in their place."""
        folded = fold(text)
        if not self.cues.search(folded.folded):
            return None
        for contrast in _CONTRAST.finditer(folded.folded):
            right = folded.shown[contrast.start(1) : contrast.end(1)]
            wrong = folded.shown[contrast.start(2) : contrast.end(2)]
            right, wrong = _TRAILING.sub("", right), _TRAILING.sub("", wrong)
            holders = [name for name, words in held.items() if words and wrong and wrong in words]
            if right and len(holders) == 1:
                return holders[0], held[holders[0]].replace(wrong, right)
        return None

    def named_alone(self, text: str) -> str | None:
        """The field a message names and says nothing else of ("电话", "项目名。"), or None."""
        folded = fold(text).folded.strip(" ，,。.!！?？:：~～吧啊呀哦")
        found = self.words.fullmatch(folded)
        return self.synonyms[found[0]][0] if found is not None else None

    def _written(self, folded: Folded) -> tuple[str, str] | None:
        """The detail named right before a write word, and the value after it ("项目写年度框架合同吧")."""
        if self.writes is None:
            return None
        for mention in self._mentions(folded.folded):
            write = self.writes.match(folded.folded, mention.end)
            if write is None:
                continue
            words = self._value(folded.shown, folded.folded, write.end(), len(folded.folded))
            field, value = _resolve(mention.fields, words, folded.shown[write.end() :])
            if value:
                return field, value
        return None

    def _dated(self, folded: Folded) -> tuple[str, str] | None:
        """The start date given after a marker, when no field is named: ("since", "上周五开始的")."""
        marker = self.markers.search(folded.folded)
        if marker is None:
            return None
        words = self._value(folded.shown, folded.folded, marker.end(), len(folded.folded))
        return ("since", words) if words and find_dates(fold(words).folded, _ANY_DAY) else None

    def _value(self, shown: str, folded: str, start: int | None, bound: int) -> str:
        if start is None:
            return ""
        stop = _VALUE_STOP.search(folded, start, bound)
        end = stop.start() if stop else bound
        contrast = self.ends.search(folded, start, end)
        if contrast:
            end = contrast.start()
        value = _LEADING.sub("", shown[start:end])
        return _TRAILING.sub("", value).strip().strip("「」“”\"《》『』'")


def _resolve(fields: Sequence[str], words: str, rest: str) -> tuple[str, str]:
    """The field a mention names, given the value: a number for 联系方式 means the phone."""
    for field in fields:
        find = _ENTITY_FIELDS.get(field)
        if find is None:
            continue
        found = find(words) or find(rest)
        if found:
            return field, found[0]
    others = [f for f in fields if f not in _ENTITY_FIELDS]
    if others:
        return others[0], words
    return fields[0], ""


def _mapping(value: object) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        raise ValueError("fields.yaml: `fields` must map field names to lists of words")
    return {str(field): _strings(words) for field, words in value.items()}


def _strings(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("fields.yaml: expected a list of non-empty strings")
    return list(value)


@cache
def default_synonyms() -> FieldSynonyms:
    """The table in the config folder (KEFU_CONFIG_DIR or config/), read once per process."""
    return FieldSynonyms.load(config_dir_from_env() / "fields.yaml")


def field_mentions(text: str) -> tuple[str, ...]:
    """Fields the text names, in order ("电话和项目名都写错了" -> ("phone", "project"))."""
    return default_synonyms().mentions(text)


def edit_request(text: str) -> tuple[str, str] | None:
    """A correction of one field: ("phone", "13922223334") for "不对，电话写错了 应该是13922223334"."""
    return default_synonyms().edit_request(text)


def named_alone(text: str) -> str | None:
    """The field a message names and nothing else: "phone" for "电话"."""
    return default_synonyms().named_alone(text)


def sole_edit(text: str) -> tuple[str, str] | None:
    """A correction that is all the text says: ("phone", "13900001111") for "电话写错了，应该是13900001111"."""
    return default_synonyms().sole_edit(text)


def revised(text: str, field: str, value: str, held: str) -> str:
    """A correction's value applied to what the detail holds: "尾号是3321" changes the end of the number."""
    return default_synonyms().revised(text, field, value, held)


def replaced(text: str, held: Mapping[str, str]) -> tuple[str, str] | None:
    """("project", "华美酒店开业") for "应该是华美不是华美达" when only the project holds "华美达"."""
    return default_synonyms().replaced(text, held)


def says_when(text: str) -> bool:
    """Whether an answer tells when something began, in a date or in other words ("一直这样", "不记得了")."""
    return default_synonyms().says_when(text)


def label_end(text: str, field: str) -> int:
    """The end of the word by which an answer names its own field ("项目" of "项目叫年货节"), or 0."""
    return default_synonyms().label_end(text, field)
