"""The memory timeline's time axis: round, distinct ticks at a step suited to the span, with
the date written where the day changes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from cloudbrain.familio import charts
from cloudbrain.familio.time_axis import time_ticks

START = datetime(2026, 12, 3, 16, 17, 3, tzinfo=UTC)


def labels(span: timedelta, start: datetime = START) -> list[str]:
    ticks = time_ticks(start, start + span)
    assert [at for at, _ in ticks] == sorted(at for at, _ in ticks)
    assert all(start <= at <= start + span for at, _ in ticks)
    return [label for _, label in ticks]


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        (
            timedelta(seconds=30),
            ["Dec 3 16:17:05", "16:17:10", "16:17:15", "16:17:20", "16:17:25", "16:17:30"],
        ),
        (timedelta(minutes=10), ["Dec 3 16:18", "16:20", "16:22", "16:24", "16:26"]),
        (timedelta(hours=5), ["Dec 3 17:00", "18:00", "19:00", "20:00", "21:00"]),
        (timedelta(days=3), ["Dec 4", "12:00", "Dec 5", "12:00", "Dec 6", "12:00"]),
        # Two-week steps start on a Monday; the year is said where it changes.
        (timedelta(days=60), ["Dec 7", "Dec 21", "Jan 4 2027", "Jan 18", "Feb 1"]),
    ],
    ids=["30s", "10min", "5h", "3days", "60days"],
)
def test_ticks_are_round_times_at_a_step_suited_to_the_span(
    span: timedelta, expected: list[str]
) -> None:
    assert labels(span) == expected


@pytest.mark.parametrize(
    "span",
    [timedelta(seconds=s) for s in (3, 30, 90, 600, 3_000, 18_000, 80_000)]
    + [timedelta(days=d) for d in (1, 3, 6, 20, 60, 200, 800, 4_000)],
)
def test_labels_are_distinct_and_few_for_any_span(span: timedelta) -> None:
    found = labels(span)
    assert 2 <= len(found) <= 6
    # Two labels that read the same are two ticks on different days, and each says its day.
    ticks = time_ticks(START, START + span)
    for (at, label), (other, same) in itertools.pairwise(ticks):
        assert label != same or at.date() != other.date()
    assert len(set(found)) == len(found) or span >= timedelta(days=1)


def test_the_day_is_written_where_it_changes_within_a_few_hours() -> None:
    evening = datetime(2026, 12, 3, 21, 40, tzinfo=UTC)
    assert labels(timedelta(hours=5), evening) == [
        "Dec 3 22:00",
        "23:00",
        "Dec 4",
        "01:00",
        "02:00",
    ]


def test_a_span_too_short_for_two_ticks_gets_one_with_its_date() -> None:
    assert time_ticks(START, START) == [(START, "Dec 3 2026 16:17:03")]
    assert labels(timedelta(milliseconds=400)) == ["Dec 3 2026 16:17:03"]


def test_the_timeline_places_ticks_in_order_within_its_width() -> None:
    points = [
        charts.Point(START + timedelta(seconds=s), device, "", "")
        for s, device in [(0, "laptop"), (12, "jetson"), (30, "laptop")]
    ]
    drawn = charts.timeline(points)
    xs = [tick.x for tick in drawn.ticks]
    assert xs == sorted(xs) and xs[0] >= charts.LEFT and xs[-1] <= drawn.width
    assert len({tick.label for tick in drawn.ticks}) == len(drawn.ticks) == 6
