"""Where to put the labelled times along a time axis, and what each label says: round times
(every 5 s, 10 min, 3 h, midnight, a Monday, the 1st of a month) at a step suited to the span,
each label as short as it can be and still tell the ticks apart. The date is written on the
first tick and wherever the day changes, so a span of minutes reads "Dec 3 16:17:10, 16:17:20 …"
and a span of days "Dec 3, 12:00, Dec 4 …".

A plain function of two times, so the timeline's tests need no page.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

SECOND, MINUTE, HOUR, DAY = 1, 60, 3600, 86400
# Steps within a day, in seconds: each divides a day, so ticks counted from midnight land on
# the same round times every day.
CLOCK_STEPS = (
    1,
    2,
    5,
    10,
    15,
    30,
    MINUTE,
    2 * MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
)
DAY_STEPS = (1, 2, 7, 14)  # in days; 7 and 14 start on a Monday
MONTH_STEPS = (1, 2, 3, 6, 12, 24, 60, 120)


def time_ticks(start: datetime, end: datetime, most: int = 6) -> list[tuple[datetime, str]]:
    """At most ``most`` (at least 2) round times from ``start`` to ``end``, each with its label;
    a span too short for two ticks gets one, at ``start``, with its date and time."""
    most = max(2, most)
    if end > start:
        for ticks in _candidates(start, end):
            if 2 <= len(ticks) <= most:
                return _labelled(ticks, _precision(ticks))
            if len(ticks) < 2:
                break  # every coarser step has fewer still
    return [(start, f"{_day(start, True)} {start:%H:%M:%S}")]


def _candidates(start: datetime, end: datetime) -> Iterator[list[datetime]]:
    """The round times within [start, end] at each step, finest step first."""
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    for step in CLOCK_STEPS:
        # Counted from midnight of the first day: the first multiple of the step from start.
        into_day = (start - midnight).total_seconds()
        first = midnight + timedelta(seconds=-(-into_day // step) * step)
        yield _every(first, end, timedelta(seconds=step))
    for days in DAY_STEPS:
        first = midnight if midnight == start else midnight + timedelta(days=1)
        if days >= 7:
            first += timedelta(days=-first.weekday() % 7)  # the first Monday
        yield _every(first, end, timedelta(days=days))
    for months in MONTH_STEPS:
        yield list(_months(start, end, months))


def _every(first: datetime, end: datetime, step: timedelta) -> list[datetime]:
    if end < first:
        return []
    count = (end - first) // step + 1
    if count > 1_000:  # far more than an axis shows: the caller only needs to see too many
        return [first + step * i for i in range(1_000)]
    return [first + step * i for i in range(count)]


def _months(start: datetime, end: datetime, months: int) -> Iterator[datetime]:
    """The 1st of every ``months``-th month (counted from January of year 0) in the span."""
    index = start.year * 12 + start.month - 1
    index = -(-index // months) * months  # the first on or after start's month
    while True:
        at = start.replace(
            year=index // 12, month=index % 12 + 1, day=1, hour=0, minute=0, second=0, microsecond=0
        )
        if at > end:
            return
        if at >= start:
            yield at
        index += months


def _precision(ticks: list[datetime]) -> str:
    """How much of the time the labels need: seconds, minutes (hours too), days or months."""
    step = (ticks[1] - ticks[0]).total_seconds()
    if step < MINUTE:
        return "seconds"
    if step < DAY:
        return "minutes"
    if all(at.day == 1 for at in ticks) and step >= 28 * DAY:
        return "months"
    return "days"


def _labelled(ticks: list[datetime], precision: str) -> list[tuple[datetime, str]]:
    labelled = []
    for i, at in enumerate(ticks):
        before = ticks[i - 1] if i else None
        new_day = before is None or before.date() != at.date()
        # The year only where it changes: the table below the timeline has full dates.
        new_year = before is not None and before.year != at.year
        if precision == "months":
            label = f"{at:%b}" + (f" {at.year}" if new_year or before is None else "")
        elif precision == "days":
            label = _day(at, new_year)
        else:
            clock = f"{at:%H:%M:%S}" if precision == "seconds" else f"{at:%H:%M}"
            if new_day and (at.hour, at.minute, at.second) == (0, 0, 0):
                label = _day(at, new_year)  # midnight: the new day says it all
            elif new_day:
                label = f"{_day(at, new_year)} {clock}"
            else:
                label = clock
        labelled.append((at, label))
    return labelled


def _day(at: datetime, with_year: bool) -> str:
    """Dec 3, or Dec 3 2026 where the year needs saying (month names: the C locale's)."""
    return f"{at:%b} {at.day}" + (f" {at.year}" if with_year else "")
