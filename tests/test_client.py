"""The client library against a real server that comes and goes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cloudbrain.agent.client import Client
from cloudbrain.agent.errors import CannotConnect, ClientClosed
from cloudbrain.server import Server
from cloudbrain.settings import Settings
from tests.conftest import AgentFactory
from tests.services import free_port


async def test_no_server_is_a_clear_error(make_agent: AgentFactory) -> None:
    client = Client(f"ws://127.0.0.1:{free_port()}", "alice", "cb_x", timeout=2)
    with pytest.raises(CannotConnect) as caught:
        await client.connect()
    assert "cloudbrain server" in caught.value.hint
    await client.close()


async def test_client_waits_for_a_server_and_survives_its_restart(
    settings: Settings, make_agent: AgentFactory
) -> None:
    port = free_port()
    settings = settings.with_(port=port)
    _, alice_token = await make_agent("alice")
    _, bob_token = await make_agent("bob")
    alice = Client(settings.url, "alice", alice_token, max_backoff=0.3)
    bob = Client(settings.url, "bob", bob_token, max_backoff=0.3)

    connecting = asyncio.create_task(alice.connect(wait=True))
    await asyncio.sleep(0.5)
    assert not connecting.done()  # no server yet: still trying
    async with Server(settings):
        await asyncio.wait_for(connecting, 10)
        await bob.connect()
        first = await alice.send("bob", "before the restart")
    # The server is gone. A send now waits in the client, then goes out after the reconnect.
    pending = asyncio.create_task(alice.send("bob", "during the outage"))
    await asyncio.sleep(0.3)
    assert not pending.done()
    async with Server(settings):
        second = await asyncio.wait_for(pending, 10)
        texts = []
        for _ in range(2):
            message = await bob.receive(10)
            bob.ack(message)
            texts.append((message.id, message.text))
        assert texts == [(first.re, "before the restart"), (second.re, "during the outage")]
        await alice.close()
        await bob.close()


async def test_leaving_the_loop_early_leaves_the_message_unacked(
    server: Server, make_agent: AgentFactory
) -> None:
    _, alice_token = await make_agent("alice")
    _, bob_token = await make_agent("bob")
    async with Client(server.url, "alice", alice_token) as alice:
        receipt = await alice.send("bob", "handle me")
        async with Client(server.url, "bob", bob_token) as bob:
            async for message in bob.messages():
                assert message.id == receipt.re
                break  # e.g. the handler crashed: not acked
        async with Client(server.url, "bob", bob_token) as bob:
            again = await bob.receive(5)
            assert again.id == receipt.re


async def test_closing_wakes_everyone_waiting(server: Server, make_agent: AgentFactory) -> None:
    _, token = await make_agent("alice")
    client = Client(server.url, "alice", token)
    await client.connect()
    waiting = asyncio.create_task(client.receive())
    await asyncio.sleep(0.05)
    await client.close()
    with pytest.raises(ClientClosed):
        await waiting


async def test_a_failed_replay_closes_the_connection_and_the_retry_delivers(
    server: Server, make_agent: AgentFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One replay fails (as if the database blipped): the client reconnects and gets it all."""
    assert server.hub is not None
    store = server.hub.store
    real_pending = store.pending
    failures: list[int] = []

    async def pending_failing_once(*args: Any, **kwargs: Any) -> Any:
        if not failures:
            failures.append(1)
            raise ConnectionError("database went away for a moment")
        return await real_pending(*args, **kwargs)

    _, alice_token = await make_agent("alice")
    _, bob_token = await make_agent("bob")
    async with Client(server.url, "alice", alice_token) as alice:
        receipt = await alice.send("bob", "waiting for you")
    monkeypatch.setattr(store, "pending", pending_failing_once)
    async with Client(server.url, "bob", bob_token, max_backoff=0.3) as bob:
        message = await bob.receive(10)
        assert message.id == receipt.re and failures == [1]
