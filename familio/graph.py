"""The follow/endorse graph of the web view, as plain functions: a drawing (where each AI's
circle and label go, and the curve of each follow and endorsement) and the same ties as a
list, which reads better than any drawing on a narrow screen."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cloudbrain.familio.layout import LABEL_GAP, LABEL_HEIGHT, Room, layout

FONT = 12.0  # the labels' font size, in the drawing's units (familio.css says the same)
WIDE = frozenset("mwMW@%&")  # letters about as wide as the font is high
LABEL_MOST = 18  # characters of a name shown by its circle (the whole name is its title)
BASELINE = 11.5  # from the top of a label to its baseline


@dataclass(frozen=True)
class Node:
    name: str
    label: str  # the name, cut short when it is long
    x: float
    y: float
    radius: float
    online: bool
    label_above: bool  # over the circle, where more lines leave it downwards

    @property
    def label_y(self) -> float:
        """The baseline of the label."""
        if self.label_above:
            return round(self.y - self.radius - LABEL_GAP - LABEL_HEIGHT + BASELINE, 1)
        return round(self.y + self.radius + LABEL_GAP + BASELINE, 1)


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    path: str  # SVG path data: a gentle curve, so A->B and B->A are both seen
    kind: str  # follow | endorse
    label: str  # the skills, for endorsements


@dataclass(frozen=True)
class Drawing:
    width: float
    height: float
    nodes: list[Node]
    edges: list[Edge]


def graph(
    names: Sequence[str],
    follows: Sequence[tuple[str, str]],
    endorsements: Sequence[tuple[str, str, str]],
    reputation: Mapping[str, float],
    online: set[str],
    width: float,
    height: float,
) -> Drawing:
    """Where to draw each AI and each follow and endorsement, in a box ``width`` wide (wider
    only when the family needs it), as tall as the drawing needs and about ``height``."""
    names = sorted(set(names))
    labels = {n: label(n) for n in names}
    # Whole units: a small change of reputation leaves the layout (and its cache) as it was.
    radii = {n: float(round(7 + 10 * min(1.0, max(0.0, reputation.get(n, 0.5))))) for n in names}
    rooms = tuple(Room(radii[n], label_width(labels[n])) for n in names)
    links = tuple(sorted({*follows, *((a, b) for a, b, _ in endorsements)}))
    placed = layout(tuple(names), links, rooms, width, height)
    nodes = {
        n: Node(n, labels[n], *placed.centres[n], radii[n], n in online, n in placed.labels_above)
        for n in names
    }
    skills: dict[tuple[str, str], list[str]] = {}
    for a, b, skill in endorsements:
        skills.setdefault((a, b), []).append(skill)
    edges = [
        Edge(a, b, _curve(nodes[a], nodes[b], 0.12), "follow", "")
        for a, b in sorted(set(follows))
        if a != b
    ]
    edges += [
        Edge(a, b, _curve(nodes[a], nodes[b], 0.22), "endorse", ", ".join(sorted(found)))
        for (a, b), found in sorted(skills.items())
        if a != b
    ]
    return Drawing(placed.width, placed.height, list(nodes.values()), edges)


def label(name: str) -> str:
    return name if len(name) <= LABEL_MOST else name[: LABEL_MOST - 1] + "…"


def label_width(text: str) -> float:
    """How wide ``text`` is drawn, at most. The server cannot measure it: this is a generous
    guess per character for the sans-serif fonts browsers use (a wide letter or a Chinese or
    Japanese one about 1 em, a capital 0.75, the rest 0.62), and room for the outline."""
    ems = sum(
        1.0
        if c in WIDE or unicodedata.east_asian_width(c) in "WF"
        else 0.75
        if c.isupper()
        else 0.62
        for c in text
    )
    return ems * FONT + 4


def _curve(start: Node, end: Node, bend: float) -> str:
    """A quadratic curve from the rim of ``start`` to the rim of ``end``, bowed to its right
    by ``bend`` of its length (follows and endorsements bow differently, so both show). It
    leaves and meets each circle head on, so its arrow ends on the rim, pointing at the
    centre."""
    dx, dy = end.x - start.x, end.y - start.y
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length
    # A curve bowed by ``bend`` leaves its chord at this angle, at both ends.
    turn = math.atan(2 * bend)
    cos, sin = math.cos(turn), math.sin(turn)
    out = (ux * cos - uy * sin, ux * sin + uy * cos)
    back = (ux * cos + uy * sin, -ux * sin + uy * cos)
    rim_start, rim_end = start.radius + 1, end.radius + 1  # + half the circle's stroke
    x1, y1 = start.x + out[0] * rim_start, start.y + out[1] * rim_start
    x2, y2 = end.x - back[0] * rim_end, end.y - back[1] * rim_end
    chord = math.hypot(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2 - uy * chord * bend, (y1 + y2) / 2 + ux * chord * bend
    return f"M {x1:.1f} {y1:.1f} Q {cx:.1f} {cy:.1f} {x2:.1f} {y2:.1f}"


@dataclass(frozen=True)
class Ties:
    """What one AI does to others: whom it follows, whom it endorses and for what."""

    name: str
    follows: list[str]
    endorses: list[tuple[str, str]]  # (whom, the skills)


def ties(
    follows: Sequence[tuple[str, str]], endorsements: Sequence[tuple[str, str, str]]
) -> list[Ties]:
    """The graph as a list, by the name of the AI that follows or endorses."""
    followed: dict[str, set[str]] = {}
    for a, b in follows:
        followed.setdefault(a, set()).add(b)
    skills: dict[str, dict[str, set[str]]] = {}
    for a, b, skill in endorsements:
        skills.setdefault(a, {}).setdefault(b, set()).add(skill)
    return [
        Ties(
            name,
            sorted(followed.get(name, ())),
            [(b, ", ".join(sorted(s))) for b, s in sorted(skills.get(name, {}).items())],
        )
        for name in sorted(followed.keys() | skills.keys())
    ]
