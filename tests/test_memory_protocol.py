"""Memories over the wire: agents store their own, recall everyone's, page through them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloudbrain.agent.errors import ServerError
from cloudbrain.memory.records import MemoryRecord
from cloudbrain.server import Server
from tests.conftest import AgentFactory, ClientFactory
from tests.wire import hello, raw, recv_json, send_json


async def test_remember_then_recall_across_agents(connect: ClientFactory) -> None:
    alice = await connect("alice", device="laptop")
    bob = await connect("bob", device="jetson")
    fact = MemoryRecord(
        ai="alice",
        device="laptop",
        session=alice.session or "",
        kind="fact",
        content="The staging database is restored every night at 02:00",
    )
    stored = await alice.remember(fact)
    assert stored.stored == [fact.id] and stored.duplicates == []
    assert (await alice.remember(fact)).duplicates == [fact.id]  # union: nothing changes

    [found] = await bob.recall("when is staging restored?")
    assert found.memory.id == fact.id
    assert (found.memory.ai, found.memory.device, found.memory.session) == (
        "alice",
        "laptop",
        alice.session,
    )
    assert found.memory.embedding is None  # vectors stay on the server
    assert found.score > 0 and "relevance" in found.why


async def test_recall_filters_by_agent_and_time(connect: ClientFactory) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    now = datetime.now(UTC)
    old = MemoryRecord(
        ai="alice", content="kubernetes upgrade notes", created_at=now - timedelta(days=5)
    )
    new = MemoryRecord(
        ai="alice", content="kubernetes upgrade went fine", created_at=now - timedelta(hours=1)
    )
    theirs = MemoryRecord(ai="bob", content="kubernetes upgrade on the jetson")
    await alice.remember(old, new)
    await bob.remember(theirs)
    assert {r.memory.id for r in await alice.recall("kubernetes upgrade", limit=10)} == {
        old.id,
        new.id,
        theirs.id,
    }
    assert [r.memory.id for r in await alice.recall("kubernetes", ai="bob")] == [theirs.id]
    recent = await alice.recall("kubernetes upgrade", ai="alice", since=now - timedelta(days=1))
    assert [r.memory.id for r in recent] == [new.id]


async def test_an_agent_cannot_store_memories_as_another(connect: ClientFactory) -> None:
    alice = await connect("alice")
    with pytest.raises(ServerError) as caught:
        await alice.remember(MemoryRecord(ai="bob", content="bob said this (he did not)"))
    assert caught.value.code == "forbidden"
    assert await alice.recall("bob said") == []


async def test_pages_come_in_storage_order(connect: ClientFactory) -> None:
    alice = await connect("alice")
    records = [MemoryRecord(ai="alice", content=f"memory number {i}") for i in range(25)]
    await alice.remember(*records)
    pages = [page async for page in alice.memory_pages(limit=10)]
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [m.id for page in pages for m in page] == [r.id for r in records]


async def test_malformed_memories_are_refused_with_the_field_named(
    server: Server, make_agent: AgentFactory
) -> None:
    _, token = await make_agent("alice")
    async with raw(server.url) as ws:
        await hello(ws, "alice", token)
        await send_json(
            ws,
            {
                "v": 1,
                "type": "remember",
                "id": "r1",
                "memories": [{"ai": "alice", "importance": 7}],
            },
        )
        error = await recv_json(ws)
        assert error["code"] == "invalid_frame" and "importance" in error["detail"]
        await send_json(
            ws, {"v": 1, "type": "recall", "id": "r2", "query": "x", "since": "last week"}
        )
        error = await recv_json(ws)
        assert error["code"] == "invalid_frame" and "since" in error["detail"]
