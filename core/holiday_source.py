"""China's public holidays and 调休 make-up workdays from a maintained source (the chinese-calendar package)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache

from chinese_calendar import constants as chinese_calendar

CHINESE_CALENDAR = "chinese-calendar"
NONE = "none"
SOURCES = (CHINESE_CALENDAR, NONE)


@dataclass(frozen=True)
class HolidayData:
    """The days off and make-up workdays of the years a source covers (each of them in full)."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    years: frozenset[int] = frozenset()


@cache
def holiday_data(source: str) -> HolidayData:
    """The data of `source`; "none" keeps no holidays at all (the admins' list alone)."""
    if source == NONE:
        return HolidayData()
    if source != CHINESE_CALENDAR:
        raise ValueError(f"unknown holiday source {source!r}; known: {', '.join(SOURCES)}")
    holidays = frozenset(chinese_calendar.holidays)
    workdays = frozenset(chinese_calendar.workdays)
    # The package publishes whole years, each after the State Council notice (国务院办公厅关于…节假日安排的通知).
    first, last = min(holidays).year, max(holidays).year
    return HolidayData(holidays, workdays, frozenset(range(first, last + 1)))
