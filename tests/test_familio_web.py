"""Familio's web view in a real browser (Debian's chromium, driven by Playwright) against a real
server: the family page following agents as they come and go, a profile after endorsements,
the memory timeline's filters, a hostile AI name that must stay text, and a person who logs in
to rate an answer and endorse an AI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Route

from cloudbrain.agent.client import Client
from cloudbrain.memory.records import MemoryRecord
from cloudbrain.server import Server
from cloudbrain.settings import Settings
from tests.browser import Tab, open_tab
from tests.conftest import AgentFactory, ClientFactory

WAIT_MS = 15_000
HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
async def tab(request: pytest.FixtureRequest) -> AsyncIterator[Tab]:
    async for opened in open_tab(request):
        yield opened


async def test_the_family_page_shows_an_agent_come_online_and_go_offline_live(
    server: Server, connect: ClientFactory, tab: Tab
) -> None:
    await connect("alice")
    page = tab.page
    await page.goto(server.http_url + "/")
    await page.wait_for_selector('tr[data-agent="alice"].online')
    assert await page.locator('tr[data-agent="carol"]').count() == 0

    carol = await connect("carol")  # after the page loaded: no reload from here on
    await page.wait_for_selector('tr[data-agent="carol"].online', timeout=WAIT_MS)
    assert await page.locator("#online-count").inner_text() == "2"
    await carol.close()
    await page.wait_for_selector('tr[data-agent="carol"].offline', timeout=WAIT_MS)
    assert await page.locator("#online-count").inner_text() == "1"
    assert await page.locator('tr[data-agent="alice"].online').count() == 1


async def test_a_profile_shows_endorsements_who_gave_them_and_the_reputation_they_make(
    server: Server, connect: ClientFactory, tab: Tab
) -> None:
    alice, bob = await connect("alice"), await connect("bob")
    await alice.endorse("bob", "postgresql", "found our slow query")
    await alice.follow("bob")
    await bob.follow("alice")
    page = tab.page
    await page.goto(server.http_url + "/")
    await page.click('tr[data-agent="bob"] a')
    assert page.url.endswith("/agents/bob")
    endorsements = page.locator("#endorsements")
    await endorsements.get_by_text("found our slow query").wait_for()
    assert "postgresql" in await endorsements.inner_text()
    assert await endorsements.get_by_role("link", name="alice").count() == 1
    assert "alice" in await page.locator("#follows").inner_text()
    # Reputation is worked out in the background; the page shows it once it is there.
    for _ in range(50):
        await page.reload()
        text = await page.locator("#reputation").inner_text()
        if "For postgresql" in text:
            break
        await page.wait_for_timeout(200)
    assert "For postgresql" in text and "alice" in text and "endorse" in text


async def test_the_memory_timeline_is_coloured_by_device_and_filters_by_time_and_device(
    server: Server, connect: ClientFactory, tab: Tab
) -> None:
    alice = await connect("alice")
    now = datetime.now(UTC)
    old = [
        MemoryRecord(
            ai="alice",
            content=f"jetson note {i}",
            device="jetson",
            session="s-edge",
            created_at=now - timedelta(days=10, hours=i),
        )
        for i in range(3)
    ]
    new = [
        MemoryRecord(
            ai="alice",
            content=f"laptop note {i}",
            device="laptop",
            session="s-desk",
            created_at=now - timedelta(hours=1 + i),
        )
        for i in range(2)
    ]
    await alice.remember(*old, *new)
    page = tab.page
    await page.goto(server.http_url + "/memories?agent=alice")
    timeline = page.locator("svg.timeline")
    assert await timeline.locator("circle.memory").count() == 5
    assert sorted(await timeline.locator(".lane-label").all_text_contents()) == ["jetson", "laptop"]
    colours = {await c.get_attribute("fill") for c in await timeline.locator("circle").all()}
    assert len(colours) == 2

    await page.fill('input[name="since"]', "2d")
    await page.click('button[type="submit"]')
    await page.wait_for_url("**since=2d**")
    assert await timeline.locator("circle.memory").count() == 2
    rows = await page.locator("tr.memory-row").all_inner_texts()
    assert len(rows) == 2 and all("laptop note" in r for r in rows)

    await page.fill('input[name="since"]', "")
    await page.select_option('select[name="device"]', "jetson")
    await page.click('button[type="submit"]')
    await page.wait_for_url("**device=jetson**")
    assert await timeline.locator("circle.memory").count() == 3
    # Each memory links to the session it came from.
    await timeline.locator("a").first.click()
    await page.wait_for_url("**/sessions/s-edge")
    assert "jetson note" in await page.locator("table.memories").inner_text()


async def test_an_ai_named_like_a_script_is_shown_as_text_everywhere(
    server: Server, connect: ClientFactory, tab: Tab
) -> None:
    hostile = await connect(HOSTILE)
    alice = await connect("alice")
    await hostile.remember(
        MemoryRecord(ai=HOSTILE, content='<img src=x onerror="alert(2)"> remember me', device="<b>")
    )
    await alice.endorse(HOSTILE, "<i>python</i>", note="<script>alert(3)</script>")
    await alice.follow(HOSTILE)
    page = tab.page
    await page.goto(server.http_url + "/")
    await page.get_by_role("link", name=HOSTILE).click()
    assert HOSTILE in await page.locator("h1").inner_text()
    assert "<script>alert(3)</script>" in await page.locator("#endorsements").inner_text()
    await page.get_by_role("link", name="Memories on a timeline →").click()
    assert (
        '<img src=x onerror="alert(2)"> remember me'
        in await page.locator("table.memories").inner_text()
    )
    for path in ("/graph", "/asks", "/?q=" + "%3Cscript"):
        await page.goto(server.http_url + path)
    assert HOSTILE in await page.locator("table.family").inner_text()
    assert tab.dialogs == []  # not one injected script ran


# Records, in each page, what its Content-Security-Policy blocked (run before the page's own
# scripts, by the browser, so the policy does not apply to it).
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.cspViolations.push(event.violatedDirective + " blocked " + (event.blockedURI || "inline"));
});
"""


async def test_every_page_works_within_its_content_security_policy(
    server: Server, connect: ClientFactory, tab: Tab
) -> None:
    alice = await connect("alice")
    await connect("bob")
    await alice.endorse("bob", "python", "fixed the build")
    await alice.remember(MemoryRecord(ai="alice", content="a note", device="laptop", session="s1"))
    page = tab.page
    await page.add_init_script(RECORD_VIOLATIONS)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    response = await page.goto(server.http_url + "/")
    assert response is not None
    assert "script-src 'self'" in (await response.all_headers())["content-security-policy"]
    # live.js is allowed to run and to open its event stream: the page says it is live.
    await page.wait_for_selector("body[data-live='yes']", timeout=WAIT_MS)
    # The reputation bars are drawn without inline style, which the policy would block.
    box = await page.locator('tr[data-agent="bob"] svg.meter rect').bounding_box()
    assert box is not None and box["width"] > 0
    blocked = await page.evaluate("window.cspViolations")
    for path in (
        "/agents/bob",
        "/memories?agent=alice",
        "/sessions/s1",
        "/graph",
        "/asks",
        "/docs",
        "/login",
    ):
        await page.goto(server.http_url + path)
        if path == "/docs":  # Swagger UI draws the reference once its script has run
            await page.wait_for_selector(".opblock", timeout=WAIT_MS)
        blocked += await page.evaluate("window.cspViolations")
    assert blocked == []
    assert not [text for text in console if "Content Security Policy" in text]


# --- logging in ----------------------------------------------------------------------------------

# A page of another site that sends a form to the web view as soon as it loads.
CROSS_SITE_FORM = """<!doctype html><form method="post" action="{url}/endorse">
<input name="agent" value="ada"><input name="skill" value="forged"><input name="form_token" value="x">
</form><script>document.forms[0].submit()</script>"""


async def test_a_person_logs_in_rates_an_answer_endorses_and_logs_out(
    settings: Settings, make_agent: AgentFactory, tab: Tab
) -> None:
    _, ada_token = await make_agent("ada", skills=["python"])
    _, dora_token = await make_agent("dora")
    async with Server(settings.with_(http_reads="nobody")) as server:
        ada = Client(server.url, "ada", ada_token, timeout=5.0, capabilities=("answers",))
        dora = Client(server.url, "dora", dora_token, timeout=5.0)
        await ada.connect()
        await dora.connect()
        try:

            async def answer() -> None:
                question = await asyncio.wait_for(ada.questions.get(), 10)
                await ada.answer(question, "Keep a reference to each task.", confidence=0.9)

            answering = asyncio.create_task(answer())
            result = await dora.ask_and_wait("How do I keep python tasks alive?", timeout=5)
            await answering
            [answer_id] = [a.id for a in result.answers]
            await log_in_rate_endorse_and_log_out(server, tab, dora_token, result.ask, answer_id)
        finally:
            await ada.close()
            await dora.close()


async def log_in_rate_endorse_and_log_out(
    server: Server, tab: Tab, token: str, ask: str, answer: str
) -> None:
    page = tab.page
    # Nothing may be read without a token here: the page asks for a login, and comes back.
    await page.goto(server.http_url + "/asks")
    assert "/login?next=%2Fasks" in page.url
    await page.fill('input[name="token"]', "cb_not-a-token")
    await page.click('form.login button[type="submit"]')
    assert "not the token of an active agent" in await page.locator("#login-problem").inner_text()
    await page.fill('input[name="agent"]', "dora")
    await page.fill('input[name="token"]', token)
    await page.click('form.login button[type="submit"]')
    await page.wait_for_url("**/asks")
    assert await page.locator("#logged-in-as").inner_text() == "dora"
    # The cookie: no script reads it, no other site's page sends it, plain HTTP here.
    [cookie] = [c for c in await page.context.cookies() if c["name"] == "familio_login"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]
    assert "familio_login" not in await page.evaluate("document.cookie")

    # Rate the answer from the asks page.
    await page.locator(f"#answer-{answer}").get_by_role("button", name="✓ accept").click()
    await page.wait_for_url(f"**/asks#answer-{answer}")
    assert "accept 1" in await page.locator(f"#answer-{answer} .verdict-accept").inner_text()

    # Endorse ada from her profile.
    await page.goto(server.http_url + "/agents/ada")
    await page.fill('form.endorse input[name="skill"]', "Python")
    await page.fill('form.endorse input[name="note"]', "explains asyncio well")
    await page.get_by_role("button", name="Endorse as dora").click()
    await page.wait_for_url("**/agents/ada#endorsements")
    endorsements = page.locator("#endorsements")
    await endorsements.get_by_text("explains asyncio well").wait_for()
    assert "python" in await endorsements.inner_text()
    # On one's own profile there is nothing to endorse.
    await page.goto(server.http_url + "/agents/dora")
    assert await page.locator("form.endorse").count() == 0

    # A page of another site posting a form here: the browser does not send the cookie
    # (SameSite=Strict), and the form has no valid token anyway. Nothing is written.
    async def other_site(route: Route) -> None:
        await route.fulfill(
            content_type="text/html", body=CROSS_SITE_FORM.format(url=server.http_url)
        )

    await page.route("http://evil.example/", other_site)
    async with page.expect_response(lambda r: r.url.endswith("/endorse")) as sent:
        await page.goto("http://evil.example/")
    assert (await sent.value).status in (401, 403)
    await page.goto(server.http_url + "/agents/ada")
    assert "forged" not in await page.locator("#endorsements").inner_text()

    # Log out: the page says so, and the pages ask for a login again.
    await page.get_by_role("button", name="Log out").click()
    await page.wait_for_url("**/login")
    assert await page.locator("#logged-in-as").count() == 0
    await page.goto(server.http_url + "/asks")
    assert "/login" in page.url
    assert not [c for c in await page.context.cookies() if c["name"] == "familio_login"]
    assert tab.dialogs == []
