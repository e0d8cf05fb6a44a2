"""The agency's opening hours told to a client who asks when it works: from its calendar and the moment he asks."""

from __future__ import annotations

from datetime import date, datetime, time

from core.business_hours import WEEKDAY_NAMES, BusinessCalendar, Interval
from core.dialogue.model import DRAFT_STATES, Deps, Draft, Event, Say, Snapshot, State, TicketNote
from core.dialogue.replies import rating_buttons, reprompt, schedule_idle
from core.texts import Texts

# A next opening within this many days is named by its weekday ("周一 09:00"); a later one by its date too (after
# a long holiday the weekday alone would be read as the coming one).
_BY_WEEKDAY = 6


def hours_answer(deps: Deps, lang: str) -> Say:
    """The weekly hours, holidays, and whether the agency is open now ("…现在是工作时间，今天 18:00 下班。")."""
    calendar, texts = deps.calendar, deps.texts
    return Say(
        "hours.answer", {"schedule": schedule(calendar, texts, lang), "now": right_now(calendar, deps.now, texts, lang)}
    )


def act_tell_hours(draft: Draft, snapshot: Snapshot, event: Event, deps: Deps) -> None:
    """A question about when the agency works, and nothing else: answered, then back to where the client was (the
    detail asked, the summary, the score); nothing is stored and nothing is opened."""
    if snapshot.has_ticket:
        draft.effects.append(TicketNote("client_message", {"text": event.text}))
    draft.effects.append(hours_answer(deps, draft.lang))
    if snapshot.state in DRAFT_STATES:
        reprompt(draft, deps)
        schedule_idle(draft, deps)
    elif snapshot.state is State.AWAITING_FEEDBACK:
        draft.say("feedback.ask", rating_buttons(deps, draft.lang))
    elif snapshot.state in {State.NEW, State.CLOSED}:
        draft.effects.append(Say("hours.anything_else"))


def schedule(calendar: BusinessCalendar, texts: Texts, lang: str) -> str:
    """The week's hours in words: "周一至周五 09:00–12:00、13:30–18:00，周六、周日及法定节假日休息"."""
    runs: list[tuple[list[int], tuple[Interval, ...]]] = []
    for weekday in range(7):
        hours = calendar.weekly_hours.get(weekday, ())
        if runs and runs[-1][1] == hours:
            runs[-1][0].append(weekday)
        else:
            runs.append(([weekday], hours))
    opened = [
        texts.get("hours.open_days", lang, days=_days(days, texts, lang), intervals=_intervals(hours, texts, lang))
        for days, hours in runs
        if hours
    ]
    closed = texts.get("hours.day_separator", lang).join(_days(days, texts, lang) for days, hours in runs if not hours)
    parts = [texts.get("hours.group_separator", lang).join(opened)] if opened else []
    if closed and calendar.holidays:
        parts.append(texts.get("hours.closed_and_holidays", lang, days=closed))
    elif closed:
        parts.append(texts.get("hours.closed", lang, days=closed))
    elif calendar.holidays:
        parts.append(texts.get("hours.holidays", lang))
    return texts.get("hours.clause_separator", lang).join(parts)


def right_now(calendar: BusinessCalendar, now: datetime, texts: Texts, lang: str) -> str:
    """Whether the agency is open at `now`, and if not, when it opens next ("今天休息，下一个工作时间是周一 09:00")."""
    local = now.astimezone(calendar.tz)
    today = local.date()
    hours = calendar.hours_on(today)
    if calendar.is_open(now):
        # Open now means hours today: an interval ends at 24:00 at the latest, so none runs on from yesterday.
        return texts.get("hours.open_now", lang, close=_clock(hours[-1][1] if hours else time(0), end=True))
    try:
        opening = calendar.next_open(now).astimezone(calendar.tz)
    except ValueError:
        # A calendar without a single open hour: there is no next opening to name.
        return ""
    if opening.date() == today:
        return texts.get("hours.opens_today", lang, time=_clock(opening.time()))
    when = _when(opening, today, texts, lang)
    if hours:
        return texts.get("hours.closed_for_today", lang, next=when)
    if today in calendar.holidays:
        return texts.get("hours.holiday_today", lang, next=when)
    return texts.get("hours.day_off", lang, next=when)


def _when(opening: datetime, today: date, texts: Texts, lang: str) -> str:
    days = (opening.date() - today).days
    weekday = _weekday(opening.weekday(), texts, lang)
    clock = _clock(opening.time())
    if days == 1:
        return texts.get("hours.next_tomorrow", lang, weekday=weekday, time=clock)
    if days <= _BY_WEEKDAY:
        return texts.get("hours.next_weekday", lang, weekday=weekday, time=clock)
    day = opening.date()
    return texts.get(
        "hours.next_date", lang, weekday=weekday, time=clock, month=day.month, day=day.day, date=day.isoformat()
    )


def _days(days: list[int], texts: Texts, lang: str) -> str:
    """A run of weekdays: "周一", "周六、周日", "周一至周五"."""
    if len(days) >= 3:
        first, last = _weekday(days[0], texts, lang), _weekday(days[-1], texts, lang)
        return texts.get("hours.day_range", lang, first=first, last=last)
    return texts.get("hours.day_separator", lang).join(_weekday(d, texts, lang) for d in days)


def _intervals(hours: tuple[Interval, ...], texts: Texts, lang: str) -> str:
    return texts.get("hours.interval_separator", lang).join(
        texts.get("hours.interval", lang, start=_clock(start), end=_clock(end, end=True)) for start, end in hours
    )


def _weekday(weekday: int, texts: Texts, lang: str) -> str:
    return texts.get(f"hours.weekdays.{WEEKDAY_NAMES[weekday]}", lang)


def _clock(moment: time, *, end: bool = False) -> str:
    # The calendar keeps the end of a day as time(0): said as 24:00.
    return "24:00" if end and moment == time(0) else moment.strftime("%H:%M")
