"""Dates as clients write them ("上周三", "10月底", "11月20号左右", "昨天下午", "last Friday", "Nov 20"), as days.

Every phrase resolves against `today` (the business day in the business time zone) to one day. Phrases
without a year take the latest such day that is not more than a month ahead, since clients mostly tell
when something started. Vague phrases ("10月底", "上个月", "左右", "early Nov") are marked approximate.
See docs/dialogue.md, "Understanding clients: entities", for the choices and their limits.

One module: the patterns and their handlers are one table read top to bottom.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from core.dialogue.numerals import CN_DIGITS, small_int


@dataclass(frozen=True, slots=True)
class DateMention:
    """A date the client wrote: their words, the day it names, whether the words were vague or name a deadline."""

    text: str
    day: date
    approximate: bool
    # Said as the day by which something is wanted ("周五之前给个说法", "fix it by Monday"), not when anything began.
    deadline: bool = False


@dataclass(frozen=True, slots=True)
class Found:
    """A date found at a span of the folded text."""

    start: int
    end: int
    day: date
    approximate: bool


# A day or month number: digits, or Chinese numerals up to three characters ("二十一").
_N = rf"(?:\d{{1,2}}|[{CN_DIGITS}十]{{1,3}})"
_COUNT = rf"(?:\d{{1,3}}|[{CN_DIGITS}十]{{1,3}}|几|半|一两|两三)"
_WEEKDAY_CN = "一二三四五六日天"
_TIME_OF_DAY = (
    rf"(?:\s*(?:早上|早晨|上午|中午|下午|傍晚|晚上|凌晨|夜里|半夜|晚|早))?(?:\s*{_N}\s*[点:时]\s*(?:半|\d{{1,2}}分?)?)?"
)
_MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_MONTH_EN = (
    r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?"
    r"|nov(?:ember)?|dec(?:ember)?)\.?"
)
_WEEKDAYS_EN = {
    "mon": 0,
    "tue": 1,
    "wed": 2,
    "thu": 3,
    "fri": 4,
    "sat": 5,
    "sun": 6,
}
_WEEKDAY_EN = (
    r"(?P<wd>monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tues?|wed|thu(?:rs?)?|fri|sat|sun)(?![a-z])"
)
_EN_COUNTS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7}
_EN_COUNTS |= {"eight": 8, "nine": 9, "ten": 10, "a few": 3, "few": 3, "a couple of": 2, "couple of": 2}

# Words around a date that make it vague; the suffixes become part of the mention's text.
_VAGUE_BEFORE = re.compile(r"(?:大概|大约|差不多|约|估计|可能|around|about|approximately|roughly|~)\s*$")
_VAGUE_AFTER = re.compile(r"\s*(?:左右|前后|上下|那会儿?|那时候?|那几天|附近|or so|ish)")
_LATEST_AHEAD = timedelta(days=31)


def _valid(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _in_year(today: date, month: int, day: int | None) -> date | None:
    """Month and day without a year: this year's, unless that is more than a month ahead (then last year's)."""
    if not 1 <= month <= 12:
        return None
    year = today.year
    first = date(year, month, 1)
    if first - today > _LATEST_AHEAD:
        year -= 1
    if day is None:
        return date(year, month, 1)
    return _valid(year, month, day)


def _month_part(year: int, month: int, part: str | None) -> date:
    """The day a part of a month stands for: its start, middle, last third or end."""
    last = calendar.monthrange(year, month)[1]
    days = {None: 1, "初": 1, "上旬": 1, "early": 1, "中": 15, "中旬": 15, "mid": 15, "下旬": 21, "late": 21}
    return date(year, month, last if part in ("底", "末", "end") else days.get(part, 1))


def _shift_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _monday(today: date, weeks: int) -> date:
    return today - timedelta(days=today.weekday()) + timedelta(weeks=weeks)


_WEEK_OFFSET = {"上上": -2, "大上": -2, "上": -1, "这": 0, "本": 0, "下": 1, None: 0}
_MONTH_OFFSET = {"上上": -2, "大上": -2, "上": -1, "这": 0, "本": 0, "下": 1}
_RELATIVE_DAYS = {
    "大前天": -3,
    "前天": -2,
    "昨天": -1,
    "昨日": -1,
    "昨晚": -1,
    "昨儿": -1,
    "今天": 0,
    "今日": 0,
    "今早": 0,
    "今晚": 0,
    "明天": 1,
    "明早": 1,
    "明晚": 1,
    "后天": 2,
}

Handler = Callable[[re.Match[str], date], tuple[date, bool] | None]


def _ymd(m: re.Match[str], today: date) -> tuple[date, bool] | None:
    day = _valid(int(m["y"]), int(m["m"]), int(m["d"]))
    return (day, False) if day else None


def _month_day(m: re.Match[str], today: date) -> tuple[date, bool] | None:
    month, day = small_int(m["m"]), small_int(m["d"])
    if month is None or day is None:
        return None
    found = _in_year(today, month, day)
    return (found, False) if found else None


def _day_of_month(m: re.Match[str], today: date) -> tuple[date, bool] | None:
    day = small_int(m["d"])
    if day is None or not 1 <= day <= 31:
        return None
    # A day named alone ("3号就结束了") is the latest such day: this month's, or last month's if it is still ahead.
    month_start = today.replace(day=1) if day <= today.day else _shift_months(today.replace(day=1), -1)
    found = _valid(month_start.year, month_start.month, day)
    return (found, False) if found else None


def _numeric_month_day(m: re.Match[str], today: date) -> tuple[date, bool] | None:
    first, second = int(m["a"]), int(m["b"] or m["b2"])
    # Month first, as in "11.20" and "11/20"; "20/11" can only be day first.
    month, day = (first, second) if first <= 12 else (second, first)
    found = _in_year(today, month, day)
    return (found, False) if found else None


def _month(m: re.Match[str], today: date) -> tuple[date, bool] | None:
    month = small_int(m["m"])
    if month is None or not 1 <= month <= 12:
        return None
    start = date(int(m["y"]), month, 1) if m["y"] else _in_year(today, month, None)
    return (_month_part(start.year, start.month, m["part"]), True) if start else None


def _relative_month(m: re.Match[str], today: date) -> tuple[date, bool] | None:
    start = _shift_months(today.replace(day=1), _MONTH_OFFSET[m["rel"]])
    return _month_part(start.year, start.month, m["part"]), True


def _this_month_part(m: re.Match[str], today: date) -> tuple[date, bool] | None:
    return _month_part(today.year, today.month, m["part"]), True


def _year(m: re.Match[str], today: date) -> tuple[date, bool] | None:
    year = today.year + {"前年": -2, "去年": -1, "今年": 0, "明年": 1, "": 0}[m["rel"]]
    return (date(year, 12, 31) if m["part"] in ("底", "末") else date(year, 1, 1)), True


def _relative_day(m: re.Match[str], today: date) -> tuple[date, bool] | None:
    return today + timedelta(days=_RELATIVE_DAYS[m["word"]]), False


def _few_days(m: re.Match[str], today: date) -> tuple[date, bool] | None:
    count = 2 if m["n"] in ("两", "一两") else 3
    return today - timedelta(days=count), True


def _ago(m: re.Match[str], today: date) -> tuple[date, bool] | None:
    token, unit = m["n"], m["unit"]
    vague = bool(m["more"] or m["more2"]) or token in ("几", "半", "一两", "两三")
    count: float | None = {"几": 3, "半": 0.5, "一两": 1, "两三": 2}.get(token)
    if count is None:
        count = small_int(token)
    if count is None:
        return None
    if unit in ("天", "日"):
        return today - timedelta(days=round(count)), vague
    if unit in ("周", "星期", "礼拜"):
        return today - timedelta(days=round(7 * count)), vague
    if unit == "月":
        if count < 1:
            return today - timedelta(days=15), True
        return _shift_months(today, -round(count)), vague
    return _shift_months(today, -12 * round(count)), vague


def _lasting(m: re.Match[str], today: date) -> tuple[date, bool] | None:
    # "已经两周没收到", "三天了": it has lasted that long, so it began about then.
    found = _ago(m, today)
    return (found[0], True) if found else None


def _weekday(m: re.Match[str], today: date) -> tuple[date, bool] | None:
    rel, which = m["rel"], m["wd"]
    if which == "末":
        index, vague = 5, True
    else:
        index, vague = (_WEEKDAY_CN.index(which) if not which.isdigit() else int(which) - 1), False
        index = min(index, 6)
    day = _monday(today, _WEEK_OFFSET[rel]) + timedelta(days=index)
    if rel is None and day > today:
        day -= timedelta(weeks=1)
    return day, vague


def _week(m: re.Match[str], today: date) -> tuple[date, bool] | None:
    return _monday(today, _WEEK_OFFSET[m["rel"]]), True


# Festivals on a fixed day of the solar year ("元旦当天", "从国庆开始", "双十一那天"): month and day.
_FESTIVALS = {
    "元旦": (1, 1),
    "情人节": (2, 14),
    "妇女节": (3, 8),
    "女神节": (3, 8),
    "劳动节": (5, 1),
    "五一": (5, 1),
    "儿童节": (6, 1),
    "六一": (6, 1),
    "国庆": (10, 1),
    "国庆节": (10, 1),
    "光棍节": (11, 11),
    "双十一": (11, 11),
    "双11": (11, 11),
    "双十二": (12, 12),
    "双12": (12, 12),
    "平安夜": (12, 24),
    "圣诞": (12, 25),
    "圣诞节": (12, 25),
}
# Words after a festival that make it a day: the day itself ("当天", "开始"), or about then ("前后", "期间", "后").
_FESTIVAL_DAY = ("当天", "那天", "当日", "开始", "以来", "起")
_FESTIVAL_ABOUT = (
    "前后",
    "期间",
    "假期",
    "长假",
    "那会儿",
    "那会",
    "那几天",
    "的时候",
    "左右",
    "之后",
    "以后",
    "之前",
    "以前",
)
_FESTIVAL_AFTER = (*_FESTIVAL_DAY, *_FESTIVAL_ABOUT, "后", "前")


def _festival(m: re.Match[str], today: date) -> tuple[date, bool] | None:
    month, day = _FESTIVALS[m["fest"]]
    found = _in_year(today, month, day)
    return (found, m["after"] is not None and m["after"] not in _FESTIVAL_DAY) if found else None


# The close of today, a day only as a deadline: "by end of day", "by EOD"; "at end of day yesterday" is none.
_END_OF_DAY = re.compile(r"end of|eod|cob")
_BY_THE = re.compile(r"(?:by|before|until|till)\s+(?:the\s+)?$")


def _en_relative_day(m: re.Match[str], today: date) -> tuple[date, bool] | None:
    if _END_OF_DAY.match(m["word"]) and not _BY_THE.search(m.string, 0, m.start()):
        return None
    shift = {"the day before yesterday": -2, "yesterday": -1, "tomorrow": 1}
    return today + timedelta(days=shift.get(m["word"], 0)), False


def _en_weekday(m: re.Match[str], today: date) -> tuple[date, bool] | None:
    index = _WEEKDAYS_EN[m["wd"][:3]]
    rel = m["rel"]
    if rel == "this":
        return _monday(today, 0) + timedelta(days=index), False
    if rel == "next":
        ahead = (index - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead), False
    back = (today.weekday() - index) % 7
    if rel in ("last", "past"):
        back = back or 7
    return today - timedelta(days=back), False


def _en_ago(m: re.Match[str], today: date) -> tuple[date, bool] | None:
    token = m["n"]
    count = int(token) if token.isdigit() else _EN_COUNTS[token]
    vague = "few" in token or "couple" in token
    unit = m["unit"]
    if unit == "day":
        return today - timedelta(days=count), vague
    if unit == "week":
        return today - timedelta(weeks=count), vague
    return _shift_months(today, -count * (12 if unit == "year" else 1)), vague


def _en_last_period(m: re.Match[str], today: date) -> tuple[date, bool] | None:
    offset = {"last": -1, "this": 0, "past": -1}[m["rel"]]
    if m["unit"] == "week":
        return _monday(today, offset), True
    start = _shift_months(today.replace(day=1), offset)
    return start, True


def _en_week_before_last(m: re.Match[str], today: date) -> tuple[date, bool] | None:
    return _monday(today, -2), True


def _en_weekend(m: re.Match[str], today: date) -> tuple[date, bool] | None:
    # "the weekend" is the latest Saturday not after today; "last weekend" the one of the week before this.
    saturday = _monday(today, 0) + timedelta(days=5)
    if m["rel"] in ("last", "past"):
        return saturday - timedelta(weeks=1), True
    if m["rel"] is None and saturday > today:
        saturday -= timedelta(weeks=1)
    return saturday, True


def _en_month_day(m: re.Match[str], today: date) -> tuple[date, bool] | None:
    month, day = _MONTHS[m["mon"][:3]], int(m["d"])
    found = _valid(int(m["y"]), month, day) if m["y"] else _in_year(today, month, day)
    return (found, False) if found else None


def _en_month(m: re.Match[str], today: date) -> tuple[date, bool] | None:
    start = _in_year(today, _MONTHS[m["mon"][:3]], None)
    if start is None:
        return None
    part = {"beginning of": "early", "start of": "early", "end of": "end", "the end of": "end"}.get(m["part"] or "")
    return _month_part(start.year, start.month, part or m["part"]), True


# ASCII word edges: Python's \b treats Chinese characters as letters, so "从yesterday开始" would have none.
_A = r"(?<![a-z0-9])"
_Z = r"(?![a-z0-9])"
_PART_GROUP = r"(?P<part>底|末|初|中旬|上旬|下旬|中)"
_MON = rf"(?P<mon>{_MONTH_EN[1:]}"
_PATTERNS: tuple[tuple[re.Pattern[str], Handler], ...] = tuple(
    (re.compile(pattern), handler)
    for pattern, handler in (
        (r"(?<![\d.])(?P<y>20\d{2})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*[日号]?(?!\d|\.\d)", _ymd),
        (r"(?<!\d)(?P<y>20\d{2})(?P<m>[01]\d)(?P<d>[0-3]\d)(?!\d)", _ymd),
        (rf"(?<![\d{CN_DIGITS}十])(?P<m>{_N})\s*月\s*(?P<d>{_N})(?!\d)\s*[日号]?", _month_day),
        (
            r"(?<![\da-z.¥$])(?P<a>\d{1,2})(?:/(?P<b>\d{1,2})|\.(?P<b2>\d{2}|\d(?=\s*[号日])))"
            r"(?:\s*[号日]|(?![\d.%])(?!\s*(?:元|块|万|千|百|k|w|%|分|倍|个|小时|天|美元|usd|rmb|版|寸|米|折|\$)))",
            _numeric_month_day,
        ),
        # "3号", "十五日" alone; not "3号线", "1号店", "3日内".
        (
            rf"(?<![\d{CN_DIGITS}十月第几./-])(?P<d>{_N})\s*[号日]"
            r"(?!\s*(?:\d|内|之内|以内|线|楼|店|门|位|机|馆|院|厅|口|文件|令|卡|码|台|车|床|箱|柜|包))",
            _day_of_month,
        ),
        (
            rf"(?:(?P<y>20\d{{2}})\s*年\s*)?(?<![\d{CN_DIGITS}十个])(?P<m>{_N})\s*月份?{_PART_GROUP}?"
            # "2月30号" is no day at all, rather than February.
            rf"(?!\s*(?:\d|[{CN_DIGITS}十]+\s*[日号]))",
            _month,
        ),
        (rf"(?<!马)(?P<rel>上上|大上|上|这|本|下)\s*个?\s*月份?{_PART_GROUP}?", _relative_month),
        # "马上月底" is "soon, at the month's end", not "上月底".
        (rf"(?<![\d{CN_DIGITS}十个这本下岁年])(?<!(?<!马)上)月{_PART_GROUP}", _this_month_part),
        (r"(?P<rel>前年|去年|今年|明年)(?P<part>底|末|初)?", _year),
        (r"(?<![\u4e00-\u9fff\d])(?P<rel>)年(?P<part>底|末|初)", _year),
        (
            rf"(?P<word>大前天|前天|昨天|昨日|昨晚|昨儿|今天|今日|今早|今晚|明天|明早|明晚|后天){_TIME_OF_DAY}",
            _relative_day,
        ),
        (r"(?:前|这)(?P<n>几|两|一两)天", _few_days),
        (
            rf"(?P<n>{_COUNT})\s*个?\s*(?P<more>多)?\s*(?P<unit>天|日|周|星期|礼拜|月|年)\s*(?P<more2>多)?(?:前|之前|以前)",
            _ago,
        ),
        (
            rf"(?<![\d{CN_DIGITS}十第每])(?P<n>{_COUNT})\s*个?\s*(?P<more>多)?\s*(?P<unit>天|周|星期|礼拜|月)\s*(?P<more2>多)?"
            r"(?:了|(?=没|都没|一直|还没|还是))",
            _lasting,
        ),
        (
            # "投了一周一个转化都没有": after a count, 周 is a week, and the next word no weekday.
            rf"(?<!每)(?:(?P<rel>上上|大上|上|这|本|下)\s*个?\s*)?(?<![\d{CN_DIGITS}十几每])(?:周|星期|礼拜)"
            rf"(?P<wd>[{_WEEKDAY_CN}1-7末])(?!次)",
            _weekday,
        ),
        (rf"(?P<rel>上上|大上|上|这|本|下)\s*个?\s*(?:周|星期|礼拜)(?![{_WEEKDAY_CN}1-7末])", _week),
        # A festival is a date only where it stands for a day: "双十一大促" and "元旦推文" name a campaign.
        (
            rf"(?<![\d{CN_DIGITS}十])(?P<fest>{'|'.join(sorted(_FESTIVALS, key=len, reverse=True))})"
            rf"(?=\s*(?:(?P<after>{'|'.join(_FESTIVAL_AFTER)})|$|[\s，。！？!?,.;；、]|就|没|一直|都|还))",
            _festival,
        ),
        (
            rf"{_A}(?P<word>the day before yesterday|yesterday|today|tonight|this morning|tomorrow|end of (?:the )?day"
            rf"|end of business|close of business|eod|cob){_Z}",
            _en_relative_day,
        ),
        # "Black Friday" and "Cyber Monday" are sales, and often a campaign's name.
        (rf"{_A}(?<!black )(?<!cyber )(?:(?P<rel>last|this|next|past)\s+)?{_WEEKDAY_EN}", _en_weekday),
        (
            rf"{_A}(?P<n>\d{{1,3}}|an?|one|two|three|four|five|six|seven|eight|nine|ten|a few|few|a couple of"
            rf"|couple of)\s+(?P<unit>day|week|month|year)s?\s+(?:ago|back){_Z}",
            _en_ago,
        ),
        (rf"{_A}(?P<rel>last|this|past)\s+(?P<unit>week|month){_Z}", _en_last_period),
        (rf"{_A}(?:the\s+)?week\s+before\s+last{_Z}", _en_week_before_last),
        (rf"{_A}(?:(?P<rel>last|this|past)\s+|over\s+the\s+|on\s+the\s+|the\s+)weekend{_Z}", _en_weekend),
        # "on the 20th", "since the 3rd": a day of this month, or of last month while it is still ahead ("the 1st
        # campaign" is no date, so a word that says when must lead).
        (
            rf"{_A}(?:on|since|from|until|till|by|before|after)\s+(?P<keep>the\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)){_Z}"
            rf"(?!\s+(?:of\s+)?{_MONTH_EN})",
            _day_of_month,
        ),
        (rf"{_A}{_MON}\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?{_Z}(?:,?\s+(?P<y>20\d{{2}}))?", _en_month_day),
        (rf"{_A}(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MON}(?:\s+(?P<y>20\d{{2}}))?{_Z}", _en_month_day),
        (rf"{_A}(?P<part>early|mid|late|end of|the end of|beginning of|start of)[\s-]+{_MON}{_Z}", _en_month),
        (
            rf"{_A}(?:in|since|from|during)\s+(?P<part>)(?P<keep>(?P<mon>january|february|march|april|june|july|august"
            rf"|september|october|november|december|jan|feb|apr|jun|jul|aug|sept?|oct|nov|dec)){_Z}(?!\.?\s*\d)",
            _en_month,
        ),
    )
)
_SHORT_WEEKDAY = re.compile(r"(?:mon|tues?|wed|thu(?:rs?)?|fri|sat|sun)$")
# Words after which even a short weekday ("since Tues") is a day.
_WEEKDAY_LEADS = ("on ", "since ", "from ", "till ", "until ")


# Every pattern needs one of these: a text without any is not searched further.
_ANY_DATE = re.compile(
    r"[\d天日号周礼拜月年昨今]|星期|day|week|month|year|ago|tonight|morning|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
    r"|tomorrow|business|eod|cob|明早|明晚|mon|tue|wed|thu|fri|sat|sun|" + "|".join(_FESTIVALS)
)


def _candidates(text: str, today: date) -> Iterator[Found]:
    if not _ANY_DATE.search(text):
        return
    for pattern, handler in _PATTERNS:
        for m in pattern.finditer(text):
            # A bare "sat", "sun" or "wed" is a word more often than a day; with last/this/next/on it is a day.
            bare = handler is _en_weekday and m["rel"] is None and not text.endswith(_WEEKDAY_LEADS, 0, m.start())
            if bare and _SHORT_WEEKDAY.fullmatch(m["wd"]):
                continue
            resolved = handler(m, today)
            if resolved is not None:
                # "keep" marks the words that name the date within what the pattern needed to see ("since May").
                start, end = m.span("keep") if "keep" in m.groupdict() else m.span()
                yield Found(start, end, *resolved)


def find_dates(text: str, today: date) -> tuple[Found, ...]:
    """Dates in folded text (see core.dialogue.folding), the earliest and longest first where they overlap."""
    chosen: list[Found] = []
    taken_until = -1
    for found in sorted(_candidates(text, today), key=lambda f: (f.start, f.start - f.end)):
        if found.start < taken_until:
            continue
        vague = found.approximate or bool(_VAGUE_BEFORE.search(text, 0, found.start))
        end = found.end
        after = _VAGUE_AFTER.match(text, end)
        if after:
            end, vague = after.end(), True
        chosen.append(Found(found.start, end, found.day, vague))
        taken_until = end
    return tuple(chosen)
