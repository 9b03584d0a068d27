"""Who may connect, and that nobody can speak as someone else."""

from __future__ import annotations

import asyncio

import pytest

from cloudbrain.agent.client import Client
from cloudbrain.agent.errors import AuthError
from cloudbrain.db import create_engine
from cloudbrain.identity import revoke_agent
from cloudbrain.ids import new_id
from cloudbrain.server import Server
from tests.conftest import AgentFactory, ClientFactory
from tests.wire import closed_with, hello, raw, recv_json, send_json


async def test_wrong_token_is_refused_and_closed(server: Server, make_agent: AgentFactory) -> None:
    await make_agent("alice")
    async with raw(server.url) as ws:
        reply = await hello(ws, "alice", "cb_not-the-token")
        assert reply["type"] == "error" and reply["code"] == "auth_failed"
        assert await closed_with(ws) == 4001


async def test_unknown_agent_is_refused_the_same_way(server: Server) -> None:
    async with raw(server.url) as ws:
        reply = await hello(ws, "ghost", "cb_whatever")
        assert (reply["code"], await closed_with(ws)) == ("auth_failed", 4001)


async def test_client_library_reports_bad_credentials_without_retrying(
    server: Server, make_agent: AgentFactory
) -> None:
    await make_agent("alice")
    client = Client(server.url, "alice", "cb_wrong", timeout=2)
    with pytest.raises(AuthError) as caught:
        await client.connect(wait=True)  # even when told to keep trying: a wrong token stays wrong
    assert caught.value.code == "auth_failed" and caught.value.hint
    await client.close()


async def test_first_frame_must_be_hello(server: Server) -> None:
    async with raw(server.url) as ws:
        await send_json(ws, {"v": 1, "type": "send", "id": new_id(), "to": "bob", "body": "hi"})
        reply = await recv_json(ws)
        assert reply["code"] == "hello_required" and reply["re"] is not None
        assert await closed_with(ws) == 4002


async def test_silence_instead_of_hello_times_out(server: Server) -> None:
    async with raw(server.url) as ws:
        reply = await recv_json(ws, timeout=5)  # hello_timeout is 1 s in tests
        assert reply["code"] == "hello_timeout"
        assert await closed_with(ws) == 4002


async def test_hello_in_another_protocol_version_is_refused(
    server: Server, make_agent: AgentFactory
) -> None:
    _, token = await make_agent("alice")
    async with raw(server.url) as ws:
        await send_json(ws, {"v": 2, "type": "hello", "id": "h1", "name": "alice", "token": token})
        reply = await recv_json(ws)
        assert reply["code"] == "unsupported_version"
        assert await closed_with(ws) == 4003


async def test_a_client_cannot_claim_another_sender(
    server: Server, make_agent: AgentFactory, connect: ClientFactory
) -> None:
    _, token = await make_agent("mallory")
    bob = await connect("bob")
    async with raw(server.url) as ws:
        assert (await hello(ws, "mallory", token))["type"] == "welcome"
        # There is no field to claim a sender with: a "from" is refused outright.
        forged = {
            "v": 1,
            "type": "send",
            "id": new_id(),
            "to": "bob",
            "body": "from alice!",
            "from": "alice",
        }
        await send_json(ws, forged)
        reply = await recv_json(ws)
        assert reply["code"] == "invalid_frame" and "from" in reply["detail"]
        # Whatever goes in meta is carried, but the sender is the server's stamp.
        honest = {
            "v": 1,
            "type": "send",
            "id": new_id(),
            "to": "bob",
            "body": "hi",
            "meta": {"from": "alice"},
        }
        await send_json(ws, honest)
        assert (await recv_json(ws))["type"] == "receipt"
    message = await bob.receive(5)
    assert message.sender == "mallory" and message.meta == {"from": "alice"}


async def test_second_hello_on_an_open_connection_is_refused(
    server: Server, make_agent: AgentFactory
) -> None:
    _, alice_token = await make_agent("alice")
    _, bob_token = await make_agent("bob")
    async with raw(server.url) as ws:
        await hello(ws, "alice", alice_token)
        reply = await hello(ws, "bob", bob_token)
        assert reply["code"] == "invalid_frame" and "already" in reply["detail"]
        await send_json(ws, {"v": 1, "type": "ping", "id": "p"})
        assert (await recv_json(ws))["type"] == "pong"  # still open, still alice


async def test_revoking_closes_open_connections_and_refuses_new_ones(
    server: Server, make_agent: AgentFactory, connect: ClientFactory
) -> None:
    bob = await connect("bob")
    engine = create_engine(server.settings.db_url)
    try:
        await revoke_agent(engine, "bob")
    finally:
        await engine.dispose()
    messages = bob.messages()
    with pytest.raises(AuthError):
        await asyncio.wait_for(anext(messages), 5)  # revocation poll is 0.1 s in tests
    alice = await connect("alice")
    with pytest.raises(Exception, match="unknown_recipient"):
        await alice.send("bob", "are you there?")
