"""Whether the holiday calendar is about to run out, and the warning that says so."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from core.business_hours import BusinessCalendar
from core.texts import Texts

# Warn this many days before the last day whose holidays are known: a State Council notice comes out in
# November, so a month leaves time to upgrade the source or enter the year by hand.
WARN_DAYS = 30


@dataclass(frozen=True)
class CoverageWarning:
    """The calendar's holidays are known up to `last_covered`; `days_left` is negative once it is past."""

    last_covered: date
    days_left: int

    @property
    def next_year(self) -> int:
        return self.last_covered.year + 1

    def text(self, texts: Texts, language: str) -> str:
        key = "calendar.coverage_ending" if self.days_left >= 0 else "calendar.coverage_ended"
        return texts.get(
            key,
            language,
            last=self.last_covered.isoformat(),
            days=max(self.days_left, 0),
            next_year=self.next_year,
        )

    def to_json(self) -> dict[str, object]:
        return {"last_covered": self.last_covered.isoformat(), "days_left": self.days_left}


def coverage_warning(calendar: BusinessCalendar, today: date) -> CoverageWarning | None:
    """A warning from WARN_DAYS days before the last covered day on; None before that, or with no holidays kept."""
    last = calendar.covered_until
    if last is None:
        return None
    left = (last - today).days
    return CoverageWarning(last, left) if left <= WARN_DAYS else None
