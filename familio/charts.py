"""The geometry of the web view's pictures, as plain functions: colours for devices, a memory
timeline (one lane per device), bar charts, and a drawing of the follow/endorse graph. The
templates turn the results into SVG, so every picture is drawn on the server from real data
and shows without JavaScript.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

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


@dataclass(frozen=True)
class Node:
    name: str
    x: float
    y: float
    radius: float
    online: bool


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    path: str  # SVG path data: a gentle curve, so A->B and B->A are both seen
    kind: str  # follow | endorse
    label: str  # the skills, for endorsements


WIDTH, HEIGHT = 1000, 640


def graph(
    names: Sequence[str],
    follows: Sequence[tuple[str, str]],
    endorsements: Sequence[tuple[str, str, str]],
    reputation: Mapping[str, float],
    online: set[str],
) -> tuple[list[Node], list[Edge]]:
    """Where to draw each AI and each follow and endorsement, by a force-directed layout."""
    links = [(a, b) for a, b in follows] + [(a, b) for a, b, _ in endorsements]
    position = spring_layout(tuple(names), tuple(links), WIDTH, HEIGHT)
    nodes = {
        n: Node(n, *position[n], round(6 + 14 * reputation.get(n, 0.5), 1), n in online)
        for n in names
    }
    skills: dict[tuple[str, str], list[str]] = {}
    for a, b, skill in endorsements:
        skills.setdefault((a, b), []).append(skill)
    edges = [Edge(a, b, _curve(nodes[a], nodes[b], 0.12), "follow", "") for a, b in follows]
    edges += [
        Edge(a, b, _curve(nodes[a], nodes[b], 0.22), "endorse", ", ".join(sorted(found)))
        for (a, b), found in skills.items()
    ]
    return list(nodes.values()), edges


def _curve(start: Node, end: Node, bend: float) -> str:
    """A quadratic curve from the rim of ``start`` to the rim of ``end``, bowed to its right
    by ``bend`` of its length (follows and endorsements bow differently, so both show)."""
    dx, dy = end.x - start.x, end.y - start.y
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length
    x1, y1 = start.x + ux * start.radius, start.y + uy * start.radius
    x2, y2 = end.x - ux * (end.radius + 3), end.y - uy * (end.radius + 3)
    cx, cy = (x1 + x2) / 2 - uy * length * bend, (y1 + y2) / 2 + ux * length * bend
    return f"M {x1:.1f} {y1:.1f} Q {cx:.1f} {cy:.1f} {x2:.1f} {y2:.1f}"


@functools.lru_cache(maxsize=16)
def spring_layout(
    names: tuple[str, ...],
    links: tuple[tuple[str, str], ...],
    width: int,
    height: int,
    rounds: int = 150,
) -> dict[str, tuple[float, float]]:
    """Fruchterman and Reingold's layout: linked AIs pull together, all push apart. Starts
    from a circle, so the same graph is always drawn the same way, and the last few graphs'
    layouts are kept (the graph changes far less often than its page is shown)."""
    count = len(names)
    if count == 0:
        return {}
    index = {n: i for i, n in enumerate(names)}
    angles = np.linspace(0, 2 * np.pi, count, endpoint=False)
    place = np.column_stack([np.cos(angles), np.sin(angles)]) * 0.4
    pairs = np.array(
        [(index[a], index[b]) for a, b in links if a in index and b in index and a != b],
        dtype=np.int64,
    ).reshape(-1, 2)
    ideal = 1.0 / np.sqrt(count)
    heat = 0.1
    for _ in range(rounds):
        delta = place[:, None, :] - place[None, :, :]
        distance = np.maximum(np.linalg.norm(delta, axis=-1), 1e-3)
        push = (delta / distance[..., None] * (ideal**2 / distance)[..., None]).sum(axis=1)
        if len(pairs):
            along = place[pairs[:, 0]] - place[pairs[:, 1]]
            length = np.maximum(np.linalg.norm(along, axis=-1), 1e-3)
            pull = along * (length / ideal)[:, None]
            np.add.at(push, pairs[:, 0], -pull)
            np.add.at(push, pairs[:, 1], pull)
        length = np.maximum(np.linalg.norm(push, axis=-1), 1e-9)
        place += push / length[:, None] * np.minimum(length, heat)[:, None]
        heat *= 0.97
    low, high = place.min(axis=0), place.max(axis=0)
    spread = np.where(high - low > 1e-9, high - low, 1.0)
    margin = 40
    scaled = margin + (place - low) / spread * (np.array([width, height]) - 2 * margin)
    return {
        n: (round(float(scaled[i, 0]), 1), round(float(scaled[i, 1]), 1)) for n, i in index.items()
    }
