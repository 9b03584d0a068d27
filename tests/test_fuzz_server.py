"""Every kind of client frame, filled with what hypothesis makes up, sent to a real server on
SQLite and PostgreSQL. Whatever comes in, the sender gets a reply that is no ``internal``
error, its connection stays open, and the rest of the family goes on as before."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection, connect

from cloudbrain.db import create_engine
from cloudbrain.identity import create_agent
from cloudbrain.ids import new_id
from cloudbrain.protocol import CLIENT_TYPES
from cloudbrain.protocol.base import CLIENT_FRAMES
from cloudbrain.server import Server
from cloudbrain.settings import Settings

# Text meant to break what it reaches: line breaks for headers, NUL for PostgreSQL, escapes for
# terminals, markup for pages, quotes for SQL, a lone surrogate for UTF-8, and a lot of it.
hostile_text = st.sampled_from(
    [
        "",
        "bob",
        "a\r\nBcc: x@example.com",
        "nul\x00here",
        "\x1b[31mred",
        "<script>alert(1)</script>",
        "'; DROP TABLE messages; --",
        "\ud800",
        "../../etc/passwd",
        "x" * 5000,
        "2026-01-01T00:00:00",
    ]
) | st.text(max_size=40)
hostile_numbers = st.sampled_from([0, -1, 1, 2**31, 2**63, 2**64, -(2**63) - 1, 1e308, 0.5])
plausible = st.sampled_from(
    [
        new_id(),
        "bob",
        "python",
        "2026-11-30T10:00:00+00:00",
        ["python"],
        [new_id()],
        {"current_task": "x"},
        [{"ai": "eve", "content": "a memory"}],
        "up",
        True,
        5,
    ]
)
json_values = st.recursive(
    st.none() | st.booleans() | hostile_numbers | st.integers() | hostile_text | plausible,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3),
    max_leaves=12,
)


def _fields_of(frame_type: str) -> list[str]:
    model = CLIENT_FRAMES[frame_type]
    return [name for name in model.model_fields if name not in ("v", "type")]


FIELDS = {kind: _fields_of(kind) for kind in CLIENT_TYPES}


@st.composite
def frames(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(CLIENT_TYPES)))
    chosen = draw(st.lists(st.sampled_from(FIELDS[kind]), unique=True)) if FIELDS[kind] else []
    frame: dict[str, Any] = {"v": 1, "type": kind, "id": new_id()}
    for name in chosen:
        frame[name] = draw(json_values)
    return frame


class ThreadedServer:
    """The server on an event loop of its own thread, so hypothesis can drive it with plain
    blocking calls."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server = Server(settings)

    def __enter__(self) -> Server:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.__aenter__(), self.loop).result(60)
        return self.server

    def __exit__(self, *exc: object) -> None:
        stop = self.server.__aexit__(None, None, None)
        asyncio.run_coroutine_threadsafe(stop, self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def fuzzed(settings: Settings) -> Iterator[tuple[ClientConnection, str]]:
    async def make_agents() -> dict[str, str]:
        engine = create_engine(settings.db_url)
        try:
            return {
                name: (await create_agent(engine, name, skills=["python"]))[1]
                for name in ("eve", "bob", "carol")
            }
        finally:
            await engine.dispose()

    tokens = asyncio.run(make_agents())
    with ThreadedServer(settings) as server, connect(server.url, max_size=None) as eve:
        eve.send(json.dumps({"type": "hello", "id": "h", "name": "eve", "token": tokens["eve"]}))
        assert json.loads(eve.recv(10))["type"] == "welcome"
        yield eve, server.url
        # The family goes on: bob and carol exchange a message through the same server.
        with (
            connect(server.url) as bob,
            connect(server.url) as carol,
        ):
            for ws, name in ((bob, "bob"), (carol, "carol")):
                ws.send(
                    json.dumps({"type": "hello", "id": "h", "name": name, "token": tokens[name]})
                )
                assert json.loads(ws.recv(10))["type"] == "welcome"
            sent = new_id()
            bob.send(json.dumps({"type": "send", "id": sent, "to": "carol", "body": "still here"}))
            # What eve broadcast while fuzzing is replayed first.
            while json.loads(carol.recv(10)).get("id") != sent:
                pass


def replies_until_pong(ws: ClientConnection, ping: str) -> list[dict[str, Any]]:
    replies = []
    while (reply := json.loads(ws.recv(30))).get("re") != ping or reply["type"] != "pong":
        replies.append(reply)
    return replies


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frame=frames())
def test_any_frame_gets_an_answer_and_never_breaks_the_server(
    fuzzed: tuple[ClientConnection, str], frame: dict[str, Any]
) -> None:
    eve, _ = fuzzed
    eve.send(json.dumps(frame))  # ensure_ascii: a lone surrogate goes as its \\u escape
    ping = new_id()
    eve.send(json.dumps({"type": "ping", "id": ping}))
    for reply in replies_until_pong(eve, ping):
        assert not (reply["type"] == "error" and reply["code"] == "internal"), (frame, reply)
