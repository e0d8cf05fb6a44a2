"""Dialogue acts: what a client message does (affirm, deny, cancel, ask for a person…), read before any detail."""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import ahocorasick

from core.dialogue.classifier import normalize
from core.dialogue.folding import bare_message
from core.dialogue.hanzi import traditional_spellings
from core.dialogue.introductions import Introduction, Introductions
from core.errors import ConfigError
from core.settings import DEFAULT_CONFIG_DIR, DialogueSettings
from core.yaml_files import safe_load


class Act(enum.StrEnum):
    """The acts a client message can perform; several may hold at once ("不对，电话写错了…" denies and edits)."""

    AFFIRM = "affirm"
    DENY = "deny"
    CANCEL = "cancel"
    HANDOFF = "handoff"
    # "call me", "打电话给我": a person is asked for unless the message gives the number (see reading.recognize).
    CALL_BACK = "call_back"
    STATUS = "status"
    GREETING = "greeting"
    THANKS = "thanks"
    BOT_QUESTION = "bot_question"
    DECLINE_CONTACT = "decline_contact"
    # "等一下我查一下": the answer is on its way, the client went to look it up.
    HOLD = "hold"
    SIDE_MARKER = "side_marker"
    # "还有个事…": another issue than the one being handled or filed.
    NEW_ISSUE = "new_issue"
    # "补充一下…": more about the issue already filed.
    ADDITION = "addition"
    QUESTION = "question"
    SCORE = "score"
    CLAIM = "claim"
    SKIP = "skip"
    # A correction of one detail ("电话写错了，应该是…"); recognised against the form, see actions.recognize.
    EDIT = "edit"


# Acts whose phrases live in config/acts.yaml under `acts:`.
_PHRASE_ACTS = (
    Act.AFFIRM,
    Act.DENY,
    Act.CANCEL,
    Act.HANDOFF,
    Act.CALL_BACK,
    Act.STATUS,
    Act.GREETING,
    Act.THANKS,
    Act.BOT_QUESTION,
    Act.DECLINE_CONTACT,
    Act.HOLD,
    Act.SIDE_MARKER,
    Act.NEW_ISSUE,
    Act.ADDITION,
)
ALONE = "alone"
# A greeting's hit that is the client's introduction of himself ("我是XX品牌的小王"), found by its pattern.
INTRODUCTION = "introduction"
# The kind of words that are no act, though an act's phrase is inside them: they only keep it from matching.
PLAIN = "plain"
# A phrase that counts only when it opens the message, set apart ("还有，…", "then …"): inside a sentence it is
# an ordinary word ("还有点问题").
LEADING = "leading"
_PHRASE_KINDS = frozenset(a.value for a in _PHRASE_ACTS)
# "5分" is a score, "5分钟" is a duration; "25分" and "3.5分" are not 5. Clients also score out of ten ("打10分",
# "8分", "9/10") or give a hundred as full marks ("100分"); "十分满意" is "very satisfied", no ten.
_SCORE_DIGITS = re.compile(
    r"(?:打\s*)?(?<![\d.])(100|10|[1-9]|[一二三四五六七八九])\s*(?:(分)(?!钟)|(星|颗星|stars?\b|/\s*5\b)|(/\s*10\b))"
)
_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


@dataclass(frozen=True, slots=True)
class Acts:
    """The acts found in one message, with what they carry (a score, a claimed category)."""

    found: frozenset[Act]
    # The message says nothing but acts and fillers ("好的提交吧", "嗯 没事了 谢谢").
    pure: bool = False
    score: int | None = None
    claim: str | None = None
    # A correction of one detail of the form: (detail name, new value), e.g. ("phone", "13922223334").
    edit: tuple[str, str] | None = None

    def __contains__(self, act: object) -> bool:
        return act in self.found

    def to_json(self) -> dict[str, Any]:
        return {
            "found": sorted(self.found),
            "pure": self.pure,
            "score": self.score,
            "claim": self.claim,
            "edit": list(self.edit) if self.edit else None,
        }


NO_ACTS = Acts(frozenset())


@dataclass(frozen=True, slots=True)
class _Hit:
    start: int
    end: int  # exclusive
    kind: str  # an Act value, "claim", "negclaim" or "score"
    value: str


def _phrase(value: object) -> str:
    # YAML reads a bare yes / no / on as a boolean: a phrase must be written in quotes then.
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ConfigError(f"act phrase {value!r} is not text: quote it in config/acts.yaml")
    return str(value)


def _is_word(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _with_traditional(phrases: Iterable[str]) -> tuple[str, ...]:
    forms: list[str] = []
    for form, spellings in traditional_spellings(normalize(phrase) for phrase in phrases).items():
        forms.extend(f for f in (form, *(normalize(t) for t in spellings)) if f not in forms)
    return tuple(forms)


def _strings(raw: Mapping[str, Any], key: str) -> list[str]:
    """A list of phrases; YAML reads a bare no, yes, on or off as true or false, which no client ever wrote."""
    values = list(raw.get(key) or ())
    if not all(isinstance(v, str) for v in values):
        raise ConfigError(f"{key}: expected phrases as text (quote yes, no, on and off)")
    return values


class ActLexicon:
    """The phrases of every act (config/acts.yaml), compiled into one automaton; immutable."""

    def __init__(self, raw: Mapping[str, Any], settings: DialogueSettings | None = None) -> None:
        """Compile `raw` (the shape of config/acts.yaml) with the settings' handoff and skip words."""
        dialogue = settings or DialogueSettings()
        handoff_exact, handoff_contains = dialogue.handoff_exact, dialogue.handoff_contains
        skip_words = dialogue.skip_words
        if not isinstance(raw.get("acts") or {}, Mapping):
            raise ConfigError("acts: expected a mapping of act names to phrases")
        acts = raw.get("acts") or {}
        self.max_other = int(raw.get("alone_max_other", 2))
        self.fillers = frozenset(str(raw.get("fillers", "")))
        # Side markers that, as the whole message, mark nothing and say yes ("对了" alone is "right").
        whole = [normalize(p) for p in _strings(raw, "affirm_when_whole")]
        spelled = traditional_spellings(whole)
        self.affirm_when_whole = frozenset(s for w in whole for s in (w, *(normalize(t) for t in spelled[w])))
        # A "no" that, as the whole answer to a detail that may be left out, leaves it out.
        self.skip_when_optional = frozenset(_with_traditional(_strings(raw, "skip_when_optional")))
        # Longest first, so "问个问题" goes before "问题" and leaves nothing behind.
        self.openers = tuple(sorted(_with_traditional(_strings(raw, "openers")), key=len, reverse=True))
        for name, spec in acts.items():
            if name not in _PHRASE_KINDS:
                raise ConfigError(f"acts: unknown act {name!r}; known: {', '.join(sorted(_PHRASE_KINDS))}")
            if not isinstance(spec or {}, Mapping) or not all(
                isinstance((spec or {}).get(key, []), list) for key in ("phrases", "alone_phrases", "leading_phrases")
            ):
                raise ConfigError(f"acts.{name}: expected phrases, alone_phrases and leading_phrases as lists")
        self.alone = frozenset(Act(name) for name, spec in acts.items() if (spec or {}).get("alone"))
        if not isinstance(raw.get("introduction") or {}, Mapping):
            raise ConfigError("introduction: expected a mapping of word lists")
        self._introductions = Introductions(raw.get("introduction") or {})
        channel = raw.get("own_channel") or {}
        if not isinstance(channel, Mapping):
            raise ConfigError("own_channel: expected words and alongside as lists")
        self._channel_words = _words_pattern(_with_traditional(_strings(channel, "words")))
        self._channel_alongside = _words_pattern(_with_traditional(_strings(channel, "alongside")))
        question = raw.get("question") or {}
        self.question_marks = tuple(normalize(str(m)) for m in question.get("marks", ()))
        self.question_endings = _with_traditional(str(m) for m in question.get("endings", ()))
        self.question_openings = _with_traditional(str(m) for m in question.get("openings", ()))
        # (phrase, kind, value); value "alone" marks a phrase that counts only in a message of acts alone
        # ("人工" is a request for a person, "人工智能广告" is not).
        entries: list[tuple[str, str, str]] = []
        for name, spec in acts.items():
            act = Act(name)
            entries.extend((_phrase(p), act.value, "") for p in (spec or {}).get("phrases", ()))
            entries.extend((_phrase(p), act.value, ALONE) for p in (spec or {}).get("alone_phrases", ()))
            entries.extend((_phrase(p), act.value, LEADING) for p in (spec or {}).get("leading_phrases", ()))
        entries.extend((str(p), Act.HANDOFF.value, "") for p in handoff_contains)
        entries.extend((str(p), Act.HANDOFF.value, ALONE) for p in handoff_exact)
        # Skip words count only on their own ("跳过", "无"), so they are an act of the whole message.
        self.skip_words = frozenset(normalize(w) for w in skip_words)
        for category, phrases in (raw.get("claims") or {}).items():
            entries.extend((str(p), "claim", str(category)) for p in phrases)
        # Each category's own words ("咨询", "complaint"): a message names the category by them outside a claim too.
        self.category_words = {
            str(category): _with_traditional(str(w) for w in words)
            for category, words in (raw.get("category_words") or {}).items()
        }
        negations = [str(n) for n in raw.get("negations", ())]
        for category, words in (raw.get("category_words") or {}).items():
            for word in words:
                for negation in negations:
                    joint = f"{negation} {word}" if negation.isascii() and str(word).isascii() else negation + str(word)
                    entries.append((joint, "negclaim", str(category)))
        # English words around a claim that say nothing of the issue ("I'd like to file a complaint").
        fillers = sorted((normalize(str(w)) for w in raw.get("claim_fillers") or ()), key=len, reverse=True)
        alternation = "|".join(re.escape(w) for w in fillers if w)
        self._claim_fillers = re.compile(rf"(?<![a-z0-9'])(?:{alternation})(?![a-z0-9'])") if alternation else None
        # Words that hold an act's phrase without doing it ("帮我查一下" asks the agency to look: no pause).
        entries.extend((str(p), PLAIN, "") for p in raw.get("plain") or ())
        for score, phrases in (raw.get("score_words") or {}).items():
            entries.extend((str(p), "score", str(int(score))) for p in phrases)
        # Scores only as the whole message ("👍" is 4 at the satisfaction prompt, an "ok" in a sentence).
        self.score_when_whole = {
            normalize(str(p)): int(score)
            for score, phrases in (raw.get("score_when_whole") or {}).items()
            for p in phrases
        }
        self._automaton: Any = ahocorasick.Automaton()
        seen: dict[str, tuple[str, str]] = {}
        forms = [(normalize(phrase), kind, value) for phrase, kind, value in entries]
        traditional = traditional_spellings(form for form, _, _ in forms if form)
        for form, kind, value in forms:
            if not form:
                continue
            for spelling in (form, *(normalize(t) for t in traditional[form])):
                # The first entry of a spelling keeps it: acts come before claims and scores in the file's order.
                seen.setdefault(spelling, (kind, value))
        for spelling, (kind, value) in seen.items():
            self._automaton.add_word(spelling, (len(spelling), kind, value))
        if seen:
            self._automaton.make_automaton()
        self._empty = not seen

    @classmethod
    def load(cls, path: Path, settings: DialogueSettings | None = None) -> ActLexicon:
        """The phrases of config/acts.yaml, with the handoff and skip words of the dialogue settings."""
        dialogue = settings or DialogueSettings()
        words = (tuple(dialogue.handoff_exact), tuple(dialogue.handoff_contains), tuple(dialogue.skip_words))
        return _compiled(path.read_text(encoding="utf-8"), *words)

    def _hits(self, norm: str) -> list[_Hit]:
        """Leftmost-longest matches that sit on word boundaries where the phrase ends in ASCII letters."""
        if self._empty:
            return []
        found: list[_Hit] = []
        last = len(norm) - 1
        for end, (length, kind, value) in self._automaton.iter(norm):
            start = end - length + 1
            if _is_word(norm[start]) and start > 0 and _is_word(norm[start - 1]):
                continue
            if _is_word(norm[end]) and end < last and _is_word(norm[end + 1]):
                continue
            found.append(_Hit(start, end + 1, kind, value))
        found.sort(key=lambda h: (h.start, -(h.end - h.start)))
        kept: list[_Hit] = []
        reach = 0
        for hit in found:
            if hit.start >= reach:
                kept.append(hit)
                reach = hit.end
        return kept

    def _other(self, norm: str, hits: list[_Hit]) -> int:
        """Characters that are neither part of a phrase nor a filler, space or symbol."""
        covered = [False] * len(norm)
        for hit in hits:
            for i in range(hit.start, hit.end):
                covered[i] = True
        count = 0
        for i, ch in enumerate(norm):
            if covered[i] or ch.isspace() or ch in self.fillers or unicodedata.category(ch) in ("So", "Sk", "Cf"):
                continue
            count += 1
        return count

    def is_question(self, norm: str) -> bool:
        """A question by its shape: a question mark, a closing 吗/呢, or an opening such as 请问 / how."""
        text = norm.strip()
        if any(mark in text for mark in self.question_marks):
            return True
        bare = text.rstrip(" .!。！~～")
        if bare.endswith(self.question_endings):
            return True
        for opening in self.question_openings:
            if text.startswith(opening) and (
                not opening.isascii() or text[len(opening) : len(opening) + 1] in (" ", "")
            ):
                return True
        return False

    def issue_breaks(self, norm: str) -> list[int]:
        """Where another issue may begin in a (normalized) message: the starts of "另外", "还有个事", "also"…"""
        kinds = (Act.SIDE_MARKER.value, Act.NEW_ISSUE.value)
        return [hit.start for hit in self._hits(norm) if hit.kind in kinds]

    def without_claims(self, norm: str) -> str:
        """The (normalized) text without the words by which the client names a category ("咨询一下", "I'd like to
        file a complaint")."""
        named = False
        for hit in reversed(self._hits(norm)):
            if hit.kind in ("claim", "negclaim"):
                norm = norm[: hit.start] + norm[hit.end :]
                named = True
        if named and self._claim_fillers is not None:
            norm = " ".join(self._claim_fillers.sub(" ", norm).split())
        return norm

    def without_openers(self, norm: str) -> str:
        """The (normalized) text without the words that announce an issue without telling it ("我想咨询下",
        "想问个问题", "quick question") and without the categories' own words."""
        for word in (*self.openers, *(w for words in self.category_words.values() for w in words)):
            norm = norm.replace(word, " ")
        return norm

    def named_categories(self, text: str) -> frozenset[str]:
        """The categories a message names, by a claim ("我是投诉") or a category's word ("我要咨询"), never after a
        negation ("不是投诉")."""
        norm = normalize(text)
        named = {hit.value for hit in self._hits(norm) if hit.kind == "claim"}
        rest = self.without_claims(norm)
        for category, words in self.category_words.items():
            if any(has_word(rest, word) for word in words):
                named.add(category)
        return frozenset(named)

    def introduction(self, text: str) -> Introduction | None:
        """The client's introduction of himself in the message ("我是星辰传媒的李经理"), if it makes one."""
        norm = normalize(text)
        return next(iter(self._introductions.find(norm, text)), None)

    def _introduced(self, norm: str, text: str, hits: list[_Hit]) -> list[_Hit]:
        """The hits with the client's introductions among them, as greetings: "是" of "我是…" and "经理" of "李经理"
        are no acts of their own. An introduction that holds a claim ("我是投诉") is none."""
        for found in self._introductions.find(norm, text):
            inside = [h for h in hits if h.start < found.end and found.start < h.end]
            if any(h.kind in ("claim", "negclaim") for h in inside):
                continue
            hits = [h for h in hits if h not in inside]
            hits.append(_Hit(found.start, found.end, Act.GREETING.value, INTRODUCTION))
        return sorted(hits, key=lambda h: h.start)

    def recognize(self, text: str) -> Acts:
        """The acts of one message."""
        norm = normalize(text)
        if not norm.strip():
            return NO_ACTS
        hits = self._introduced(norm, text, self._hits(norm))
        other = self._other(norm, [h for h in hits if h.kind != PLAIN])
        act_hits = [h for h in hits if h.kind in _PHRASE_KINDS]
        alone_ok = bool(act_hits) and other <= min(self.max_other, sum(h.end - h.start for h in act_hits) // 3)
        found: set[Act] = set()
        for hit in act_hits:
            act = Act(hit.kind)
            # "不对，电话写错了…", "好的，另外…": an act that opens the message and is set apart by punctuation.
            leading = hit.start == _first_meaningful(norm, self.fillers) and _set_apart(norm, hit.end)
            # A phrase that counts only alone ("客服", "人工") never counts by leading: "客服，你好…" asks no person.
            if hit.value == ALONE:
                counts = alone_ok
            elif hit.value == LEADING:
                counts = leading
            else:
                counts = act not in self.alone or alone_ok or leading
            if counts:
                found.add(act)
        pure = alone_ok and all(h.kind in _PHRASE_KINDS for h in hits)
        stripped = bare_message(norm)
        if pure and found == {Act.SIDE_MARKER} and stripped in self.affirm_when_whole:
            found = {Act.AFFIRM}
        if stripped in self.skip_words:
            found.add(Act.SKIP)
            pure = True
        if self.is_question(norm):
            found.add(Act.QUESTION)
        claim = self._claim(hits)
        if claim is None and (claim := self._bare_category(norm)) is not None:
            # The category's word alone answers no detail ("投诉" asked for the outcome wanted).
            pure = True
        if claim is not None:
            found.add(Act.CLAIM)
        score = self._score(norm, hits)
        if score is not None:
            found.add(Act.SCORE)
        return Acts(frozenset(found), pure=pure, score=score, claim=claim)

    def mentions_channel(self, text: str) -> bool:
        """Whether the message speaks of a way to reach the client ("微信", "邮箱", "这个号")."""
        return self._channel_words is not None and self._channel_words.search(normalize(text)) is not None

    def names_own_channel(self, text: str) -> bool:
        """Whether the message, asked for a contact, names the client's channel (or one he gave) instead: "就这个微信",
        "同上", "就用这个号", "微信 zhangsan"."""
        norm = normalize(text)
        if self._channel_words is None or not self._channel_words.search(norm):
            return False
        rest = self._channel_words.sub(" ", norm)
        if self._channel_alongside is not None:
            rest = self._channel_alongside.sub(" ", rest)
        left = "".join(ch if ch.isalnum() or ch in "_-" else " " for ch in rest).split()
        return not left or (len(left) == 1 and _ACCOUNT_ID.fullmatch(left[0]) is not None)

    def declines(self, text: str) -> bool:
        """Whether the message is only a "no" that leaves out a detail that may be left out ("不用了", "no")."""
        whole = bare_message(normalize(text))
        return whole in self.skip_when_optional or whole in self.skip_words

    def _bare_category(self, norm: str) -> str | None:
        """The category whose word is the whole message ("投诉", "咨询！"): named as plainly as a claim, wherever
        the bot's buttons do not offer it (at the summary, while a detail is asked)."""
        bare = norm.strip(" " + "".join(self.fillers))
        return next((category for category, words in self.category_words.items() if bare in words), None)

    @staticmethod
    def _claim(hits: list[_Hit]) -> str | None:
        claimed = {h.value for h in hits if h.kind == "claim"}
        claimed -= {h.value for h in hits if h.kind == "negclaim"}
        return next(iter(claimed)) if len(claimed) == 1 else None

    def _score(self, norm: str, hits: list[_Hit]) -> int | None:
        for digits in _SCORE_DIGITS.finditer(norm):
            score = _scaled(digits)
            if score is not None:
                return score
        words = [int(h.value) for h in hits if h.kind == "score"]
        if words:
            return words[0]
        # "👍" said alone scores; beside other words it is only an "ok".
        bare = "".join(ch for ch in norm if not ch.isspace() and unicodedata.category(ch) not in ("Sk", "Cf", "Mn"))
        for phrase, score in self.score_when_whole.items():
            if bare and not bare.replace(phrase, ""):
                return score
        return None

    def remark(self, text: str) -> str:
        """What a message says besides its acts, its score and fillers: "小王" of "非常满意，谢谢小王", "" of "五星"."""
        norm = _SCORE_DIGITS.sub(" ", normalize(text))
        for hit in reversed(self._hits(norm)):
            norm = norm[: hit.start] + " " + norm[hit.end :]
        kept = (
            ch
            for ch in norm
            if not ch.isspace() and ch not in self.fillers and not unicodedata.category(ch).startswith(("S", "P", "C"))
        )
        return "".join(kept)


def _scaled(digits: re.Match[str]) -> int | None:
    """A score matched by _SCORE_DIGITS on the 1–5 scale: out of five as said, out of ten halved (rounded up)."""
    value = digits.group(1)
    number = int(value) if value.isdigit() else _CN_DIGITS[value]
    out_of_ten = digits.group(4) is not None or (digits.group(2) is not None and number > 5)
    if number == 100 and digits.group(2) is not None:
        return 5
    if out_of_ten and number <= 10:
        return (number + 1) // 2
    return number if number <= 5 else None


# An account's ID said beside the channel's word ("微信 zhangsan"): a WeChat ID's shape.
_ACCOUNT_ID = re.compile(r"[a-z][a-z0-9_-]{5,19}")


def _words_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    """Any of the (normalized) words, longest first; one that begins or ends in a letter or digit only as a word."""
    parts = []
    for word in sorted(set(words), key=len, reverse=True):
        before = r"(?<![a-z0-9])" if _is_word(word[0]) else ""
        after = r"(?![a-z0-9])" if _is_word(word[-1]) else ""
        parts.append(before + re.escape(word) + after)
    return re.compile("|".join(parts)) if parts else None


def has_word(norm: str, word: str) -> bool:
    """Whether `word` occurs in `norm`, set apart from ASCII letters and digits where it ends in one."""
    start = norm.find(word)
    while start >= 0:
        end = start + len(word)
        if not (_is_word(word[0]) and start > 0 and _is_word(norm[start - 1])) and not (
            _is_word(word[-1]) and end < len(norm) and _is_word(norm[end])
        ):
            return True
        start = norm.find(word, start + 1)
    return False


def _first_meaningful(norm: str, fillers: frozenset[str]) -> int:
    for i, ch in enumerate(norm):
        if not ch.isspace() and ch not in fillers:
            return i
    return len(norm)


def _set_apart(norm: str, end: int) -> bool:
    """The phrase ending at `end` is followed by the message's end, a space or punctuation."""
    return end >= len(norm) or norm[end].isspace() or unicodedata.category(norm[end]).startswith("P")


@cache
def default_lexicon() -> ActLexicon:
    """The shipped phrases, for callers (and tests) that were given no lexicon."""
    return ActLexicon.load(DEFAULT_CONFIG_DIR / "acts.yaml")


# Compiled lexicons by the file's text and the words the settings add: every engine (each start, each test)
# compiles the same phrases with their traditional spellings, a sixtieth of a second each time. A lexicon is
# immutable, so one is shared.
@lru_cache(maxsize=8)
def _compiled(
    text: str, handoff_exact: tuple[str, ...], handoff_contains: tuple[str, ...], skip_words: tuple[str, ...]
) -> ActLexicon:
    words = DialogueSettings(
        handoff_exact=list(handoff_exact), handoff_contains=list(handoff_contains), skip_words=list(skip_words)
    )
    return ActLexicon(safe_load(text) or {}, words)
