"""Bad input costs its sender an error frame or a close, never the server or anyone else."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from cloudbrain.ids import new_id
from cloudbrain.server import Server
from cloudbrain.settings import Settings
from tests.conftest import AgentFactory, ClientFactory
from tests.wire import closed_with, hello, raw, recv_json


async def others_still_fine(connect: ClientFactory) -> None:
    """Two other agents still exchange a message through the same server."""
    alice = await connect("alice")
    bob = await connect("bob")
    receipt = await alice.send("bob", "still here?")
    message = await bob.receive(5)
    assert message.id == receipt.re


def send_frame(**fields: Any) -> str:
    return json.dumps({"v": 1, "type": "send", "id": new_id(), "to": "bob", "body": "x", **fields})


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ("{not json", "invalid_json"),
        ("[1, 2, 3]", "invalid_frame"),
        ('{"v": 1, "id": "x"}', "invalid_frame"),
        ('{"v": 1, "type": "teleport", "id": "x"}', "unknown_type"),
        ('{"v": 1, "type": "welcome", "id": "x"}', "unknown_type"),  # a server frame from a client
        ('{"v": 1, "type": "send", "id": "x", "to": "bob"}', "invalid_frame"),
        (send_frame(id="not-a-uuid"), "invalid_frame"),
        (send_frame(to=""), "invalid_frame"),
        (send_frame(ttl=-1), "invalid_frame"),
        (send_frame(v=9), "unsupported_version"),
        (send_frame(surprise=True), "invalid_frame"),
        ('{"v": 1, "type": "ack", "ids": []}', "invalid_frame"),
        ('{"v": 1, "type": "subscribe", "id": "s", "topic": "has space"}', "invalid_frame"),
    ],
)
async def test_malformed_frames_get_typed_errors_and_the_connection_stays_open(
    server: Server, make_agent: AgentFactory, connect: ClientFactory, data: str, code: str
) -> None:
    _, token = await make_agent("eve")
    async with raw(server.url) as ws:
        await hello(ws, "eve", token)
        await ws.send(data)
        error = await recv_json(ws)
        assert error["type"] == "error" and error["code"] == code, error
        assert error["detail"]
        await ws.send(json.dumps({"v": 1, "type": "ping", "id": "still-open"}))
        assert await recv_json(ws) == {"v": 1, "type": "pong", "re": "still-open"}
    await others_still_fine(connect)


async def test_error_frames_answer_the_frame_they_are_about(
    server: Server, make_agent: AgentFactory
) -> None:
    _, token = await make_agent("eve")
    async with raw(server.url) as ws:
        await hello(ws, "eve", token)
        frame_id = new_id()
        await ws.send(
            json.dumps({"v": 1, "type": "send", "id": frame_id, "to": "nobody", "body": 1})
        )
        error = await recv_json(ws)
        assert (error["code"], error["re"]) == ("unknown_recipient", frame_id)


async def test_binary_frames_are_refused(server: Server, make_agent: AgentFactory) -> None:
    _, token = await make_agent("eve")
    async with raw(server.url) as ws:
        await hello(ws, "eve", token)
        await ws.send(b'{"v": 1, "type": "ping", "id": "p"}')
        assert (await recv_json(ws))["code"] == "invalid_frame"


@pytest.fixture
async def strict_server(settings: Settings) -> Any:
    async with Server(
        settings.with_(max_frame_bytes=4096, rate_per_second=5, rate_burst=10)
    ) as running:
        yield running


async def test_oversized_frame_closes_with_1009_and_nothing_else_breaks(
    strict_server: Server, make_agent: AgentFactory, caplog: pytest.LogCaptureFixture
) -> None:
    from cloudbrain.agent.client import Client

    _, eve_token = await make_agent("eve")
    _, bob_token = await make_agent("bob")
    async with Client(strict_server.url, "bob", bob_token) as bob:
        async with raw(strict_server.url) as ws:
            await hello(ws, "eve", eve_token)
            await ws.send(send_frame(body="x" * 5000))
            assert await closed_with(ws) == 1009
        await asyncio.sleep(0.1)
        assert len([r for r in caplog.records if "1009" in r.getMessage()]) == 1
        async with Client(strict_server.url, "eve", eve_token) as eve:
            await eve.send("bob", "small is fine")
            assert (await bob.receive(5)).text == "small is fine"


async def test_client_library_refuses_oversized_messages_before_sending(
    strict_server: Server, make_agent: AgentFactory
) -> None:
    from cloudbrain.agent.client import Client
    from cloudbrain.agent.errors import FrameTooLarge

    _, token = await make_agent("eve")
    await make_agent("bob")
    async with Client(strict_server.url, "eve", token) as eve:
        with pytest.raises(FrameTooLarge):
            await eve.send("bob", "x" * 5000)
        assert (await eve.send("bob", "fits")).recipients == 1  # the connection is unharmed


async def test_flooding_gets_rate_limited_logged_once_then_closed(
    strict_server: Server, make_agent: AgentFactory, caplog: pytest.LogCaptureFixture
) -> None:
    _, token = await make_agent("eve")
    caplog.set_level(logging.WARNING, logger="cloudbrain.server")
    async with raw(strict_server.url) as ws:
        await hello(ws, "eve", token)
        for i in range(40):  # burst 10, then 10 refusals are tolerated, then the close
            await ws.send(json.dumps({"v": 1, "type": "ping", "id": f"p{i}"}))
        codes = []
        try:
            while True:
                codes.append((await recv_json(ws))["type"])
        except Exception:
            pass
        assert ws.close_code == 1008
    logged = [r.getMessage() for r in caplog.records if "rate_limited" in r.getMessage()]
    # One line when the flood starts, one when it ends in a close: not one per frame.
    assert len(logged) == 2, logged
    assert "not processed" in logged[0] and "closing" in logged[1]
    # The burst was served, then refusals came as typed errors before the close.
    assert codes[:9] == ["pong"] * 9 and "error" in codes


async def test_client_library_paces_itself_under_the_rate_limit_and_keeps_order(
    strict_server: Server, make_agent: AgentFactory, caplog: pytest.LogCaptureFixture
) -> None:
    import asyncio

    from cloudbrain.agent.client import Client

    caplog.set_level(logging.WARNING, logger="cloudbrain.server")
    _, eve_token = await make_agent("eve")
    _, bob_token = await make_agent("bob")
    async with (
        Client(strict_server.url, "eve", eve_token) as eve,
        Client(strict_server.url, "bob", bob_token) as bob,
    ):
        # 15 sends at once against a limit of 5 per second with a burst of 10.
        receipts = await asyncio.gather(*(eve.send("bob", f"m{i}") for i in range(15)))
        got = []
        for _ in range(15):
            message = await bob.receive(10)
            bob.ack(message)
            got.append(message.id)
        assert got == [r.re for r in receipts]
    assert not [r for r in caplog.records if "rate_limited" in r.getMessage()]
