"""The holiday calendar from chinese-calendar with the admins' overrides, and the warning before it runs out."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from core.business_hours import BusinessCalendar
from core.calendar_coverage import WARN_DAYS, coverage_warning
from core.clock import ManualClock
from core.holiday_source import holiday_data
from core.settings import PROJECT_ROOT, Settings
from core.texts import Texts
from core.yaml_files import safe_load
from handlers.services import build_services

CONFIG = PROJECT_ROOT / "config"
SOURCE_LAST_YEAR = max(holiday_data("chinese-calendar").years)


def shipped() -> dict[str, Any]:
    data: dict[str, Any] = safe_load((CONFIG / "business_hours.yaml").read_text(encoding="utf-8"))
    return data


def calendar(**changes: Any) -> BusinessCalendar:
    return BusinessCalendar.from_mapping(shipped() | changes)


def test_the_source_gives_the_2026_notice() -> None:
    china = calendar()
    national_day = {date(2026, 10, 1) + timedelta(days=n) for n in range(7)}
    assert national_day <= china.holidays
    assert {date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 10, 10)} <= china.extra_workdays
    assert date(2026, 10, 8) not in china.holidays  # the Thursday after National Day is a workday
    assert china.covered_until == date(SOURCE_LAST_YEAR, 12, 31)


def test_the_admins_lists_override_the_source_day_by_day() -> None:
    # A company day off, and a source holiday the agency works (a make-up day of its own).
    china = calendar(holidays=["2026-12-24"], extra_workdays=["2026-10-08", "2026-10-02"])
    assert date(2026, 12, 24) in china.holidays
    assert date(2026, 10, 2) not in china.holidays and date(2026, 10, 2) in china.extra_workdays
    christmas_eve = datetime(2026, 12, 24, 2, tzinfo=UTC)  # 10:00 in Shanghai, a Thursday
    assert not china.is_open(christmas_eve)
    assert calendar().is_open(christmas_eve)
    # A source make-up workday the admins list as a holiday is off.
    off = calendar(holidays=["2026-10-10"])
    assert date(2026, 10, 10) not in off.extra_workdays
    assert not off.is_open(datetime(2026, 10, 10, 2, tzinfo=UTC))


def test_deadlines_after_the_covered_years_are_estimates() -> None:
    china = calendar()
    last = date(SOURCE_LAST_YEAR, 12, 31)
    assert not china.is_estimated(datetime(last.year, 12, 31, 15, 59, tzinfo=UTC))  # 23:59 Shanghai
    assert china.is_estimated(datetime(last.year, 12, 31, 16, 0, tzinfo=UTC))  # next year's 00:00 there
    # Entering next year by hand (covered_years) makes its deadlines firm again.
    entered = calendar(holidays=[f"{last.year + 1}-01-01"], covered_years=[last.year + 1])
    assert entered.covered_until == date(last.year + 1, 12, 31)
    assert not entered.is_estimated(datetime(last.year + 1, 6, 1, tzinfo=UTC))
    assert not entered.is_open(datetime(last.year + 1, 1, 1, 2, tzinfo=UTC))


def test_a_calendar_without_public_holidays_is_never_estimated() -> None:
    plain = calendar(holiday_source="none")
    assert plain.holidays == frozenset() and plain.covered_until is None
    assert not plain.is_estimated(datetime(2040, 1, 1, tzinfo=UTC))
    assert coverage_warning(plain, date(2040, 1, 1)) is None
    assert calendar(holiday_source="none", covered_years=[2030]).covered_until == date(2030, 12, 31)
    assert BusinessCalendar.always_open().covered_until is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"holiday_source": "almanac"}, "unknown holiday source"),
        ({"covered_years": 2027}, "list of years"),
        ({"covered_years": ["next"]}, "not a year"),
        ({"covered_years": [True]}, "not a year"),
        ({"covered_years": [27]}, "not a year"),
    ],
)
def test_bad_coverage_settings_are_refused(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        calendar(**changes)


def test_the_warning_starts_thirty_days_before_the_last_covered_day() -> None:
    china = calendar()
    last = date(SOURCE_LAST_YEAR, 12, 31)
    assert coverage_warning(china, last - timedelta(days=WARN_DAYS + 1)) is None
    first = coverage_warning(china, last - timedelta(days=WARN_DAYS))
    assert first is not None and first.days_left == WARN_DAYS and first.last_covered == last
    texts = Texts.load(CONFIG)
    assert f"{last.isoformat()}" in first.text(texts, "zh") and f"{last.year + 1}" in first.text(texts, "zh")
    assert f"{WARN_DAYS} days left" in first.text(texts, "en")
    after = coverage_warning(china, last + timedelta(days=3))
    assert after is not None and after.days_left == -3
    assert "has passed" in after.text(texts, "en")
    # Once the next year is entered the warning goes until that year's December.
    entered = calendar(covered_years=[last.year + 1])
    assert coverage_warning(entered, last - timedelta(days=5)) is None


async def test_a_start_near_the_end_logs_the_warning(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    last = date(SOURCE_LAST_YEAR, 12, 31)
    for day, warned in ((last - timedelta(days=WARN_DAYS + 2), False), (last - timedelta(days=10), True)):
        caplog.clear()
        clock = ManualClock(datetime(day.year, day.month, day.day, 4, tzinfo=UTC))
        services = build_services(settings, clock)
        with caplog.at_level(logging.WARNING, logger="handlers.services"):
            await services.start()
        await services.stop()
        lines = [r.getMessage() for r in caplog.records if r.name == "handlers.services"]
        assert any("holiday calendar" in line and last.isoformat() in line for line in lines) is warned, lines
