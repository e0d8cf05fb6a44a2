"""Quiet hours: client-facing follow-ups that fall at night wait until the morning, in the client's time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A nightly window (it may span midnight) during which clients are not written to unprompted."""

    start: time = time(22, 0)
    end: time = time(8, 0)

    @classmethod
    def parse(cls, start: str, end: str) -> QuietHours:
        return cls(time.fromisoformat(start), time.fromisoformat(end))

    def contains(self, local: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def defer(self, moment: datetime, timezone: str) -> datetime:
        """The moment itself if it is outside quiet hours, else the end of the quiet window (UTC)."""
        zone = ZoneInfo(timezone)
        local = moment.astimezone(zone)
        if not self.contains(local.time()):
            return moment.astimezone(UTC)
        end_day = local.date() if local.time() < self.end else local.date() + timedelta(days=1)
        return datetime.combine(end_day, self.end, tzinfo=zone).astimezone(UTC)
