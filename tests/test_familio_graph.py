"""The graph page: its layout as a plain function (no node covers another, the same family is
drawn the same way, everything inside its box), and the page in a real browser on a desktop
and on a phone, read back from the DOM."""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from cloudbrain.familio.graph import Ties, graph, ties
from cloudbrain.familio.layout import MARGIN, Room, _force_atlas, layout
from cloudbrain.familio.pages import NARROW, WIDE
from cloudbrain.server import Server
from tests.browser import ARTIFACTS, Tab, open_tab
from tests.conftest import AgentFactory, ClientFactory


def family(size: int, seed: int) -> tuple[list[str], list[tuple[str, str]], dict[str, float]]:
    """``size`` AIs: most in a few groups with links inside them, a fifth with no link."""
    chance = random.Random(seed)
    names = [f"ai-{i:03d}" + "x" * chance.randrange(8) for i in range(size)]
    linked = names[: max(2, size - size // 5)]
    groups = [linked[i::3] for i in range(3)]
    links = [
        tuple(chance.sample(group, 2))
        for group in groups
        if len(group) > 1
        for _ in range(len(group) + 1)
    ]
    return names, links, {n: chance.random() for n in names}  # type: ignore[return-value]


def rooms(names: list[str], seed: int) -> tuple[Room, ...]:
    chance = random.Random(seed)
    return tuple(Room(7 + 10 * chance.random(), 8 * len(n)) for n in names)


Box = tuple[float, float, float, float]


def boxes(centres: dict[str, tuple[float, float]], room: dict[str, Room]) -> dict[str, Box]:
    """Each node's circle and room (circle and label), as (left, top, right, bottom)."""
    return {
        n: (x - room[n].half_width, y - room[n].top, x + room[n].half_width, y + room[n].bottom)
        for n, (x, y) in centres.items()
    }


def overlap(a: Box | list[float], b: Box | list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("size", [5, 30, 150])
@pytest.mark.parametrize("box", [WIDE, NARROW])
def test_no_node_or_label_covers_another_and_all_stay_in_the_box(
    size: int, box: tuple[float, float]
) -> None:
    names, links, _ = family(size, seed=size)
    room = dict(zip(names, rooms(names, size), strict=True))
    found = layout(tuple(names), tuple(links), tuple(room.values()), *box)
    assert set(found.centres) == set(names)
    # As wide as asked unless the nodes need more, and as tall as they need.
    assert found.width >= box[0]
    for a, b in itertools.combinations(names, 2):
        (xa, ya), (xb, yb) = found.centres[a], found.centres[b]
        assert (xa - xb) ** 2 + (ya - yb) ** 2 > (room[a].radius + room[b].radius) ** 2
    # Each label is under its circle, or over it where the layout chose so.
    room = {n: replace(r, label_above=n in found.labels_above) for n, r in room.items()}
    drawn = boxes(found.centres, room)
    for a, b in itertools.combinations(names, 2):
        assert not overlap(drawn[a], drawn[b]), (a, b)
    for left, top, right, bottom in drawn.values():
        assert left >= 0 and top >= 0
        assert right <= found.width and bottom <= found.height
    # The drawing fills its box: up to the margins at the top and bottom, and at the sides
    # too when it is wider than asked.
    lefts, tops, rights, bottoms = zip(*drawn.values(), strict=True)
    assert min(tops) == pytest.approx(MARGIN, abs=0.2)
    # (A grid's cells are as tall as its tallest room, which the last row may not hold.)
    assert -0.2 <= found.height - MARGIN - max(bottoms) < 20
    if found.width > box[0]:
        assert min(lefts) == pytest.approx(MARGIN, abs=0.2)
        assert max(rights) == pytest.approx(found.width - MARGIN, abs=0.2)


def test_a_small_family_fills_its_box_and_is_drawn_the_same_way_each_time() -> None:
    names, links, reputation = family(12, seed=3)
    first = graph(names, links, [], reputation, set(), *WIDE)
    layout.cache_clear()  # worked out afresh, not taken from the caches
    _force_atlas.cache_clear()
    again = graph(list(reversed(names)), links, [], reputation, set(), *WIDE)
    assert first == again
    assert first.width == WIDE[0]
    xs = [n.x for n in first.nodes]
    ys = [n.y for n in first.nodes]
    # Not squeezed into a strip, nor flung to the corners: it spans most of the box.
    assert max(xs) - min(xs) > 0.5 * first.width or max(ys) - min(ys) > 0.5 * first.height


def test_unlinked_ais_stand_in_a_row_below_the_linked_ones() -> None:
    names = ["ann", "bob", "cat", "dan", "eve", "fay"]
    found = graph(names, [("ann", "bob"), ("bob", "cat")], [], {}, set(), *WIDE)
    at = {n.name: n for n in found.nodes}
    alone = [at[n] for n in ("dan", "eve", "fay")]
    assert len({n.y for n in alone}) == 1
    assert alone[0].y > max(at[n].y for n in ("ann", "bob", "cat"))
    assert [n.x for n in alone] == sorted(n.x for n in alone)


def test_an_arrow_ends_on_the_rim_of_the_circle_it_points_at() -> None:
    found = graph(["ann", "bob"], [("ann", "bob")], [("bob", "ann", "sql")], {}, set(), *NARROW)
    at = {n.name: n for n in found.nodes}
    for edge in found.edges:
        *_, x, y = (float(v) for v in edge.path.split() if v not in "MQ")
        end = at[edge.target]
        assert ((x - end.x) ** 2 + (y - end.y) ** 2) ** 0.5 == pytest.approx(
            end.radius + 1, abs=0.2
        )


def test_the_ties_are_listed_by_who_follows_or_endorses() -> None:
    listed = ties(
        [("bob", "ann"), ("ann", "cat"), ("ann", "bob")],
        [("ann", "bob", "sql"), ("ann", "bob", "go"), ("dan", "ann", "rust")],
    )
    assert listed == [
        Ties("ann", ["bob", "cat"], [("bob", "go, sql")]),
        Ties("bob", ["ann"], []),
        Ties("dan", [], [("ann", "rust")]),
    ]


async def test_a_family_with_no_ai_or_no_tie_says_so_instead_of_drawing_nothing(
    server: Server, make_agent: AgentFactory
) -> None:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        empty = (await http.get("/graph")).text
        await make_agent("ann")
        await make_agent("bob")
        untied = (await http.get("/graph")).text
    assert "No AI has joined the family yet." in empty and "<svg" not in empty
    assert "No AI follows or endorses another yet." in untied
    assert 'data-agent="ann"' in untied and 'data-agent="bob"' in untied


# --- the page in a browser ---------------------------------------------------------------------


@pytest.fixture
async def tab(request: pytest.FixtureRequest) -> AsyncIterator[Tab]:
    async for opened in open_tab(request):
        yield opened


FOLLOWS = [
    ("ada", "grace"),
    ("grace", "ada"),
    ("linus", "ada"),
    ("margaret", "grace"),
    ("ken", "dennis"),
    ("dennis", "ken"),
    ("barbara", "ken"),
    ("guido", "linus"),
    ("alan", "ada"),
    ("MMW-Wombat", "alan"),
    ("日本語のエージェント", "MMW-Wombat"),
]
ENDORSEMENTS = [
    ("ada", "grace", "compilers"),
    ("grace", "margaret", "apollo"),
    ("dennis", "ken", "unix"),
    ("guido", "barbara", "python"),
    ("linus", "ken", "unix"),
]
UNLINKED = ["edsger", "frances-elizabeth-allen", "john"]

# Every drawn node's circle and label, as the browser lays them out.
READ_GRAPH = """() => {
  const svg = [...document.querySelectorAll("svg.graph")].find(
    (s) => getComputedStyle(s).display !== "none");
  const box = (e) => { const r = e.getBoundingClientRect();
    return [r.left, r.top, r.right, r.bottom]; };
  return [...svg.querySelectorAll("g.node")].map((g) => ({
    name: g.dataset.agent, circle: box(g.querySelector("circle")),
    label: box(g.querySelector("text")) }));
}"""


@pytest.mark.parametrize("screen", [(1400, 1000), (390, 844)], ids=["desktop", "phone"])
async def test_the_graph_page_is_readable_on_a_desktop_and_on_a_phone(
    server: Server,
    connect: ClientFactory,
    make_agent: AgentFactory,
    tab: Tab,
    screen: tuple[int, int],
) -> None:
    clients = {n: await connect(n) for n in sorted({n for f in FOLLOWS for n in f})}
    for a, b in FOLLOWS:
        await clients[a].follow(b)
    for a, b, skill in ENDORSEMENTS:
        await clients[a].endorse(b, skill)
    for name in UNLINKED:
        await make_agent(name)
    page = tab.page
    await page.set_viewport_size({"width": screen[0], "height": screen[1]})
    await page.goto(server.http_url + "/graph")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"graph-{screen[0]}x{screen[1]}.png"))
    await page.screenshot(
        path=str(ARTIFACTS / f"graph-{screen[0]}x{screen[1]}-full.png"), full_page=True
    )

    nodes: list[dict[str, Any]] = await page.evaluate(READ_GRAPH)
    assert sorted(n["name"] for n in nodes) == sorted([*clients, *UNLINKED])
    for one, other in itertools.combinations(nodes, 2):
        pair = (one["name"], other["name"])
        assert not overlap(one["circle"], other["circle"]), pair
        assert not overlap(one["label"], other["label"]), pair
        assert not overlap(one["label"], other["circle"]), pair
        assert not overlap(other["label"], one["circle"]), pair
    # Labels are read at about the size of the page's text, not shrunk to a speck.
    heights = [n["label"][3] - n["label"][1] for n in nodes]
    assert min(heights) >= 11
    width = await page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= await page.evaluate("window.innerWidth")

    # The same ties as a list, each AI a link to its profile.
    ties = page.locator("#ties")
    assert await ties.locator("li").count() == len({a for a, *_ in [*FOLLOWS, *ENDORSEMENTS]})
    ada = await ties.locator('li[data-agent="ada"]').inner_text()
    assert ada == "ada follows grace; endorses grace for compilers."
    assert "frances-elizabeth-allen" in await page.locator("#alone").inner_text()
    await ties.locator('li[data-agent="ada"] a', has_text="grace").first.click()
    await page.wait_for_url("**/agents/grace")
