"""Where each AI goes in the drawing of the follow/endorse graph, as a plain function of the
names, the links and the room each node takes (its circle and the label under or over it).

Each group of linked AIs is shaped by networkx's ForceAtlas2 (its strong gravity keeps the
group round and compact), turned to lie along the box, and spread until no node's circle or
label covers another's. The groups are then set side by side in rows that match the box's
proportions, and the whole is spread evenly (the same in x and y, the nodes keeping their
size) to fill the box. AIs with no link at all stand in a tidy grid below, in the order given,
where a force layout would scatter them to the edges.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import networkx as nx
import numpy as np
from numpy.typing import NDArray

SEED = 7  # the same family is always drawn the same way
MARGIN = 12.0  # between the drawing and the edge of its box
GAP = 10.0  # at least this much between the room of two nodes
LABEL_GAP = 3.0  # between a circle and the top of its label
LABEL_HEIGHT = 15.0  # a line of the label's font, with room for its halo
CROWD = 1.6  # the area a drawing takes at least, in the area of its nodes' rooms
LINK = 3.0  # a typical link's longest, in node widths: a small family stays together


@dataclass(frozen=True)
class Room:
    """What one node covers around its centre: its circle and, under it (or over it), its
    label."""

    radius: float
    label_width: float
    label_above: bool = False

    @property
    def half_width(self) -> float:
        return max(self.radius, self.label_width / 2)

    @property
    def top(self) -> float:
        return self.radius + (LABEL_GAP + LABEL_HEIGHT if self.label_above else 0.0)

    @property
    def bottom(self) -> float:
        return self.radius + (0.0 if self.label_above else LABEL_GAP + LABEL_HEIGHT)


@dataclass(frozen=True)
class Layout:
    """The centre of every node, in a drawing ``width`` by ``height``: as wide as the box asked
    for (wider only when the nodes need it), as tall as the nodes need."""

    width: float
    height: float
    centres: dict[str, tuple[float, float]]
    labels_above: frozenset[str]  # the nodes whose label is over their circle, not under it


@functools.lru_cache(maxsize=16)
def layout(
    names: tuple[str, ...],
    links: tuple[tuple[str, str], ...],
    rooms: tuple[Room, ...],
    width: float,
    height: float,
) -> Layout:
    """Place ``names`` (each taking the room at the same index) in a ``width`` by ``height``
    box. The last few layouts are kept: the graph changes far less often than it is shown."""
    room = dict(zip(names, rooms, strict=True))
    order = {n: i for i, n in enumerate(names)}
    graph: nx.Graph[str] = nx.Graph()
    graph.add_nodes_from(names)
    graph.add_edges_from((a, b) for a, b in links if a != b and a in room and b in room)
    alone = [n for n in names if graph.degree(n) == 0]
    groups = sorted(
        (sorted(group, key=order.__getitem__) for group in nx.connected_components(graph)),
        key=lambda group: (-len(group), order[group[0]]),
    )
    groups = [group for group in groups if len(group) > 1]

    # The grid of unlinked AIs takes this much of the box's height (about: its columns are
    # known once the linked ones are drawn).
    columns, cell_width, cell_height = _grid(alone, room, width)
    grid_height = math.ceil(len(alone) / columns) * cell_height
    centres: dict[str, tuple[float, float]] = {}
    shape_width = shape_height = 0.0
    if groups:
        space = (
            width - 2 * MARGIN,
            max(height - 2 * MARGIN - grid_height - GAP, height / 3),
        )
        pieces = [_piece(graph.subgraph(group), group, room, space) for group in groups]
        room.update(
            (n, r) for piece in pieces for n, r in zip(piece.names, piece.rooms, strict=True)
        )
        linked = [n for group in groups for n in group]
        shape = _fill(_pack(pieces, space), linked, graph, room, space)
        low, high = _extent(shape, [room[n] for n in linked])
        shape_width, shape_height = high - low
        shape -= low
        centres.update((n, (float(x), float(y))) for n, (x, y) in zip(linked, shape, strict=True))
    # As many columns as the drawing above is wide, when it came out wider than the box.
    columns, cell_width, cell_height = _grid(alone, room, max(width, shape_width + 2 * MARGIN))
    grid_height = math.ceil(len(alone) / columns) * cell_height
    drawn_width = max(shape_width, columns * cell_width if alone else 0.0)
    for n, (x, y) in list(centres.items()):
        centres[n] = (x + (drawn_width - shape_width) / 2, y)
    # The grid's cells have GAP / 2 around each room; its first and last row need none
    # outside.
    top = shape_height + (GAP / 2 if groups else -GAP / 2)
    tallest = max((room[n].top for n in alone), default=0.0)
    for i, n in enumerate(alone):
        row, column = divmod(i, columns)
        in_row = min(columns, len(alone) - row * columns)
        left = (drawn_width - in_row * cell_width) / 2
        centres[n] = (
            left + (column + 0.5) * cell_width,
            top + row * cell_height + GAP / 2 + tallest,
        )
    drawn_height = top + grid_height - GAP / 2 if alone else shape_height
    # The box is as tall as the drawing, and wider than asked only when the drawing is: a
    # large family then scrolls down the page rather than shrinking to fit its width.
    box_width, box_height = max(width, drawn_width + 2 * MARGIN), drawn_height + 2 * MARGIN
    dx, dy = (box_width - drawn_width) / 2, (box_height - drawn_height) / 2
    return Layout(
        round(float(box_width), 1),
        round(float(box_height), 1),
        {n: (round(float(x + dx), 1), round(float(y + dy), 1)) for n, (x, y) in centres.items()},
        frozenset(n for n, r in room.items() if r.label_above),
    )


def _grid(alone: list[str], room: dict[str, Room], width: float) -> tuple[int, float, float]:
    """Columns, cell width and cell height of the grid of unlinked AIs: as many columns as
    fit the box's width, each wide enough for the widest label."""
    if not alone:
        return 1, 0.0, 0.0
    cell_width = max(2 * room[n].half_width for n in alone) + GAP
    cell_height = max(room[n].top for n in alone) + max(room[n].bottom for n in alone) + GAP
    columns = max(1, min(len(alone), int((width - 2 * MARGIN) // cell_width)))
    return columns, cell_width, cell_height


@dataclass(frozen=True)
class _Piece:
    """One connected group, laid out: its centres, with the corner of its rooms at 0, 0, and
    the rooms with their labels on the side chosen."""

    names: list[str]
    rooms: list[Room]
    centres: NDArray[np.float64]
    width: float
    height: float


def _piece(
    graph: nx.Graph[str], names: list[str], room: dict[str, Room], space: tuple[float, float]
) -> _Piece:
    """A connected group as ForceAtlas2 draws it, turned to lie along the box, as compact
    as its rooms allow."""
    place = _turn_to(_force_atlas(tuple(names), tuple(graph.edges())), space)
    rooms = [
        replace(room[n], label_above=above)
        for n, above in zip(names, _labels_above(place, names, graph), strict=True)
    ]
    typical = _typical_link(place, names, graph)
    widest = max(2 * r.half_width for r in rooms) + GAP
    # Links about a room's width long to begin with, and never so short that the rooms could
    # not fit in the area drawn (spreading a heap of overlapping nodes leaves it ragged).
    extent = np.maximum(np.ptp(place, axis=0), typical)
    area = sum((2 * r.half_width + GAP) * (r.top + r.bottom + GAP) for r in rooms)
    scale = max(widest / typical, math.sqrt(CROWD * area / float(extent[0] * extent[1])))
    # Yet no larger across the box's short side than the box: spreading the rooms apart then
    # goes along the box (down a phone's screen) rather than across it.
    short = 1 if space[0] >= space[1] else 0
    room_across = max(2 * r.half_width if short == 0 else r.top + r.bottom for r in rooms)
    if space[short] > room_across:
        scale = min(scale, (space[short] - room_across) / float(extent[short]))
    place = _apart(place * scale, rooms)
    low, high = _extent(place, rooms)
    return _Piece(names, rooms, place - low, *(float(v) for v in high - low))


@functools.lru_cache(maxsize=64)
def _force_atlas(names: tuple[str, ...], links: tuple[tuple[str, str], ...]) -> NDArray[np.float64]:
    """ForceAtlas2's positions of a connected group, in the order of ``names``. Kept, as the
    page draws the same group twice (for wide screens and for phones): the shape does not
    depend on the box."""
    graph: nx.Graph[str] = nx.Graph()
    graph.add_nodes_from(names)
    graph.add_edges_from(links)
    found = nx.forceatlas2_layout(graph, max_iter=300, strong_gravity=True, seed=SEED)
    place = np.array([found[n] for n in names], dtype=np.float64)
    place.flags.writeable = False  # shared by every caller
    return place


def _labels_above(place: NDArray[np.float64], names: list[str], graph: nx.Graph[str]) -> list[bool]:
    """For each node, whether its label goes over its circle: where more of its links leave
    downwards than upwards, so that fewer lines cross it."""
    index = {n: i for i, n in enumerate(names)}
    return [
        sum(np.sign(place[index[m], 1] - place[index[n], 1]) for m in graph.neighbors(n)) > 0
        for n in names
    ]


def _typical_link(place: NDArray[np.float64], names: list[str], graph: nx.Graph[str]) -> float:
    index = {n: i for i, n in enumerate(names)}
    ends = np.array([(index[a], index[b]) for a, b in graph.edges() if a in index])
    lengths = np.linalg.norm(place[ends[:, 0]] - place[ends[:, 1]], axis=1)
    return max(float(np.median(lengths)), 1e-6)


def _pack(pieces: list[_Piece], space: tuple[float, float]) -> NDArray[np.float64]:
    """The pieces side by side in rows (largest first), each row centred, with as many per
    row as makes the whole come closest to the box's proportions. All their centres, in
    order."""
    best: tuple[float, NDArray[np.float64]] | None = None
    for per_row in range(1, len(pieces) + 1):
        rows = [pieces[i : i + per_row] for i in range(0, len(pieces), per_row)]
        widths = [sum(p.width for p in row) + 2 * GAP * (len(row) - 1) for row in rows]
        wide = max(widths)
        placed, top = [], 0.0
        for row, row_width in zip(rows, widths, strict=True):
            left = (wide - row_width) / 2
            for piece in row:
                placed.append(piece.centres + np.array([left, top]))
                left += piece.width + 2 * GAP
            top += max(p.height for p in row) + 2 * GAP
        fit = max(wide / space[0], (top - 2 * GAP) / space[1])
        if best is None or fit < best[0]:
            best = (fit, np.concatenate(placed))
    assert best is not None
    return best[1]


def _fill(
    place: NDArray[np.float64],
    names: list[str],
    graph: nx.Graph[str],
    room: dict[str, Room],
    space: tuple[float, float],
) -> NDArray[np.float64]:
    """The packed drawing spread out (the rooms keep their size, so nothing comes to overlap)
    until it fills the box, or its links grow too long to follow by eye."""
    rooms = [room[n] for n in names]
    low, high = _extent(place, rooms)
    spread = np.ptp(place, axis=0)
    pad = (high - low) - spread
    widest = max(2 * r.half_width for r in rooms) + GAP
    with np.errstate(divide="ignore"):
        fits = np.where(spread > 0, (np.array(space) - pad) / spread, np.inf)
    most = LINK * widest / _typical_link(place, names, graph)
    factor = max(1.0, min(float(fits.min()), most))
    shape: NDArray[np.float64] = (place - place.min(axis=0)) * factor
    return shape


def _turn_to(place: NDArray[np.float64], space: tuple[float, float]) -> NDArray[np.float64]:
    """The same drawing turned so its longer side lies along the longer side of ``space``
    (turning keeps every distance, so it fills the box better at no cost)."""
    centred: NDArray[np.float64] = place - place.mean(axis=0)
    if len(place) < 2:
        return centred
    _, vectors = np.linalg.eigh(np.cov(centred.T))
    along = centred @ vectors[:, ::-1]  # the direction of most spread first
    if space[1] > space[0]:
        along = along[:, ::-1]
    # Signs fixed, so eigenvectors that come out flipped draw the same picture.
    turned: NDArray[np.float64] = along * np.where(
        along[np.abs(along).argmax(axis=0), [0, 1]] < 0, -1.0, 1.0
    )
    return turned


def _apart(place: NDArray[np.float64], rooms: list[Room], rounds: int = 200) -> NDArray[np.float64]:
    """``place`` moved until no two rooms overlap: each overlapping pair is pushed apart along
    the axis where it overlaps least, a little each round; whatever still overlaps after that
    is cured by spreading the whole drawing (which works as the pushes leave no two centres
    on one spot)."""
    half = np.array([r.half_width for r in rooms]) + GAP / 2
    # A room is not centred on its node (the label hangs below or above it): compare the
    # rooms' centres.
    middle = np.array([(r.bottom - r.top) / 2 for r in rooms])
    tall = np.array([(r.top + r.bottom) / 2 for r in rooms]) + GAP / 2
    # Ties (a pair on one line) are broken by index, so the result does not depend on luck.
    order = np.sign(np.subtract.outer(np.arange(len(place)), np.arange(len(place))))
    place = place.copy()
    for _ in range(rounds):
        need_x, need_y, dx, dy = _overlap(place, middle, half, tall)
        over = (np.abs(dx) < need_x) & (np.abs(dy) < need_y)
        np.fill_diagonal(over, False)
        if not over.any():
            return place
        short_x, short_y = need_x - np.abs(dx), need_y - np.abs(dy)
        along_x = over & (short_x <= short_y)
        along_y = over & ~along_x
        push = np.zeros_like(place)
        push[:, 0] = (np.where(along_x, short_x * _side(dx, order), 0.0) / 2).sum(axis=1)
        push[:, 1] = (np.where(along_y, short_y * _side(dy, order), 0.0) / 2).sum(axis=1)
        place += push * 0.5
    need_x, need_y, dx, dy = _overlap(place, middle, half, tall)
    with np.errstate(divide="ignore"):
        spread = np.minimum(need_x / np.abs(dx), need_y / np.abs(dy))
    np.fill_diagonal(spread, 1.0)
    return place * max(1.0, float(spread.max()) * 1.001)


def _overlap(
    place: NDArray[np.float64],
    middle: NDArray[np.float64],
    half: NDArray[np.float64],
    tall: NDArray[np.float64],
) -> tuple[NDArray[np.float64], ...]:
    """For every pair: how far apart their rooms' centres must be in x and in y, and are."""
    dx = np.subtract.outer(place[:, 0], place[:, 0])
    dy = np.subtract.outer(place[:, 1] + middle, place[:, 1] + middle)
    return np.add.outer(half, half), np.add.outer(tall, tall), dx, dy


def _side(delta: NDArray[np.float64], order: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.where(delta != 0, np.sign(delta), order)


def _extent(
    place: NDArray[np.float64], rooms: list[Room]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The corners of the rectangle that holds every node's room."""
    low = np.array([[x - r.half_width, y - r.top] for (x, y), r in zip(place, rooms, strict=True)])
    high = np.array(
        [[x + r.half_width, y + r.bottom] for (x, y), r in zip(place, rooms, strict=True)]
    )
    return low.min(axis=0), high.max(axis=0)
