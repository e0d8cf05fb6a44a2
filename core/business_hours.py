"""Business-hours calendar: opening hours, public holidays and make-up workdays, for SLA deadlines."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from core.holiday_source import CHINESE_CALENDAR, holiday_data
from core.yaml_files import load_file

Interval = tuple[time, time]

# A calendar that has been closed this many consecutive days is taken to have no open hours at all;
# China's longest closure (Spring Festival) is nine days, so this only ever trips on a broken calendar.
MAX_CLOSED_DAYS = 400

WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_ZERO = timedelta(0)
_DAY = timedelta(days=1)


def _offset(moment: time) -> timedelta:
    return timedelta(hours=moment.hour, minutes=moment.minute, seconds=moment.second, microseconds=moment.microsecond)


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: business-hours arithmetic needs a time zone")


@dataclass(frozen=True)
class BusinessCalendar:
    """Weekly opening hours in local wall time, minus public holidays, plus make-up workdays (调休)."""

    # weekly_hours maps a weekday (0 = Monday … 6 = Sunday) to (start, end) wall-clock intervals; an end
    # of time(0) means 24:00, because time() cannot hold it. Holidays close even weekdays; extra workdays
    # open with the hours of makeup_weekday. Business time is real elapsed time, so an interval with a DST
    # change inside is an hour shorter or longer than its wall-clock span: an SLA hour is a real hour.

    timezone: str = "Asia/Shanghai"
    # hash=False: a mapping is not hashable; equality still compares it, which keeps hash/eq consistent.
    weekly_hours: Mapping[int, tuple[Interval, ...]] = field(default_factory=dict, hash=False)
    holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()
    makeup_weekday: int = 0
    # The years whose holidays and 调休 are known in full; days after the last one are counted as ordinary
    # weeks, and deadlines on them are estimates. Empty: the calendar keeps no public holidays by design.
    covered_years: frozenset[int] = frozenset()
    _offsets: tuple[tuple[tuple[timedelta, timedelta], ...], ...] = field(
        init=False, repr=False, compare=False, hash=False
    )
    _zone: ZoneInfo = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc
        if not 0 <= self.makeup_weekday <= 6:
            raise ValueError(f"makeup_weekday must be 0..6, got {self.makeup_weekday}")
        holidays = frozenset(self.holidays)
        extra = frozenset(self.extra_workdays)
        both = holidays & extra
        if both:
            raise ValueError(f"dates both holiday and extra workday: {sorted(both)}")
        hours: dict[int, tuple[Interval, ...]] = {}
        offsets: list[tuple[tuple[timedelta, timedelta], ...]] = [() for _ in range(7)]
        for weekday, intervals in sorted(self.weekly_hours.items()):
            if not 0 <= weekday <= 6:
                raise ValueError(f"weekday must be 0..6, got {weekday}")
            ordered = tuple(sorted((start, end) for start, end in intervals))
            spans: list[tuple[timedelta, timedelta]] = []
            for start, end in ordered:
                if start.tzinfo is not None or end.tzinfo is not None:
                    raise ValueError("opening hours are local wall-clock times and must be naive")
                lo, hi = _offset(start), (_offset(end) or _DAY)
                if lo >= hi:
                    raise ValueError(f"{WEEKDAY_NAMES[weekday]}: interval {start}–{end} is empty or reversed")
                if spans and lo < spans[-1][1]:
                    raise ValueError(f"{WEEKDAY_NAMES[weekday]}: overlapping intervals")
                spans.append((lo, hi))
            hours[weekday] = ordered
            offsets[weekday] = tuple(spans)
        # The dataclass is frozen, so normalised values go in through object.__setattr__; the read-only
        # view keeps callers from changing opening hours behind the cached offsets' back.
        object.__setattr__(self, "holidays", holidays)
        object.__setattr__(self, "extra_workdays", extra)
        object.__setattr__(self, "covered_years", frozenset(self.covered_years))
        object.__setattr__(self, "weekly_hours", MappingProxyType(hours))
        object.__setattr__(self, "_offsets", tuple(offsets))
        object.__setattr__(self, "_zone", zone)

    # -- construction -------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path) -> BusinessCalendar:
        """Read a calendar from YAML in the format of config/business_hours.yaml."""
        try:
            # PyYAML itself raises ValueError for impossible dates such as 2026-13-01.
            return cls.from_mapping(load_file(path))
        except (yaml.YAMLError, ValueError) as exc:
            raise ValueError(f"{path}: {exc}") from exc

    @classmethod
    def from_mapping(cls, data: Any) -> BusinessCalendar:
        """Build a calendar from the parsed YAML document."""
        if not isinstance(data, Mapping):
            raise ValueError("expected a mapping at the top level")
        unknown = set(data) - {
            "timezone",
            "makeup_weekday",
            "hours",
            "holidays",
            "extra_workdays",
            "holiday_source",
            "covered_years",
        }
        if unknown:
            raise ValueError(f"unknown keys: {sorted(unknown)}")
        hours_data = data.get("hours") or {}
        if not isinstance(hours_data, Mapping):
            raise ValueError("'hours' must map weekday names to lists of 'HH:MM-HH:MM'")
        weekly: dict[int, tuple[Interval, ...]] = {}
        for key, spans in hours_data.items():
            weekday = _parse_weekday(key)
            if weekday in weekly:
                raise ValueError(f"weekday {key!r} given twice")
            if not isinstance(spans, list):
                raise ValueError(f"hours of {key!r} must be a list")
            weekly[weekday] = tuple(_parse_interval(span) for span in spans)
        source = holiday_data(str(data.get("holiday_source") or CHINESE_CALENDAR))
        # The admins' lists override the source day by day: a day they list as a holiday is off even if the
        # source has it a make-up workday, and the other way round.
        own_holidays = _parse_dates(data.get("holidays"), "holidays")
        own_workdays = _parse_dates(data.get("extra_workdays"), "extra_workdays")
        return cls(
            timezone=str(data.get("timezone", "Asia/Shanghai")),
            weekly_hours=weekly,
            holidays=(source.holidays - own_workdays) | own_holidays,
            extra_workdays=(source.workdays - own_holidays) | own_workdays,
            makeup_weekday=_parse_weekday(data.get("makeup_weekday", 0)),
            covered_years=source.years | _parse_years(data.get("covered_years")),
        )

    @classmethod
    def always_open(cls, tz: str = "Asia/Shanghai") -> BusinessCalendar:
        """Open around the clock: for tests and for agencies that keep no business hours."""
        whole_day = ((time(0), time(0)),)
        return cls(timezone=tz, weekly_hours=dict.fromkeys(range(7), whole_day))

    # -- queries ------------------------------------------------------------------------------------

    @property
    def tz(self) -> ZoneInfo:
        """The calendar's time zone."""
        return self._zone

    @property
    def covered_until(self) -> date | None:
        """The last day whose holidays are known; None when the calendar keeps no public holidays."""
        if not self.covered_years:
            return None
        return date(max(self.covered_years), 12, 31)

    def covers(self, day: date) -> bool:
        """Whether the holidays and 调休 of `day` are known (always, for a calendar that keeps none)."""
        last = self.covered_until
        return last is None or day <= last

    def is_estimated(self, deadline: datetime) -> bool:
        """A deadline on a day past the known holidays: computed as if that day were an ordinary one."""
        _require_aware(deadline)
        return not self.covers(deadline.astimezone(self.tz).date())

    def hours_on(self, day: date) -> tuple[Interval, ...]:
        """The wall-clock opening intervals of `day`: none on a holiday, makeup_weekday's on a make-up workday."""
        if day in self.holidays:
            return ()
        weekday = self.makeup_weekday if day in self.extra_workdays else day.weekday()
        return self.weekly_hours.get(weekday, ())

    def is_open(self, moment: datetime) -> bool:
        """Whether ``moment`` falls inside opening hours (intervals include their start, not their end)."""
        _require_aware(moment)
        moment = moment.astimezone(UTC)
        day = moment.astimezone(self.tz).date()
        # Neighbouring days too: DST can shift an interval's instants across local midnight.
        for current in (day - _DAY, day, day + _DAY):
            for start, end in self._day_intervals(current):
                if start <= moment < end:
                    return True
        return False

    def next_open(self, moment: datetime) -> datetime:
        """``moment`` itself if open, else the next opening, in UTC."""
        _require_aware(moment)
        moment = moment.astimezone(UTC)
        for start, end in self._intervals_from(moment):
            if end > moment:
                return max(start, moment)
        raise AssertionError("unreachable: _intervals_from raises when nothing opens")  # pragma: no cover

    def add(self, start: datetime, delta: timedelta) -> datetime:
        """The earliest moment, in UTC, by which ``delta`` of business time has elapsed since ``start``."""
        _require_aware(start)
        if delta < _ZERO:
            raise ValueError(f"negative business-time delta {delta}")
        cursor = start.astimezone(UTC)
        if not delta:
            return cursor
        remaining = delta
        for begin, end in self._intervals_from(cursor):
            if end <= cursor:
                continue
            begin = max(begin, cursor)
            available = end - begin
            # "<=" so a deadline that lands on closing time is closing time, not the next opening.
            if remaining <= available:
                return begin + remaining
            remaining -= available
        raise AssertionError("unreachable: _intervals_from raises when nothing opens")  # pragma: no cover

    def between(self, a: datetime, b: datetime) -> timedelta:
        """Business time elapsed from ``a`` to ``b``; zero if ``b`` is not after ``a``."""
        _require_aware(a)
        _require_aware(b)
        a, b = a.astimezone(UTC), b.astimezone(UTC)
        if b <= a:
            return _ZERO
        total = _ZERO
        current = a.astimezone(self.tz).date() - _DAY
        last = b.astimezone(self.tz).date() + _DAY
        while current <= last:
            for start, end in self._day_intervals(current):
                lo, hi = max(start, a), min(end, b)
                if lo < hi:
                    total += hi - lo
            current += _DAY
        return total

    # -- internals ----------------------------------------------------------------------------------

    def _day_spans(self, day: date) -> tuple[tuple[timedelta, timedelta], ...]:
        if day in self.holidays:
            return ()
        if day in self.extra_workdays:
            return self._offsets[self.makeup_weekday]
        return self._offsets[day.weekday()]

    def _day_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        spans = self._day_spans(day)
        if not spans:
            return []
        tz = self.tz
        midnight = datetime.combine(day, time(0))
        day_start, day_end = _instant(midnight, tz), _instant(midnight + _DAY, tz)
        if day_end - day_start == _DAY:
            # Same offset at both midnights, so no clock change today (zones change at most once a day):
            # wall-clock offsets from midnight are real offsets, and the per-interval zone lookups can go.
            return [(day_start + lo, day_start + hi) for lo, hi in spans]
        intervals = []
        for lo, hi in spans:
            start, end = _instant(midnight + lo, tz), _instant(midnight + hi, tz)
            # An interval lying wholly in a DST gap never happens on the wall clock.
            if start < end:
                intervals.append((start, end))
        return intervals

    def _intervals_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Opening intervals in time order from the local day before ``moment`` on, without end.

        Raises ValueError after MAX_CLOSED_DAYS consecutive closed days, so callers' loops terminate.
        """
        current = moment.astimezone(self.tz).date() - _DAY
        closed = 0
        while True:
            intervals = self._day_intervals(current)
            if intervals:
                closed = 0
                yield from intervals
            else:
                closed += 1
                if closed > MAX_CLOSED_DAYS:
                    first_closed = current - _DAY * (closed - 1)
                    raise ValueError(f"no business hours in the {MAX_CLOSED_DAYS} days from {first_closed}")
            current += _DAY


def _instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """Map a naive local wall time to a UTC instant, monotonically in wall time.

    A repeated wall time (DST ends) takes its first occurrence; a skipped one (DST starts) takes the
    moment the clocks jump, which is where an interval starting or ending in the gap really begins or ends.
    """
    local = wall.replace(tzinfo=tz, fold=0)
    instant = local.astimezone(UTC)
    # Both folds agree everywhere but at DST changes: the cheap common path skips the round trip.
    if local.utcoffset() == local.replace(fold=1).utcoffset():
        return instant
    if instant.astimezone(tz).replace(tzinfo=None) == wall:
        return instant
    # In a gap fold=1 applies the later offset and lands before the jump, fold=0 the earlier offset and
    # lands after it; zoneinfo does not expose transitions, so bisect whole seconds for the jump.
    after = instant.astimezone(tz).utcoffset()
    lo = math.floor(wall.replace(tzinfo=tz, fold=1).astimezone(UTC).timestamp())
    hi = math.ceil(instant.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def _parse_weekday(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"not a weekday: {value!r}")
    if isinstance(value, int) and 0 <= value <= 6:
        return value
    if isinstance(value, str) and value.strip().lower() in WEEKDAY_NAMES:
        return WEEKDAY_NAMES.index(value.strip().lower())
    raise ValueError(f"not a weekday (0..6 or monday..sunday): {value!r}")


def _parse_time(text: str) -> time:
    text = text.strip()
    if text == "24:00":
        # time() cannot hold 24:00; the calendar reads an end of midnight as the end of the day.
        return time(0)
    try:
        return time.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not a time of day (HH:MM): {text!r}") from exc


def _parse_interval(value: Any) -> Interval:
    # Quoted strings only: YAML 1.1 would read an unquoted 13:30 as the sexagesimal integer 810.
    if not isinstance(value, str) or value.count("-") != 1:
        raise ValueError(f"opening interval must be a quoted 'HH:MM-HH:MM', got {value!r}")
    start, end = value.split("-")
    return _parse_time(start), _parse_time(end)


def _parse_date(value: Any, what: str) -> date:
    if isinstance(value, datetime):
        raise ValueError(f"{what}: expected a date, got a date and time {value!r}")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"{what}: not a date (YYYY-MM-DD): {value!r}") from exc
    raise ValueError(f"{what}: not a date: {value!r}")


def _parse_years(values: Any) -> frozenset[int]:
    if values is None:
        return frozenset()
    if not isinstance(values, list):
        raise ValueError("covered_years must be a list of years")
    years: set[int] = set()
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
            raise ValueError(f"covered_years: not a year: {value!r}")
        year = int(value)
        if not 1900 <= year <= 2200:
            raise ValueError(f"covered_years: not a year: {value!r}")
        years.add(year)
    return frozenset(years)


def _parse_dates(values: Any, what: str) -> frozenset[date]:
    """Dates from a list of YYYY-MM-DD entries or inclusive ranges written 'YYYY-MM-DD..YYYY-MM-DD'."""
    if values is None:
        return frozenset()
    if not isinstance(values, list):
        raise ValueError(f"{what} must be a list")
    days: set[date] = set()
    for value in values:
        if isinstance(value, str) and ".." in value:
            first_text, last_text = value.split("..", 1)
            first, last = _parse_date(first_text, what), _parse_date(last_text, what)
            if last < first:
                raise ValueError(f"{what}: range {value!r} ends before it starts")
            days.update(first + timedelta(days=n) for n in range((last - first).days + 1))
        else:
            days.add(_parse_date(value, what))
    return frozenset(days)
