"""Business-hours calendar: opening hours, lunch breaks, weekends, China's holidays and 调休, DST zones."""

from __future__ import annotations

import random
from dataclasses import FrozenInstanceError
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from core.business_hours import MAX_CLOSED_DAYS, BusinessCalendar
from core.settings import PROJECT_ROOT

CONFIG = PROJECT_ROOT / "config" / "business_hours.yaml"
SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)
M = timedelta(minutes=1)

WORKDAY = ((time(9), time(12)), (time(13, 30), time(18)))  # 7.5 business hours
PLAIN = BusinessCalendar(weekly_hours=dict.fromkeys(range(5), WORKDAY))
BERLIN_OFFICE = BusinessCalendar(timezone="Europe/Berlin", weekly_hours=dict.fromkeys(range(5), ((time(9), time(17)),)))


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SH)


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture(scope="module")
def china() -> BusinessCalendar:
    return BusinessCalendar.load(CONFIG)


# -- a single week, no holidays -----------------------------------------------------------------------
# 2026-03-02 is a Monday.


@pytest.mark.parametrize(
    ("start", "delta", "expected"),
    [
        pytest.param(sh(2026, 3, 2, 9, 30), 2 * H, sh(2026, 3, 2, 11, 30), id="within-morning"),
        pytest.param(sh(2026, 3, 2, 14), 3 * H, sh(2026, 3, 2, 17), id="within-afternoon"),
        pytest.param(sh(2026, 3, 2, 11), 2 * H, sh(2026, 3, 2, 14, 30), id="across-lunch"),
        pytest.param(sh(2026, 3, 2, 11), 1 * H, sh(2026, 3, 2, 12), id="lands-on-lunch-closing"),
        pytest.param(sh(2026, 3, 2, 12, 30), 1 * H, sh(2026, 3, 2, 14, 30), id="starts-at-lunch"),
        pytest.param(sh(2026, 3, 2, 7), 1 * H, sh(2026, 3, 2, 10), id="before-opening"),
        pytest.param(sh(2026, 3, 2, 9), 7.5 * H, sh(2026, 3, 2, 18), id="whole-day-ends-at-closing"),
        pytest.param(sh(2026, 3, 2, 19), 1 * H, sh(2026, 3, 3, 10), id="after-closing"),
        pytest.param(sh(2026, 3, 2, 17), 2 * H, sh(2026, 3, 3, 10), id="across-night"),
        pytest.param(sh(2026, 3, 7, 10), 1 * H, sh(2026, 3, 9, 10), id="on-saturday"),
        pytest.param(sh(2026, 3, 8, 23, 59), 30 * M, sh(2026, 3, 9, 9, 30), id="on-sunday-night"),
        pytest.param(sh(2026, 3, 6, 17), 2 * H, sh(2026, 3, 9, 10), id="across-weekend"),
        pytest.param(sh(2026, 3, 6, 17), 7.5 * H, sh(2026, 3, 9, 17), id="one-business-day-over-weekend"),
        pytest.param(sh(2026, 3, 2, 9), 5 * 7.5 * H, sh(2026, 3, 6, 18), id="one-business-week"),
        pytest.param(sh(2026, 3, 2, 10), timedelta(seconds=1), sh(2026, 3, 2, 10, 0) + timedelta(seconds=1), id="1s"),
    ],
)
def test_add_plain_week(start: datetime, delta: timedelta, expected: datetime) -> None:
    result = PLAIN.add(start, delta)
    assert result == expected
    assert result.tzinfo is UTC
    assert PLAIN.between(start, result) == delta


def test_add_zero_is_start_even_when_closed() -> None:
    # The earliest moment by which no business time has elapsed is the start itself.
    assert PLAIN.add(sh(2026, 3, 7, 10), timedelta(0)) == utc(2026, 3, 7, 2)
    assert PLAIN.add(sh(2026, 3, 7, 10), timedelta(0)).tzinfo is UTC


def test_input_zone_does_not_matter() -> None:
    start_sh = sh(2026, 3, 2, 11)
    start_utc = start_sh.astimezone(UTC)
    start_ny = start_sh.astimezone(ZoneInfo("America/New_York"))
    assert PLAIN.add(start_sh, 2 * H) == PLAIN.add(start_utc, 2 * H) == PLAIN.add(start_ny, 2 * H)
    assert PLAIN.add(start_utc, 2 * H) == utc(2026, 3, 2, 6, 30)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param(sh(2026, 3, 2, 10), sh(2026, 3, 2, 11), 1 * H, id="within"),
        pytest.param(sh(2026, 3, 2, 11), sh(2026, 3, 2, 14), 1.5 * H, id="lunch-not-counted"),
        pytest.param(sh(2026, 3, 2, 0), sh(2026, 3, 3, 0), 7.5 * H, id="whole-day"),
        pytest.param(sh(2026, 3, 6, 10), sh(2026, 3, 9, 10), 7.5 * H, id="over-weekend"),
        pytest.param(sh(2026, 3, 7, 0), sh(2026, 3, 9, 0), timedelta(0), id="weekend-only"),
        pytest.param(sh(2026, 3, 2, 12, 10), sh(2026, 3, 2, 13, 20), timedelta(0), id="lunch-only"),
        pytest.param(sh(2026, 3, 2, 0), sh(2026, 3, 30, 0), 20 * 7.5 * H, id="four-weeks"),
        pytest.param(sh(2026, 3, 2, 11), sh(2026, 3, 2, 10), timedelta(0), id="reversed"),
        pytest.param(sh(2026, 3, 2, 11), sh(2026, 3, 2, 11), timedelta(0), id="equal"),
    ],
)
def test_between_plain(a: datetime, b: datetime, expected: timedelta) -> None:
    assert PLAIN.between(a, b) == expected


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        (sh(2026, 3, 2, 8, 59), False),
        (sh(2026, 3, 2, 9), True),  # intervals include their start
        (sh(2026, 3, 2, 11, 59), True),
        (sh(2026, 3, 2, 12), False),  # … and exclude their end
        (sh(2026, 3, 2, 13, 29), False),
        (sh(2026, 3, 2, 13, 30), True),
        (sh(2026, 3, 2, 17, 59), True),
        (sh(2026, 3, 2, 18), False),
        (sh(2026, 3, 7, 10), False),  # Saturday
        (sh(2026, 3, 8, 10), False),  # Sunday
        (utc(2026, 3, 2, 2), True),  # 10:00 in Shanghai
    ],
)
def test_is_open_plain(moment: datetime, is_open: bool) -> None:
    assert PLAIN.is_open(moment) is is_open


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        pytest.param(sh(2026, 3, 2, 10), sh(2026, 3, 2, 10), id="open-now"),
        pytest.param(sh(2026, 3, 2, 7), sh(2026, 3, 2, 9), id="before-opening"),
        pytest.param(sh(2026, 3, 2, 12), sh(2026, 3, 2, 13, 30), id="lunch"),
        pytest.param(sh(2026, 3, 6, 18), sh(2026, 3, 9, 9), id="friday-evening"),
        pytest.param(sh(2026, 3, 7, 12), sh(2026, 3, 9, 9), id="saturday"),
    ],
)
def test_next_open_plain(moment: datetime, expected: datetime) -> None:
    result = PLAIN.next_open(moment)
    assert result == expected
    assert result.tzinfo is UTC
    assert PLAIN.is_open(result)


# -- China's 2026 holidays and 调休 (chinese-calendar via config/business_hours.yaml) -------------------


def test_config_loads(china: BusinessCalendar) -> None:
    assert china.timezone == "Asia/Shanghai"
    assert china.makeup_weekday == 0
    assert dict(china.weekly_hours) == dict.fromkeys(range(5), WORKDAY) | {5: (), 6: ()}
    # From chinese-calendar: the 2026 notice, as the State Council published it.
    assert len({d for d in china.holidays if d.year == 2026}) == 3 + 9 + 3 + 5 + 3 + 3 + 7
    assert {date(2026, 10, 1) + timedelta(days=n) for n in range(7)} <= china.holidays
    assert {d for d in china.extra_workdays if d.year == 2026} == {
        date(2026, 1, 4),
        date(2026, 2, 14),
        date(2026, 2, 28),
        date(2026, 5, 9),
        date(2026, 9, 20),
        date(2026, 10, 10),
    }
    # 调休 only ever moves work onto a weekend.
    assert all(day.weekday() >= 5 for day in china.extra_workdays)


@pytest.mark.parametrize(
    ("start", "delta", "expected"),
    [
        # National Day: Thu 1 – Wed 7 October off.
        pytest.param(sh(2026, 9, 30, 17), 2 * H, sh(2026, 10, 8, 10), id="national-day-week"),
        pytest.param(sh(2026, 10, 3, 10), 1 * H, sh(2026, 10, 8, 10), id="inside-national-day"),
        # Saturday 10 October and Sunday 20 September are make-up workdays.
        pytest.param(sh(2026, 10, 9, 17), 2 * H, sh(2026, 10, 10, 10), id="makeup-saturday"),
        pytest.param(sh(2026, 9, 19, 10), 1 * H, sh(2026, 9, 20, 10), id="makeup-sunday"),
        # Spring Festival: Sat 14 February works, 15 – 23 February off, Sat 28 February works.
        pytest.param(sh(2026, 2, 13, 17), 2 * H, sh(2026, 2, 14, 10), id="before-spring-festival"),
        pytest.param(sh(2026, 2, 14, 17), 2 * H, sh(2026, 2, 24, 10), id="across-spring-festival"),
        pytest.param(sh(2026, 2, 27, 17), 2 * H, sh(2026, 2, 28, 10), id="after-spring-festival"),
        # New Year: 1 – 3 January off, Sunday 4 January works.
        pytest.param(sh(2025, 12, 31, 17), 2 * H, sh(2026, 1, 4, 10), id="new-year"),
        # Labour Day: 1 – 5 May off.
        pytest.param(sh(2026, 4, 30, 17), 2 * H, sh(2026, 5, 6, 10), id="labour-day"),
        # Dragon Boat Festival on a Friday: the ordinary weekend follows.
        pytest.param(sh(2026, 6, 18, 17), 2 * H, sh(2026, 6, 22, 10), id="dragon-boat"),
    ],
)
def test_add_china_holidays(china: BusinessCalendar, start: datetime, delta: timedelta, expected: datetime) -> None:
    assert china.add(start, delta) == expected
    assert china.between(start, expected) == delta


def test_china_is_open_and_next_open(china: BusinessCalendar) -> None:
    assert not china.is_open(sh(2026, 10, 1, 10))  # a Thursday, but National Day
    assert china.is_open(sh(2026, 10, 10, 10))  # a Saturday, but a make-up workday
    assert not china.is_open(sh(2026, 10, 10, 12, 30))  # … that keeps Monday's lunch break
    assert not china.is_open(sh(2026, 10, 11, 10))  # the Sunday after is an ordinary Sunday
    assert china.next_open(sh(2026, 9, 30, 18)) == sh(2026, 10, 8, 9)
    assert china.next_open(sh(2026, 2, 14, 18)) == sh(2026, 2, 24, 9)
    assert china.between(sh(2026, 9, 30, 9), sh(2026, 10, 9, 9)) == 2 * 7.5 * H


def test_makeup_weekday_chooses_the_hours() -> None:
    hours = {0: ((time(9), time(18)),), 4: ((time(9), time(12)),)}
    saturday = date(2026, 3, 7)
    like_monday = BusinessCalendar(weekly_hours=hours, extra_workdays=frozenset({saturday}))
    like_friday = BusinessCalendar(weekly_hours=hours, extra_workdays=frozenset({saturday}), makeup_weekday=4)
    assert like_monday.is_open(sh(2026, 3, 7, 14))
    assert not like_friday.is_open(sh(2026, 3, 7, 14))
    assert like_friday.between(sh(2026, 3, 7), sh(2026, 3, 8)) == 3 * H
    assert like_monday.between(sh(2026, 3, 7), sh(2026, 3, 8)) == 9 * H


# -- large deltas -------------------------------------------------------------------------------------


def test_200_business_hours_plain() -> None:
    # 200 h = 26 whole days of 7.5 h (195 h) + 5 h. From Monday 2 March, 25 days fill five weeks to
    # Friday 3 April, the 26th is Monday 6 April, and the 5 h on Tuesday 7 April are 09:00–12:00 plus
    # 13:30–15:30.
    start = sh(2026, 3, 2, 9)
    assert PLAIN.add(start, 200 * H) == sh(2026, 4, 7, 15, 30)
    assert PLAIN.between(start, sh(2026, 4, 7, 15, 30)) == 200 * H


def test_200_business_hours_china(china: BusinessCalendar) -> None:
    # As above, but Monday 6 April is 清明节, so everything after it moves by one day.
    assert china.add(sh(2026, 3, 2, 9), 200 * H) == sh(2026, 4, 8, 15, 30)


def test_3000_business_hours_lands_on_closing_time() -> None:
    # 3000 h = 400 days = 80 whole weeks: ends at 18:00 on the Friday of the 80th week,
    # 2 March 2026 + 80 weeks − 3 days = Friday 10 September 2027, not the next Monday's opening.
    assert PLAIN.add(sh(2026, 3, 2, 9), 3000 * H) == sh(2027, 9, 10, 18)


def test_30_day_delta_always_open() -> None:
    start = sh(2026, 9, 28, 15, 17)
    assert BusinessCalendar.always_open().add(start, timedelta(days=30)) == start + timedelta(days=30)


# -- add and between are inverses --------------------------------------------------------------------

WEIRD_BERLIN = BusinessCalendar(
    timezone="Europe/Berlin",
    weekly_hours={
        0: ((time(8), time(12)), (time(13), time(17))),
        2: ((time(0), time(3)), (time(22), time(0))),
        4: ((time(9), time(17)),),
        # Spans the 02:00/03:00 DST changes on the last Sundays of March and October.
        6: ((time(1), time(4)),),
    },
    holidays=frozenset({date(2026, 12, 25)}),
    extra_workdays=frozenset({date(2026, 12, 19)}),
)

RANDOM_CASES = [("china", SH), ("plain", SH), ("weird-berlin", BERLIN), ("always-open-berlin", BERLIN)]


def _calendar(name: str, china: BusinessCalendar) -> BusinessCalendar:
    return {
        "china": china,
        "plain": PLAIN,
        "weird-berlin": WEIRD_BERLIN,
        "always-open-berlin": BusinessCalendar.always_open("Europe/Berlin"),
    }[name]


def _random_moment(rng: random.Random, tz: ZoneInfo) -> datetime:
    base = datetime(2025, 12, 20, tzinfo=UTC)
    moment = base + timedelta(seconds=rng.randrange(380 * 24 * 3600))
    return moment.astimezone(tz)


@pytest.mark.parametrize(("name", "tz"), RANDOM_CASES)
def test_between_inverts_add(china: BusinessCalendar, name: str, tz: ZoneInfo) -> None:
    calendar = _calendar(name, china)
    rng = random.Random(f"add-{name}")
    for _ in range(300):
        start = _random_moment(rng, tz)
        delta = timedelta(seconds=rng.randrange(1, 150 * 3600))
        end = calendar.add(start, delta)
        assert calendar.between(start, end) == delta, (start, delta)
        # add gives the earliest such moment, and it is a moment the calendar is open (or just closing).
        assert calendar.between(start, end - timedelta(seconds=1)) < delta, (start, delta)
        assert calendar.is_open(end - timedelta(microseconds=1)), (start, delta)


@pytest.mark.parametrize(("name", "tz"), RANDOM_CASES)
def test_add_inverts_between(china: BusinessCalendar, name: str, tz: ZoneInfo) -> None:
    calendar = _calendar(name, china)
    rng = random.Random(f"between-{name}")
    for _ in range(150):
        a, b = sorted((_random_moment(rng, tz), _random_moment(rng, tz)))
        elapsed = calendar.between(a, b)
        back = calendar.add(a, elapsed)
        assert back <= b
        assert calendar.between(back, b) == timedelta(0)
        if calendar.is_open(b):
            # Compared in UTC: PEP 495 makes a repeated wall time unequal to every other zone's datetimes.
            assert back == b.astimezone(UTC)


@pytest.mark.parametrize(("name", "tz"), RANDOM_CASES)
def test_between_is_additive(china: BusinessCalendar, name: str, tz: ZoneInfo) -> None:
    calendar = _calendar(name, china)
    rng = random.Random(f"additive-{name}")
    for _ in range(100):
        a, b, c = sorted(_random_moment(rng, tz) for _ in range(3))
        assert calendar.between(a, c) == calendar.between(a, b) + calendar.between(b, c)


@pytest.mark.parametrize(("name", "tz"), RANDOM_CASES)
def test_next_open_is_open_and_nothing_open_before(china: BusinessCalendar, name: str, tz: ZoneInfo) -> None:
    calendar = _calendar(name, china)
    rng = random.Random(f"next-{name}")
    for _ in range(200):
        moment = _random_moment(rng, tz)
        opening = calendar.next_open(moment)
        assert calendar.is_open(opening)
        assert calendar.between(moment, opening) == timedelta(0)
        assert (opening == moment.astimezone(UTC)) is calendar.is_open(moment)


# -- a zone with DST ------------------------------------------------------------------------------------
# Europe/Berlin: CET (UTC+1) to CEST (UTC+2) at 02:00 on Sunday 29 March 2026, back at 03:00 on
# Sunday 25 October 2026.


def test_dst_office_hours_follow_the_wall_clock() -> None:
    # Friday 09:00 CET is 08:00 UTC; Monday 09:00 CEST is 07:00 UTC.
    assert BERLIN_OFFICE.next_open(utc(2026, 3, 27, 7)) == utc(2026, 3, 27, 8)
    assert BERLIN_OFFICE.next_open(utc(2026, 3, 28, 12)) == utc(2026, 3, 30, 7)
    assert BERLIN_OFFICE.add(berlin(2026, 3, 27, 16), 2 * H) == utc(2026, 3, 30, 8)  # Monday 10:00 CEST
    assert BERLIN_OFFICE.add(berlin(2026, 10, 23, 16), 2 * H) == utc(2026, 10, 26, 9)  # Monday 10:00 CET
    assert BERLIN_OFFICE.between(berlin(2026, 3, 27, 9), berlin(2026, 3, 30, 17)) == 16 * H
    assert not BERLIN_OFFICE.is_open(utc(2026, 3, 30, 6, 30))  # 08:30 CEST
    assert BERLIN_OFFICE.is_open(utc(2026, 3, 27, 8, 30))  # 09:30 CET


def test_dst_days_are_23_and_25_hours_long() -> None:
    always = BusinessCalendar.always_open("Europe/Berlin")
    assert always.between(berlin(2026, 3, 29), berlin(2026, 3, 30)) == 23 * H
    assert always.between(berlin(2026, 10, 25), berlin(2026, 10, 26)) == 25 * H
    assert always.between(berlin(2026, 3, 22), berlin(2026, 3, 23)) == 24 * H
    # 24 real hours after Saturday noon is 13:00 on Sunday (Python's own aware + timedelta would give
    # 12:00: it adds wall-clock time within one zone).
    assert always.add(berlin(2026, 3, 28, 12), 24 * H) == utc(2026, 3, 29, 11) == berlin(2026, 3, 29, 13)


def test_dst_change_inside_an_opening_interval() -> None:
    # Sunday 01:00–04:00 is 2 real hours when clocks go forward, 4 when they go back, 3 otherwise.
    sundays = BusinessCalendar(timezone="Europe/Berlin", weekly_hours={6: ((time(1), time(4)),)})
    assert sundays.between(berlin(2026, 3, 29), berlin(2026, 3, 30)) == 2 * H
    assert sundays.between(berlin(2026, 10, 25), berlin(2026, 10, 26)) == 4 * H
    assert sundays.between(berlin(2026, 3, 22), berlin(2026, 3, 23)) == 3 * H
    assert sundays.add(berlin(2026, 3, 29), 90 * M) == utc(2026, 3, 29, 1, 30)  # 03:30 CEST
    assert sundays.add(berlin(2026, 10, 25), 210 * M) == utc(2026, 10, 25, 2, 30)  # 02:30 CET, second time


def test_dst_interval_starting_in_the_skipped_hour() -> None:
    # 02:30 does not exist on 29 March: the interval opens when the clocks jump to 03:00 CEST (01:00 UTC).
    calendar = BusinessCalendar(timezone="Europe/Berlin", weekly_hours={6: ((time(2, 30), time(5)),)})
    assert calendar.next_open(berlin(2026, 3, 29)) == utc(2026, 3, 29, 1)
    assert calendar.between(berlin(2026, 3, 29), berlin(2026, 3, 30)) == 2 * H
    assert calendar.between(berlin(2026, 3, 22), berlin(2026, 3, 23)) == 2.5 * H


def test_dst_interval_wholly_in_the_skipped_hour_is_closed() -> None:
    calendar = BusinessCalendar(timezone="Europe/Berlin", weekly_hours={6: ((time(2, 15), time(2, 45)),)})
    assert calendar.between(berlin(2026, 3, 29), berlin(2026, 3, 30)) == timedelta(0)
    assert calendar.next_open(berlin(2026, 3, 29)) == utc(2026, 4, 5, 0, 15)  # 02:15 CEST a week later


# -- always open, never open ----------------------------------------------------------------------------


def test_always_open() -> None:
    calendar = BusinessCalendar.always_open()
    assert calendar.timezone == "Asia/Shanghai"
    rng = random.Random("always")
    for _ in range(100):
        a = _random_moment(rng, SH)
        delta = timedelta(seconds=rng.randrange(40 * 24 * 3600))
        assert calendar.is_open(a)
        assert calendar.next_open(a) == a
        assert calendar.add(a, delta) == a + delta
        assert calendar.between(a, a + delta) == delta


def test_empty_calendar_raises() -> None:
    empty = BusinessCalendar()
    with pytest.raises(ValueError, match="no business hours"):
        empty.add(sh(2026, 3, 2, 9), H)
    with pytest.raises(ValueError, match="no business hours"):
        empty.next_open(sh(2026, 3, 2, 9))
    assert not empty.is_open(sh(2026, 3, 2, 10))
    assert empty.between(sh(2026, 1, 1), sh(2027, 1, 1)) == timedelta(0)
    assert empty.add(sh(2026, 3, 2, 9), timedelta(0)) == sh(2026, 3, 2, 9)


def _mondays(first: date, last: date) -> frozenset[date]:
    return frozenset(first + timedelta(weeks=n) for n in range((last - first).days // 7 + 1))


def test_bound_counts_consecutive_closed_days() -> None:
    hours = {0: ((time(9), time(18)),)}
    # Closed ~300 days in a row: still found.
    long_break = BusinessCalendar(weekly_hours=hours, holidays=_mondays(date(2026, 1, 5), date(2026, 10, 26)))
    assert long_break.next_open(sh(2026, 1, 1)) == sh(2026, 11, 2, 9)
    # Closed more than MAX_CLOSED_DAYS in a row: given up on.
    never = BusinessCalendar(weekly_hours=hours, holidays=_mondays(date(2026, 1, 5), date(2027, 12, 27)))
    assert (date(2027, 12, 27) - date(2026, 1, 1)).days > MAX_CLOSED_DAYS
    with pytest.raises(ValueError, match="no business hours"):
        never.next_open(sh(2026, 1, 1))
    with pytest.raises(ValueError, match="no business hours"):
        never.add(sh(2026, 1, 1), H)


# -- validation and loading ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "unknown time zone"),
        ({"weekly_hours": {7: WORKDAY}}, "weekday"),
        ({"weekly_hours": {0: ((time(12), time(9)),)}}, "empty or reversed"),
        ({"weekly_hours": {0: ((time(9), time(9)),)}}, "empty or reversed"),
        ({"weekly_hours": {0: ((time(9), time(13)), (time(12), time(18)))}}, "overlapping"),
        ({"weekly_hours": {0: ((time(9, tzinfo=UTC), time(12)),)}}, "naive"),
        ({"makeup_weekday": 7}, "makeup_weekday"),
        (
            {"holidays": frozenset({date(2026, 10, 10)}), "extra_workdays": frozenset({date(2026, 10, 10)})},
            "both holiday and extra workday",
        ),
    ],
)
def test_invalid_calendars(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(**kwargs)  # type: ignore[arg-type]


def test_intervals_are_sorted_and_midnight_ends_the_day() -> None:
    calendar = BusinessCalendar(weekly_hours={0: ((time(20), time(0)), (time(9), time(12)))})
    assert calendar.weekly_hours[0] == ((time(9), time(12)), (time(20), time(0)))
    assert calendar.between(sh(2026, 3, 2), sh(2026, 3, 3)) == 7 * H
    assert calendar.is_open(sh(2026, 3, 2, 23, 59))
    assert not calendar.is_open(sh(2026, 3, 3, 0))


def test_naive_datetimes_and_negative_deltas_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        PLAIN.add(datetime(2026, 3, 2, 9), H)
    with pytest.raises(ValueError, match="naive"):
        PLAIN.between(datetime(2026, 3, 2, 9), sh(2026, 3, 2, 10))
    with pytest.raises(ValueError, match="naive"):
        PLAIN.is_open(datetime(2026, 3, 2, 9))
    with pytest.raises(ValueError, match="naive"):
        PLAIN.next_open(datetime(2026, 3, 2, 9))
    with pytest.raises(ValueError, match="negative"):
        PLAIN.add(sh(2026, 3, 2, 9), -H)


def test_calendar_is_immutable_and_hashable() -> None:
    with pytest.raises(FrozenInstanceError):
        PLAIN.timezone = "UTC"  # type: ignore[misc]
    with pytest.raises(TypeError):
        PLAIN.weekly_hours[5] = WORKDAY  # type: ignore[index]
    twin = BusinessCalendar(weekly_hours=dict.fromkeys(range(5), WORKDAY))
    assert twin == PLAIN
    assert hash(twin) == hash(PLAIN)
    assert twin != BusinessCalendar(weekly_hours=dict.fromkeys(range(6), WORKDAY))


def test_load_format(tmp_path: Path) -> None:
    path = tmp_path / "hours.yaml"
    path.write_text(
        """
timezone: Europe/Berlin
makeup_weekday: 4
holiday_source: none
hours:
  monday: ["09:00-12:00", "13:30-18:00"]
  4: ["09:00-12:00"]
  sunday: ["20:00-24:00"]
holidays:
  - 2026-03-02
  - "2026-03-09..2026-03-11"
extra_workdays: ["2026-03-07"]
""",
        encoding="utf-8",
    )
    calendar = BusinessCalendar.load(path)
    assert calendar.timezone == "Europe/Berlin"
    assert calendar.makeup_weekday == 4
    assert calendar.weekly_hours == {0: WORKDAY, 4: ((time(9), time(12)),), 6: ((time(20), time(0)),)}
    assert calendar.holidays == {date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 10), date(2026, 3, 11)}
    assert calendar.extra_workdays == {date(2026, 3, 7)}


def test_load_minimal_defaults(tmp_path: Path) -> None:
    path = tmp_path / "hours.yaml"
    path.write_text('hours: {monday: ["09:00-17:00"]}\n', encoding="utf-8")
    calendar = BusinessCalendar.load(path)
    assert calendar.timezone == "Asia/Shanghai"
    # China's public holidays come with the default source, chinese-calendar.
    assert date(2026, 10, 1) in calendar.holidays and calendar.covered_until is not None
    assert calendar.add(sh(2026, 3, 2, 16), 2 * H) == sh(2026, 3, 9, 10)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- just a list\n", "mapping"),
        ("hours: {monday: [13:30]}\n", "quoted"),  # YAML 1.1 reads an unquoted 13:30 as 810
        ("hours: {funday: []}\n", "not a weekday"),
        ('hours: {monday: ["9am-5pm"]}\n', "not a time"),
        ("holidays: [2026-13-01]\n", "month must be in"),
        ('holidays: ["2026-02-30"]\n', "not a date"),
        ('hours: {monday: ["09:00-12:00"\n', "expected"),
        ('holidays: ["2026-03-09..2026-03-01"]\n', "ends before it starts"),
        ("holidays: 2026-03-09\n", "must be a list"),
        ("holiday: []\n", "unknown keys"),
        ("timezone: Nowhere/Special\n", "unknown time zone"),
    ],
)
def test_load_errors_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as caught:
        BusinessCalendar.load(path)
    assert str(path) in str(caught.value)


def test_load_unquoted_dashed_intervals(tmp_path: Path) -> None:
    # Unquoted but dashed intervals are plain YAML strings, so they load; only bare times break.
    path = tmp_path / "hours.yaml"
    path.write_text("hours: {monday: [09:00-12:00, 13:30-18:00]}\n", encoding="utf-8")
    assert BusinessCalendar.load(path).weekly_hours[0] == WORKDAY
