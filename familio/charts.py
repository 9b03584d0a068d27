"""The geometry of the web view's pictures, as plain functions: colours for devices, a memory
timeline (one lane per device) and bar charts (the follow/endorse graph is drawn in
``graph.py``). The templates turn the results into SVG, so every picture is drawn on the
server from real data and shows without JavaScript.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cloudbrain.familio.time_axis import time_ticks

# Colours told apart by most people, colour-blind ones included (Okabe and Ito's palette, then
# a few more).
PALETTE = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#d55e00",
    "#56b4e9",
    "#f0e442",
    "#000000",
    "#999999",
    "#882255",
)


def colours(keys: Iterable[str]) -> dict[str, str]:
    """A colour per key, the same for the same set of keys."""
    return {key: PALETTE[i % len(PALETTE)] for i, key in enumerate(sorted(set(keys)))}


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    colour: str
    href: str
    title: str


@dataclass(frozen=True)
class Lane:
    y: float
    label: str
    colour: str


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    lanes: list[Lane]
    dots: list[Dot]
    ticks: list[Tick]


@dataclass(frozen=True)
class Point:
    """One memory on the timeline."""

    at: datetime
    device: str
    href: str
    title: str


LEFT = 110  # room for the lane labels
LANE = 28


def timeline(points: Sequence[Point], width: int = 900) -> Timeline:
    """Memories along time, one lane per device, coloured by device."""
    devices = sorted({p.device or "unknown" for p in points})
    palette = colours(devices)
    lanes = [Lane(20 + LANE * i, d, palette[d]) for i, d in enumerate(devices)]
    height = 40 + LANE * max(1, len(devices))
    if not points:
        return Timeline(width, height, lanes, [], [])
    start, end = min(p.at for p in points), max(p.at for p in points)
    span = max((end - start).total_seconds(), 1.0)
    usable = width - LEFT - 50  # room for the last tick's label

    def x_of(at: datetime) -> float:
        return round(LEFT + usable * (at - start).total_seconds() / span, 1)

    lane_y = {lane.label: lane.y for lane in lanes}
    dots = [
        Dot(
            x_of(p.at),
            lane_y[p.device or "unknown"],
            palette[p.device or "unknown"],
            p.href,
            p.title,
        )
        for p in points
    ]
    ticks = [Tick(x_of(at), label) for at, label in time_ticks(start, end)]
    return Timeline(width, height, lanes, dots, ticks)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: float
    colour: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    label_every: int  # label every n-th bar, so labels do not overlap

    @property
    def empty(self) -> bool:
        return not any(bar.value for bar in self.bars)


def bars(
    values: Sequence[tuple[str, float]],
    width: int = 450,
    height: int = 120,
    colour: str = PALETTE[0],
) -> BarChart:
    """A column per value, scaled to the largest; labels as given."""
    top = max((v for _, v in values), default=0.0) or 1.0
    slot = width / max(1, len(values))
    found = [
        Bar(
            round(i * slot + slot * 0.1, 1),
            round(height - height * v / top, 1),
            round(slot * 0.8, 1),
            round(height * v / top, 1),
            label,
            v,
            colour,
        )
        for i, (label, v) in enumerate(values)
    ]
    return BarChart(width, height, found, max(1, math.ceil(len(values) / 6)))
