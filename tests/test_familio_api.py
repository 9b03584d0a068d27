"""Familio's REST API over real HTTP against a real server, on both databases: reads with
filters and pages, writes with bearer tokens, the same error body everywhere, who may read,
and the OpenAPI document with its reference page."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from cloudbrain.db import create_engine
from cloudbrain.errors import ProtocolError
from cloudbrain.familio.access import Access
from cloudbrain.memory.records import MemoryRecord
from cloudbrain.server import Server
from cloudbrain.settings import Settings
from tests.conftest import AgentFactory, ClientFactory


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as client:
        yield client


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "detail"}, body
    assert body["error"]["detail"], body
    return dict(body["error"])


async def test_the_family_is_listed_a_page_at_a_time_with_filters(
    http: httpx.AsyncClient, connect: ClientFactory, make_agent: AgentFactory
) -> None:
    tokens = [
        (await make_agent(f"ai{i}", skills=["python" if i % 2 else "linux"]))[1] for i in range(7)
    ]
    await connect("ai3", token=tokens[3])
    first = (await http.get("/api/agents", params={"per_page": 3})).json()
    assert (first["page"], first["per_page"], first["total"]) == (1, 3, 7)
    assert first["items"][0]["name"] == "ai3" and first["items"][0]["online"] is True
    pages = [first] + [
        (await http.get("/api/agents", params={"per_page": 3, "page": p})).json() for p in (2, 3)
    ]
    names = [a["name"] for page in pages for a in page["items"]]
    assert sorted(names) == [f"ai{i}" for i in range(7)] and len(set(names)) == 7
    python = (await http.get("/api/agents", params={"skill": "python"})).json()
    assert {a["name"] for a in python["items"]} == {"ai1", "ai3", "ai5"}
    online = (await http.get("/api/agents", params={"online": "true"})).json()
    assert [a["name"] for a in online["items"]] == ["ai3"]
    presence = (await http.get("/api/presence")).json()
    assert [p["agent"] for p in presence] == ["ai3"] and presence[0]["sessions"]

    too_many = await http.get("/api/agents", params={"per_page": 500})
    assert too_many.status_code == 422 and error_of(too_many)["code"] == "invalid_frame"


async def test_writes_need_a_token_and_act_as_its_agent(
    http: httpx.AsyncClient, connect: ClientFactory, make_agent: AgentFactory
) -> None:
    _, alice = await make_agent("alice")
    await make_agent("bob")
    watcher = await connect("carol")
    anonymous = await http.post("/api/follows", json={"agent": "bob"})
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    assert error_of(anonymous)["code"] == "auth_failed"
    forged = await http.post(
        "/api/follows", json={"agent": "bob"}, headers={"Authorization": "Bearer cb_forged"}
    )
    assert forged.status_code == 401

    as_alice = {"Authorization": f"Bearer {alice}"}
    follow = await http.post("/api/follows", json={"agent": "bob"}, headers=as_alice)
    assert follow.status_code == 200 and follow.json() == {"changed": True}
    again = await http.post("/api/follows", json={"agent": "bob"}, headers=as_alice)
    assert again.json() == {"changed": False}
    endorse = await http.post(
        "/api/endorsements",
        json={"agent": "bob", "skill": "Python", "note": "clear answers"},
        headers=as_alice,
    )
    assert endorse.json() == {"changed": True}
    # What the REST API wrote, an agent over the protocol reads.
    profile = await watcher.familio("bob")
    assert [link.agent for link in profile.followers] == ["alice"]
    assert [(e.endorser, e.skill, e.note) for e in profile.endorsements] == [
        ("alice", "python", "clear answers")
    ]
    followers = (await http.get("/api/followers", params={"agent": "bob"})).json()
    assert [f["agent"] for f in followers["items"]] == ["alice"]
    given = (await http.get("/api/endorsements", params={"endorser": "alice"})).json()
    assert [(e["agent"], e["skill"]) for e in given["items"]] == [("bob", "python")]

    self_endorse = await http.post(
        "/api/endorsements", json={"agent": "alice", "skill": "x"}, headers=as_alice
    )
    assert self_endorse.status_code == 403 and error_of(self_endorse)["code"] == "forbidden"
    unknown = await http.post("/api/follows", json={"agent": "nobody"}, headers=as_alice)
    assert unknown.status_code == 404 and error_of(unknown)["code"] == "not_found"

    withdraw = await http.delete(
        "/api/endorsements", params={"agent": "bob", "skill": "python"}, headers=as_alice
    )
    assert withdraw.json() == {"changed": True}
    unfollow = await http.delete("/api/follows/bob", headers=as_alice)
    assert unfollow.json() == {"changed": True}
    events = (await http.get("/api/events", params={"agent": "bob"})).json()
    assert [e["kind"] for e in events] == ["unfollow", "withdraw", "endorse", "follow"]


async def test_memories_are_paged_newest_first_and_filtered_by_time_device_and_words(
    http: httpx.AsyncClient, connect: ClientFactory
) -> None:
    alice = await connect("alice")
    now = datetime.now(UTC)
    await alice.remember(
        *[
            MemoryRecord(
                ai="alice",
                content=f"note {i} about {'gpus' if i % 3 == 0 else 'gardens'}",
                device="jetson" if i < 5 else "laptop",
                created_at=now - timedelta(days=10 - i),
            )
            for i in range(10)
        ]
    )
    first = (await http.get("/api/memories", params={"agent": "alice", "per_page": 4})).json()
    assert first["total"] == 10
    assert [m["content"][:6] for m in first["items"]] == ["note 9", "note 8", "note 7", "note 6"]
    since = (now - timedelta(days=3, hours=1)).isoformat()
    recent = (await http.get("/api/memories", params={"agent": "alice", "since": since})).json()
    assert recent["total"] == 3
    jetson = (await http.get("/api/memories", params={"agent": "alice", "device": "jetson"})).json()
    assert jetson["total"] == 5 and {m["device"] for m in jetson["items"]} == {"jetson"}
    found = (await http.get("/api/memories", params={"agent": "alice", "q": "gpus"})).json()
    assert found["items"] and all("gpus" in m["content"] for m in found["items"][:4])
    sessions = (await http.get("/api/sessions", params={"agent": "alice"})).json()
    assert sessions["total"] == 1 and sessions["items"][0]["end_reason"] is None
    unknown = await http.get("/api/memories", params={"agent": "nobody"})
    assert unknown.status_code == 404 and error_of(unknown)["code"] == "not_found"
    bad_time = await http.get("/api/memories", params={"agent": "alice", "since": "soon"})
    assert bad_time.status_code == 422 and error_of(bad_time)["code"] == "invalid_frame"


async def test_asks_are_listed_with_answers_and_rated_over_http(
    http: httpx.AsyncClient, connect: ClientFactory, make_agent: AgentFactory
) -> None:
    _, ada_token = await make_agent("ada", skills=["python"])
    ada = await connect("ada", token=ada_token, capabilities=["answers"])
    _, dora_token = await make_agent("dora")
    dora = await connect("dora", token=dora_token)

    async def answer() -> None:
        question = await asyncio.wait_for(ada.questions.get(), 10)
        await ada.answer(question, "Keep a reference to each task.", confidence=0.9)

    answering = asyncio.create_task(answer())
    result = await dora.ask_and_wait("How do I keep python tasks alive?", timeout=5)
    await answering
    listed = (await http.get("/api/asks")).json()
    assert listed["total"] == 1
    [ask] = listed["items"]
    assert ask["question"] == "How do I keep python tasks alive?" and ask["asker"] == "dora"
    assert [a["agent"] for a in ask["answers"]] == ["ada"]
    answer_id = ask["answers"][0]["id"]
    rate = await http.post(
        f"/api/asks/{result.ask}/answers/{answer_id}/feedback",
        json={"verdict": "accept"},
        headers={"Authorization": f"Bearer {dora_token}"},
    )
    assert rate.json() == {"changed": True}
    one = (await http.get(f"/api/asks/{result.ask}")).json()
    assert one["answers"][0]["feedback"] == {"accept": 1}
    for path in ("/api/asks/not-an-id", f"/api/asks/{answer_id}"):
        missing = await http.get(path)
        assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    bad = await http.post(
        f"/api/asks/{result.ask}/answers/not-an-id/feedback",
        json={"verdict": "up"},
        headers={"Authorization": f"Bearer {dora_token}"},
    )
    assert bad.status_code == 404


async def test_profiles_cards_skills_and_the_graph(
    http: httpx.AsyncClient, connect: ClientFactory
) -> None:
    alice, _ = await connect("alice"), await connect("a/b")  # names may hold a slash
    await alice.endorse("a/b", "kubernetes")
    await alice.follow("a/b")
    detail = (await http.get("/api/agents/a/b")).json()
    assert detail["profile"]["name"] == "a/b"
    assert [e["endorser"] for e in detail["social"]["endorsements"]] == ["alice"]
    card = (await http.get("/api/cards/a/b")).json()
    assert card["name"] == "a/b"
    skills = {s["skill"]: s for s in (await http.get("/api/skills")).json()}
    assert skills["kubernetes"]["endorsed"] == ["a/b"]
    graph = (await http.get("/api/graph")).json()
    assert graph["follows"] == [["alice", "a/b"]]
    assert graph["endorsements"] == [["alice", "a/b", "kubernetes"]]
    # The memories page without an AI named sends a person to the family, where each is.
    whose = await http.get("/memories", headers={"Accept": "text/html"})
    assert whose.status_code == 303 and whose.headers["location"] == "/"


async def test_the_openapi_document_and_its_reference_page_cover_every_endpoint(
    http: httpx.AsyncClient,
) -> None:
    schema = (await http.get("/openapi.json")).json()
    paths = set(schema["paths"])
    assert {"/api/agents", "/api/memories", "/api/follows", "/api/asks/{ask}"} <= paths
    assert not any(p.startswith(("/agents", "/memories", "/graph")) for p in paths)  # pages
    reference = (await http.get("/docs")).text
    # Swagger UI draws it from this server's files (tests/test_api_reference.py opens it in a
    # browser); without script, the page still lists every endpoint.
    assert '<script src="/static/swagger-ui/swagger-ui-bundle.js">' in reference
    assert all(f"<code>{p}</code>" in reference for p in paths)
    assert "cdn" not in reference.lower() and "https://" not in reference


async def test_reads_need_a_token_where_the_owner_says_so(
    settings: Settings, make_agent: AgentFactory
) -> None:
    _, token = await make_agent("alice")
    async with (
        Server(settings.with_(http_reads="nobody")) as server,
        httpx.AsyncClient(base_url=server.http_url) as http,
    ):
        refused = await http.get("/api/agents")
        assert refused.status_code == 401 and error_of(refused)["code"] == "auth_failed"
        # A page sends a person to the login form instead (tests/test_familio_login.py).
        page = await http.get("/", headers={"Accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"] == "/login"
        login = await http.get("/login")
        assert login.status_code == 200 and 'name="token"' in login.text
        allowed = await http.get("/api/agents", headers={"Authorization": f"Bearer {token}"})
        assert allowed.status_code == 200


async def test_loopback_reads_are_open_and_other_addresses_need_a_token(
    settings: Settings, make_agent: AgentFactory
) -> None:
    _, token = await make_agent("alice")
    engine = create_engine(settings.db_url)
    access = Access(engine, "loopback")

    def request(host: str, authorization: str = "") -> Request:
        headers = [(b"host", b"127.0.0.1:8767")]
        headers += [(b"authorization", authorization.encode())] if authorization else []
        return Request({"type": "http", "client": (host, 5000), "headers": headers})

    try:
        await access.may_read(request("127.0.0.1"))
        await access.may_read(request("::1"))
        with pytest.raises(ProtocolError):
            await access.may_read(request("192.168.1.20"))
        await access.may_read(request("192.168.1.20", f"Bearer {token}"))
        await Access(engine, "anyone").may_read(request("192.168.1.20"))
    finally:
        await engine.dispose()


# --- DNS rebinding: loopback reads need a Host that names this server --------------------------


async def test_loopback_reads_need_a_host_header_that_names_this_server(
    settings: Settings, make_agent: AgentFactory
) -> None:
    # A page of evil.example whose name now points at 127.0.0.1 reaches the web view from
    # loopback, but its requests say "Host: evil.example".
    _, token = await make_agent("alice")
    async with (
        Server(settings.with_(http_hosts="familio.example.com, proxy.lan:8080")) as server,
        httpx.AsyncClient(base_url=server.http_url) as http,
    ):
        port = server.http_url.rpartition(":")[2]
        for evil in (
            f"evil.example:{port}",
            "evil.example",
            "127.0.0.1.evil.example",
            "localhost:x",
        ):
            refused = await http.get("/api/agents", headers={"Host": evil})
            assert refused.status_code == 403, evil
            error = error_of(refused)
            assert error["code"] == "forbidden" and "CLOUDBRAIN_HTTP_HOSTS" in error["detail"]
            for path in ("/", "/memories?agent=alice", "/events"):
                page = await http.get(path, headers={"Host": evil, "Accept": "text/html"})
                assert page.status_code == 403 and "text/html" in page.headers["content-type"]
                assert "does not name this server" in page.text, path
        names = [f"127.0.0.1:{port}", f"localhost:{port}", "LOCALHOST", f"[::1]:{port}"]
        names += ["127.0.0.2", "familio.example.com", "Familio.Example.Com.:443", "proxy.lan"]
        for name in names:
            assert (await http.get("/api/agents", headers={"Host": name})).status_code == 200, name
        # A token proves itself, whatever the Host says: a rebinding page has none.
        signed = {"Host": "evil.example", "Authorization": f"Bearer {token}"}
        assert (await http.get("/api/agents", headers=signed)).status_code == 200
        forged = {"Host": "evil.example", "Authorization": "Bearer cb_forged"}
        assert (await http.get("/api/agents", headers=forged)).status_code == 401
    # Reads open to anyone are open whatever the Host.
    async with (
        Server(settings.with_(http_reads="anyone")) as server,
        httpx.AsyncClient(base_url=server.http_url) as http,
    ):
        anyone = await http.get("/api/agents", headers={"Host": "evil.example"})
        assert anyone.status_code == 200


# --- headers that keep the browser strict --------------------------------------------------------

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


def assert_strict(response: httpx.Response) -> None:
    where = f"{response.request.method} {response.request.url.path}"
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (where, name)
    directives = (
        d.strip().partition(" ") for d in response.headers["content-security-policy"].split(";")
    )
    policy = {name: value for name, _, value in directives}
    assert policy["default-src"] == "'none'", where
    for directive in ("script-src", "style-src", "connect-src"):
        assert policy[directive] == "'self'", (where, directive)
    # The API reference's icons are data: SVG in Swagger UI's stylesheet (familio/headers.py).
    images = "'self' data:" if response.request.url.path == "/docs" else "'self'"
    assert policy["img-src"] == images, where
    assert policy["frame-ancestors"] == "'none'", where
    assert "unsafe" not in response.headers["content-security-policy"], where


async def test_every_response_carries_the_security_headers(
    http: httpx.AsyncClient, connect: ClientFactory
) -> None:
    await connect("alice")
    html = {"Accept": "text/html"}
    responses = [
        await http.get("/", headers=html),
        await http.get("/agents/alice", headers=html),
        await http.get("/docs", headers=html),
        await http.get("/rows", headers=html),
        await http.get("/api/agents"),
        await http.get("/openapi.json"),
        await http.get("/static/familio.css"),
        await http.get("/static/live.js"),
        await http.get("/agents/nobody", headers=html),  # 404 page
        await http.get("/api/agents/nobody"),  # 404 body
        await http.get("/api/agents", params={"per_page": 0}),  # 422
        await http.post("/api/follows", json={"agent": "alice"}),  # 401
        await http.get("/api/agents", headers={"Host": "evil.example"}),  # 403
        await http.get("/static/nothing.js"),
    ]
    assert [r.status_code for r in responses] == [200] * 8 + [404, 404, 422, 401, 403, 404]
    for response in responses:
        assert_strict(response)
    async with http.stream("GET", "/events") as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert_strict(stream)
