"""Every page of the web view as people meet it, on a laptop (1400x1000) and a phone (390x844),
in a real browser against a server holding a family with a history: nothing may stick out
sideways (wide tables and pictures scroll inside their own box, never the page). A full-page
screenshot of each is kept in ``tests/artifacts/screens/`` for people to look at.

The README's pictures come from the same run: with CLOUDBRAIN_SCREENSHOTS=1 they are written
to ``docs/screenshots/`` (viewport-sized, so they stay small), otherwise beside the others in
``tests/artifacts/readme/``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright

from cloudbrain.db import upgrade
from cloudbrain.ids import short_id
from cloudbrain.server import Server
from cloudbrain.settings import Settings
from tests.browser import ARGS, ARTIFACTS, ensure_chromium
from tests.family_data import Family, build_family

pytestmark = pytest.mark.asyncio(loop_scope="module")

SIZES = {"desktop": (1400, 1000), "phone": (390, 844)}
PAGES = [
    "family",
    "profile",
    "memories",
    "session",
    "asks",
    "ask",
    "graph",
    "docs",
    "login",
    "error",
]
README_PAGES = ("family", "profile", "memories", "asks", "graph")
SCREENS = ARTIFACTS / "screens"
README_SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"

# What sticks out past the right edge of the viewport, unless it is inside a box that scrolls
# sideways (overflow-x auto or scroll): such a box is how a wide table or picture is meant to
# fit a phone. Each problem names the element (tag, id, classes) and how far it reaches.
OVERFLOW = """() => {
  const width = window.innerWidth;
  const problems = [];
  const page = document.scrollingElement.scrollWidth;
  if (page > width) problems.push(`the page is ${page}px wide in a ${width}px window`);
  const scrolls = (element) => {
    for (let up = element.parentElement; up && up !== document.body; up = up.parentElement) {
      const overflow = getComputedStyle(up).overflowX;
      if (overflow === "auto" || overflow === "scroll") return true;
    }
    return false;
  };
  for (const element of document.body.querySelectorAll("*")) {
    const box = element.getBoundingClientRect();
    if (box.width === 0 || box.height === 0 || box.right <= width + 0.5) continue;
    if (getComputedStyle(element).visibility === "hidden" || scrolls(element)) continue;
    const name = element.tagName.toLowerCase() + (element.id ? "#" + element.id : "") +
      [...element.classList].map((c) => "." + c).join("");
    problems.push(`${name} "${(element.textContent || "").trim().slice(0, 40)}" ` +
      `reaches ${Math.round(box.right)}px`);
  }
  return problems.slice(0, 15);
}"""


@dataclass
class Site:
    server: Server
    family: Family
    browser: Browser
    logged_in: dict[str, object]  # the storage state of a browser where dora logged in

    def path(self, page: str) -> str:
        ask = self.family.asks[0].ask
        return {
            "family": "/",
            "profile": "/agents/ada",
            "memories": "/memories?agent=ada",
            "session": "/sessions/" + quote(self.family.sessions["ada"][0]),
            "asks": "/asks",
            "ask": f"/asks/{ask}",
            "graph": "/graph",
            "docs": "/docs",
            "login": "/login",
            "error": "/agents/nobody-by-that-name",
        }[page]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """One server for every page and size (the family takes seconds to build), on SQLite:
    the layout does not depend on the database."""
    home = tmp_path_factory.mktemp("layout")
    url = f"sqlite+aiosqlite:///{home / 'cloudbrain.db'}"
    upgrade(url)  # runs its own event loop: outside the module's
    return Settings(
        home=home,
        database_url=url,
        port=0,
        smtp_port=0,
        http_port=0,
        node="layout-node",
        reputation_every=0.1,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(settings: Settings) -> AsyncIterator[Site]:
    executable = ensure_chromium()
    async with Server(settings) as server:
        family = await build_family(server, settings.db_url)
        await asyncio.sleep(1.0)  # reputation and learned skills are worked out meanwhile
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=str(executable), headless=True, args=ARGS
                )
                context = await browser.new_context()
                page = await context.new_page()
                await page.goto(server.http_url + "/login")
                await page.fill('input[name="token"]', family.tokens["dora"])
                await page.click('form.login button[type="submit"]')
                await page.wait_for_selector("#logged-in-as")
                state = dict(await context.storage_state())
                await context.close()
                yield Site(server, family, browser, state)
                await browser.close()
        finally:
            await family.close()


async def screenshot(site: Site, page_name: str, size: str, path: Path, full: bool) -> list[str]:
    """Open the page at that size, save a picture of it, and say what overflows."""
    width, height = SIZES[size]
    # The login page as someone not yet logged in sees it; every other page as dora, who may
    # rate answers and endorse.
    state = None if page_name == "login" else site.logged_in
    context = await site.browser.new_context(
        viewport={"width": width, "height": height},
        storage_state=state,  # type: ignore[arg-type]
    )
    try:
        page = await context.new_page()
        response = await page.goto(site.server.http_url + site.path(page_name))
        assert response is not None
        assert response.status == (404 if page_name == "error" else 200), page_name
        path.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(path), full_page=full)
        problems: list[str] = await page.evaluate(OVERFLOW)
        return problems
    finally:
        await context.close()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("page_name", PAGES)
async def test_no_page_sticks_out_sideways(site: Site, page_name: str, size: str) -> None:
    shot = SCREENS / f"{page_name}-{size}.png"
    problems = await screenshot(site, page_name, size, shot, full=True)
    assert problems == [], f"{page_name} at {size} overflows (see {shot})"


async def test_the_readme_pictures_are_taken_from_the_same_pages(site: Site) -> None:
    folder = README_SHOTS if os.environ.get("CLOUDBRAIN_SCREENSHOTS") == "1" else None
    folder = folder or ARTIFACTS / "readme"
    for page_name in README_PAGES:
        for size, label in (("desktop", "desktop"), ("phone", "phone")):
            shot = folder / f"{page_name}-{label}.png"
            await screenshot(site, page_name, size, shot, full=False)
            assert shot.stat().st_size < 400_000, f"{shot} is too large for the README"


async def test_an_ask_shows_short_ids_folds_what_adds_little_and_offers_rating(
    site: Site,
) -> None:
    ask = site.family.asks[0]
    context = await site.browser.new_context(storage_state=site.logged_in)  # type: ignore[arg-type]
    try:
        page = await context.new_page()
        await page.goto(site.server.http_url + f"/asks/{ask.ask}")
        best = page.locator(f"#answer-{ask.answers[0].id}")
        assert await best.locator("details").count() == 0
        await best.get_by_role("button", name="✓ accept").wait_for()
        for answer in ask.answers:
            shown = page.locator(f"#answer-{answer.id}")
            # The id people see is the one `cloudbrain rate` takes (its end).
            assert await shown.locator("code.id").first.inner_text() == short_id(answer.id)
            if not answer.knows:
                assert await shown.locator("details:not([open])").count() == 1
        hint = await page.get_by_text("From a terminal").inner_text()
        assert f"cloudbrain rate {short_id(ask.ask)} ID" in hint
    finally:
        await context.close()


async def test_a_short_span_of_memories_has_distinct_time_labels(site: Site) -> None:
    # ada's quick chat: four exchanges within a minute, two hours ago.
    context = await site.browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(site.server.http_url + "/memories?agent=ada&since=3h")
        labels = await page.locator("svg.timeline text.tick").all_text_contents()
        assert len(labels) >= 2 and len(set(labels)) == len(labels)
        assert all(label.count(":") == 2 for label in labels), labels  # seconds shown
        sessions = await page.locator("td.session code").all_inner_texts()
        assert set(sessions) == {short_id(site.family.sessions["ada"][0])}
    finally:
        await context.close()
