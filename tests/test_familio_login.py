"""Logging in to Familio's web view, over real HTTP against a real server on both databases:
the cookie and what it may do, the form token and the Origin check on every write it proves,
logout, revocation, expiry, the cap per agent, and failed logins slowing down then locking
out an address. The same in a real browser is in tests/test_familio_web.py."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cloudbrain.db import create_engine
from cloudbrain.db.models import web_logins
from cloudbrain.db.types import utcnow
from cloudbrain.familio.logins import IDLE, MOST_PER_AGENT, hash_cookie
from cloudbrain.identity import revoke_agent
from cloudbrain.server import Server
from cloudbrain.settings import Settings
from cloudbrain.storage.web_logins import WebLoginStore
from tests.conftest import AgentFactory

COOKIE = "familio_login"
FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
LOGIN_FORM_TOKEN = re.compile(
    r'action="/login"[^>]*>\s*<input[^>]* name="form_token" value="([^"]+)"'
)
HTML = {"Accept": "text/html"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Reads need a token or a login; failed logins wait little and lock out after three."""
    return settings.with_(http_reads="nobody", http_login_delay=0.2, http_login_failures=3)


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with browser_like(server) as client:
        yield client


def browser_like(server: Server, origin: str = "", **options: Any) -> httpx.AsyncClient:
    """A client that says where its writes come from, as a browser does."""
    return httpx.AsyncClient(
        base_url=server.http_url,
        timeout=30,
        headers={"Origin": origin or server.http_url},
        **options,
    )


def cookie_set(response: httpx.Response, name: str) -> str:
    """The Set-Cookie header of the response that sets ``name``."""
    [found] = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    return found


def form_token(page: httpx.Response, pattern: re.Pattern[str] = FORM_TOKEN) -> str:
    found = pattern.search(page.text)
    assert found is not None, page.text[:500]
    return found[1]


async def log_in(
    http: httpx.AsyncClient, token: str, agent: str = "", next: str = "/"
) -> httpx.Response:
    """Opens the login page and sends its form, as a browser would."""
    page = await http.get("/login", params={"next": next})
    assert page.status_code == 200
    login_form = form_token(page, LOGIN_FORM_TOKEN)  # a page also has the logout form's
    data = {"agent": agent, "token": token, "form_token": login_form, "next": next}
    return await http.post("/login", data=data)


async def page_token(http: httpx.AsyncClient) -> str:
    """The form token of the client's login, from a page it shows."""
    page = await http.get("/asks", headers=HTML)
    assert page.status_code == 200
    return form_token(page)


async def test_a_login_reads_what_only_a_token_may_and_says_who_is_logged_in(
    server: Server, http: httpx.AsyncClient, make_agent: AgentFactory, settings: Settings
) -> None:
    _, token = await make_agent("alice")
    await make_agent("bob")
    # Without a login a page sends the browser to the login form, and back afterwards; the
    # REST API still answers 401 with its error body.
    page = await http.get("/agents/bob", headers=HTML)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fagents%2Fbob"
    api = await http.get("/api/agents")
    assert api.status_code == 401 and api.json()["error"]["code"] == "auth_failed"
    assert "/login" in api.json()["error"]["detail"]

    logged_in = await log_in(http, token, agent="alice", next="/agents/bob")
    assert logged_in.status_code == 303 and logged_in.headers["location"] == "/agents/bob"
    set_cookie = cookie_set(logged_in, COOKIE)
    attributes = {a.strip().partition("=")[0].lower() for a in set_cookie.split(";")}
    assert {"httponly", "path", "max-age", "samesite"} <= attributes
    assert "samesite=strict" in set_cookie.lower() and "secure" not in attributes
    value = http.cookies[COOKIE]

    page = await http.get("/agents/bob", headers=HTML)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert 'Logged in as <a id="logged-in-as" href="/agents/alice">alice</a>' in page.text
    assert (await http.get("/api/agents")).status_code == 200
    # The database keeps the hash of the cookie, never the cookie.
    engine = create_engine(settings.db_url)
    try:
        async with engine.connect() as conn:
            stored = (await conn.execute(select(web_logins))).mappings().all()
    finally:
        await engine.dispose()
    assert [row["id_hash"] for row in stored] == [hash_cookie(value)]
    assert value not in str([dict(row) for row in stored])


async def test_a_wrong_token_or_name_is_refused_and_failures_lock_the_address_out(
    server: Server, http: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    _, token = await make_agent("alice")
    await make_agent("bob")
    started = time.monotonic()
    wrong = await log_in(http, "cb_" + "x" * 43)
    assert wrong.status_code == 401 and "not the token of an active agent" in wrong.text
    assert COOKIE not in http.cookies
    someone_else = await log_in(http, token, agent="bob")  # alice's token, bob's name
    assert someone_else.status_code == 401 and "of that name" in someone_else.text
    # Each failure waits longer: 0.2 s, then 0.4 s.
    assert time.monotonic() - started >= 0.6
    locked = await log_in(http, "cb_guess")  # the third failure locks the address out
    assert locked.status_code == 429 and "too many failed logins" in locked.text
    assert int(locked.headers["retry-after"]) > 0
    # Now even the right token is refused from this address, before it is looked at.
    right = await log_in(http, token, agent="alice")
    assert right.status_code == 429 and COOKIE not in http.cookies
    # Another address is not locked out.
    other = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with browser_like(server, transport=other) as elsewhere:
        assert (await log_in(elsewhere, token)).status_code == 303
        assert COOKIE in elsewhere.cookies


async def test_a_login_needs_this_servers_own_form(
    server: Server, http: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    _, token = await make_agent("alice")
    page = await http.get("/login")
    good = {"token": token, "form_token": form_token(page)}
    # A page of another site posting the form (login CSRF: logging a visitor in as the
    # attacker's agent) is refused, as is a form without its token or a token not its own.
    evil = await http.post("/login", data=good, headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403 and "another site" in evil.text
    missing = await http.post("/login", data={"token": token})
    assert missing.status_code == 403 and "security token" in missing.text
    forged = await http.post("/login", data={"token": token, "form_token": "x" * 43})
    assert forged.status_code == 403
    # A name the server does not answer to gets no cookie (DNS rebinding).
    rebound = await http.post("/login", data=good, headers={"Host": "evil.example"})
    assert rebound.status_code == 403 and "does not name this server" in rebound.text
    assert COOKIE not in http.cookies
    # A page to come back to is always a page of this server.
    for elsewhere in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        back = await log_in(http, token, next=elsewhere)
        assert back.status_code == 303 and back.headers["location"] == "/", elsewhere


async def test_forms_that_write_need_the_logins_token_and_a_page_of_this_server(
    server: Server, http: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    _, alice = await make_agent("alice")
    _, bob = await make_agent("bob")
    assert (await log_in(http, alice)).status_code == 303
    token = await page_token(http)
    endorse = {"agent": "bob", "skill": "Python", "note": "clear answers"}

    for refused, headers, why in [
        ({**endorse}, {}, "security token is missing or wrong"),
        ({**endorse, "form_token": "0" * 64}, {}, "security token is missing or wrong"),
        ({**endorse, "form_token": token}, {"Origin": "http://evil.example"}, "another site"),
        ({**endorse, "form_token": token}, {"Origin": "null"}, "another site"),
        (
            {**endorse, "form_token": token},
            {"Origin": "", "Referer": "http://evil.example/agents/bob"},
            "another site",
        ),
    ]:
        answer = await http.post("/endorse", data=refused, headers={**HTML, **headers})
        assert answer.status_code == 403, why
        assert why in answer.text and "text/html" in answer.headers["content-type"]
    # Nothing was written.
    assert (await http.get("/api/endorsements", params={"agent": "bob"})).json()["total"] == 0

    # A browser that sends no Origin sends the Referer: a page of this server passes.
    referer = {"Origin": "", "Referer": f"{server.http_url}/agents/bob"}
    written = await http.post("/endorse", data={**endorse, "form_token": token}, headers=referer)
    assert written.status_code == 303 and written.headers["location"] == "/agents/bob#endorsements"
    given = (await http.get("/api/endorsements", params={"endorser": "alice"})).json()
    assert [(e["agent"], e["skill"], e["note"]) for e in given["items"]] == [
        ("bob", "python", "clear answers")
    ]
    # The same rules as the REST API's: no one endorses itself.
    itself = await http.post(
        "/endorse", data={"agent": "alice", "skill": "x", "form_token": token}, headers=HTML
    )
    assert itself.status_code == 403 and "cannot endorse itself" in itself.text
    bad = await http.post(
        "/endorse", data={"agent": "bob", "skill": "", "form_token": token}, headers=HTML
    )
    assert bad.status_code == 422 and "skill" in bad.text

    # The REST API takes the cookie too, with the form token as X-CSRF-Token.
    no_header = await http.post("/api/follows", json={"agent": "bob"})
    assert no_header.status_code == 403 and no_header.json()["error"]["code"] == "forbidden"
    followed = await http.post(
        "/api/follows", json={"agent": "bob"}, headers={"X-CSRF-Token": token}
    )
    assert followed.json() == {"changed": True}
    # A bearer token needs neither: scripts keep working.
    async with httpx.AsyncClient(base_url=server.http_url) as script:
        as_bob = {"Authorization": f"Bearer {bob}"}
        assert (
            await script.post("/api/follows", json={"agent": "alice"}, headers=as_bob)
        ).json() == {"changed": True}


async def test_a_login_cookie_counts_only_where_the_host_names_this_server(
    server: Server, http: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    _, token = await make_agent("alice")
    assert (await log_in(http, token)).status_code == 303
    assert (await http.get("/api/agents")).status_code == 200
    rebound = await http.get("/api/agents", headers={"Host": "evil.example"})
    assert rebound.status_code == 403 and "does not name this server" in rebound.text


async def test_logout_ends_the_login_on_the_server(
    server: Server, http: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    _, token = await make_agent("alice")
    await log_in(http, token)
    value = http.cookies[COOKIE]
    form = await page_token(http)
    # Another site cannot log a visitor out: logout needs the form token too.
    refused = await http.post("/logout", data={"form_token": ""}, headers=HTML)
    assert refused.status_code == 403 and (await http.get("/api/agents")).status_code == 200
    out = await http.post("/logout", data={"form_token": form})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert COOKIE not in http.cookies  # the browser was told to forget it
    # A copy of the cookie kept from before reads nothing any more.
    async with httpx.AsyncClient(base_url=server.http_url, cookies={COOKIE: value}) as copy:
        assert (await copy.get("/api/agents")).status_code == 401
        assert (await copy.get("/", headers=HTML)).status_code == 303


async def test_revoking_an_agent_ends_its_logins_at_once(
    server: Server, http: httpx.AsyncClient, make_agent: AgentFactory, settings: Settings
) -> None:
    _, token = await make_agent("alice")
    await log_in(http, token)
    assert (await http.get("/api/agents")).status_code == 200
    engine = create_engine(settings.db_url)
    try:
        await revoke_agent(engine, "alice")
    finally:
        await engine.dispose()
    assert (await http.get("/api/agents")).status_code == 401
    page = await http.get("/asks", headers=HTML)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


async def test_logins_expire_when_idle_and_an_agent_keeps_only_so_many(
    server: Server, http: httpx.AsyncClient, make_agent: AgentFactory, settings: Settings
) -> None:
    _, token = await make_agent("alice")
    await log_in(http, token)
    value = http.cookies[COOKIE]
    engine = create_engine(settings.db_url)
    store = WebLoginStore(engine)
    try:
        # Last used a little less than IDLE ago: still good (and now used again).
        await store.used(hash_cookie(value), utcnow() - IDLE + timedelta(minutes=1))
        assert (await http.get("/api/agents")).status_code == 200
        await store.used(hash_cookie(value), utcnow() - IDLE - timedelta(minutes=1))
        assert (await http.get("/api/agents")).status_code == 401

        # Past the cap, a new login ends the least recently used one.
        clients = [browser_like(server) for _ in range(MOST_PER_AGENT + 1)]
        try:
            for client in clients:
                assert (await log_in(client, token)).status_code == 303
            assert await store.count("alice") == MOST_PER_AGENT  # the expired one is gone too
            assert (await clients[0].get("/api/agents")).status_code == 401
            assert (await clients[-1].get("/api/agents")).status_code == 200
        finally:
            for client in clients:
                await client.aclose()
    finally:
        await engine.dispose()


async def test_under_tls_the_cookie_is_secure_and_host_bound(
    server: Server, make_agent: AgentFactory
) -> None:
    _, token = await make_agent("alice")
    assert server.web is not None
    server.web.familio.access.secure_cookies = True  # what the server sets when it runs TLS
    https = server.http_url.replace("http://", "https://")
    async with browser_like(server, https) as http:
        page = await http.get("/login")
        assert "secure" in cookie_set(page, "__Host-familio_login_form").lower()
        data = {"token": token, "form_token": form_token(page)}
        # The form cookie is Secure: a client on plain HTTP does not send it back.
        cookie = f"__Host-familio_login_form={data['form_token']}"
        # A page served over plain HTTP is another origin than the HTTPS one.
        plain = await http.post(
            "/login", data=data, headers={"Origin": server.http_url, "Cookie": cookie}
        )
        assert plain.status_code == 403
        logged_in = await http.post("/login", data=data, headers={"Cookie": cookie})
    assert logged_in.status_code == 303
    set_cookie = cookie_set(logged_in, f"__Host-{COOKIE}")
    attributes = {a.strip().lower() for a in set_cookie.split(";")}
    assert {"secure", "httponly", "path=/", "samesite=strict"} <= attributes
    assert not any(a.startswith("domain") for a in attributes)
