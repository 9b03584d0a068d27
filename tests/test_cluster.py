"""Several server nodes as one family: real ``cloudbrain server`` processes on their own ports,
sharing one PostgreSQL database and one Redis. Messages, topics, broadcasts, presence and asks
cross nodes; a node killed with SIGKILL loses nothing, and its agents carry on on another;
Redis going away slows nodes down but loses nothing either."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from cloudbrain.agent.client import Client
from cloudbrain.db import create_engine
from cloudbrain.identity import create_agent
from cloudbrain.protocol import Presence
from cloudbrain.server.cluster import sessions_key
from tests.services import REDIS_URL, ServerProcess, empty_redis, redis_process

pytestmark = pytest.mark.postgres


def node(tmp_path: Path, db_url: str, redis_url: str, name: str) -> ServerProcess:
    return ServerProcess(
        tmp_path / name, db_url, node=name, extra_env={"CLOUDBRAIN_REDIS_URL": redis_url}
    )


@pytest.fixture
def nodes(tmp_path: Path, postgres_url: str) -> Iterator[list[ServerProcess]]:
    """Three nodes on the test Redis and one PostgreSQL database."""
    redis_url = empty_redis()
    started = [node(tmp_path, postgres_url, redis_url, f"n{i}").start() for i in (1, 2, 3)]
    yield started
    for process in started:
        process.stop()


@pytest.fixture
async def tokens(postgres_url: str) -> dict[str, str]:
    engine = create_engine(postgres_url)
    try:
        names = ("alice", "bob", "carol", "ada", "dora")
        return {name: (await create_agent(engine, name))[1] for name in names}
    finally:
        await engine.dispose()


async def until(check: Any, seconds: float = 15.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = await check() if asyncio.iscoroutinefunction(check) else check()
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


@pytest.fixture
async def clients() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as stack:
        yield stack


async def test_messages_topics_broadcasts_presence_and_asks_cross_nodes(
    nodes: list[ServerProcess], tokens: dict[str, str], clients: AsyncExitStack
) -> None:
    n1, n2, n3 = (n.url for n in nodes)
    seen: list[Presence] = []
    alice = await clients.enter_async_context(
        Client(n1, "alice", tokens["alice"], capabilities=("presence",), on_presence=seen.append)
    )
    bob = await clients.enter_async_context(Client(n2, "bob", tokens["bob"]))
    await bob.subscribe("news")
    carol = await clients.enter_async_context(Client(n3, "carol", tokens["carol"]))
    await until(lambda: {p.agent for p in seen if p.online} >= {"bob", "carol"})
    assert {p.agent for p in seen if p.online} >= {"bob", "carol"}  # from other nodes

    await alice.send("bob", "hello from n1")
    await alice.publish("news", "on the topic")
    await carol.broadcast("to everyone, from n3")
    got = [await bob.receive(10) for _ in range(3)]
    assert [m.text for m in got] == ["hello from n1", "on the topic", "to everyone, from n3"]
    for message in got:
        bob.ack(message)
    assert (await alice.receive(10)).text == "to everyone, from n3"

    ada = await clients.enter_async_context(
        Client(n3, "ada", tokens["ada"], capabilities=("answers",), skills=("python",))
    )

    async def answer() -> None:
        question = await asyncio.wait_for(ada.questions.get(), 10)
        await ada.answer(question, "Keep a reference to every task.", confidence=0.9)

    answering = asyncio.create_task(answer())
    dora = await clients.enter_async_context(Client(n1, "dora", tokens["dora"]))
    result = await dora.ask_and_wait("How do I keep python tasks alive?", timeout=8)
    await answering
    assert [(a.agent, a.source) for a in result.answers] == [("ada", "live")]
    assert result.missing == []
    online = {p.name for p in await dora.who(online=True)}
    assert online == {"alice", "bob", "carol", "ada", "dora"}

    # What a node (re)joining learns of n3's sessions is what n3 has now: not ada's, once gone.
    assert ada.welcome is not None
    gone = ada.welcome.session
    registry = aioredis.Redis.from_url(REDIS_URL)
    try:
        assert await registry.hexists(sessions_key("n3"), gone)
        await ada.close()

        async def forgotten() -> bool:
            return not await registry.hexists(sessions_key("n3"), gone)

        assert await until(forgotten, 10)
    finally:
        await registry.aclose()


async def test_a_node_killed_mid_traffic_loses_nothing_and_doubles_nothing(
    nodes: list[ServerProcess], tokens: dict[str, str], clients: AsyncExitStack
) -> None:
    n1, n2, n3 = nodes
    alice = await clients.enter_async_context(Client([n1.url, n3.url], "alice", tokens["alice"]))
    # bob is on n2 first; when it dies, his client goes on to n3.
    bob = await clients.enter_async_context(
        Client([n2.url, n3.url], "bob", tokens["bob"], max_backoff=0.5)
    )
    received: list[str] = []

    async def read() -> None:
        async for message in bob.messages():
            received.append(message.text)

    reader = asyncio.create_task(read())
    total = 300
    for i in range(total):
        await alice.send("bob", f"m{i}")  # returns once the database has it
        if i == total // 3:
            n2.kill()
    await until(lambda: len(received) >= total, 30)
    reader.cancel()
    assert len(received) == total, f"lost {total - len(set(received))}"
    assert received == [f"m{i}" for i in range(total)]  # in order, none twice
    assert bob.url == n3.url

    # n2's sessions end in the database once its heartbeat is missed: bob has one left.
    async def bob_once() -> bool:
        [profile] = [p for p in await alice.who() if p.name == "bob"]
        return len(profile.sessions) == 1

    assert await until(bob_once, 25)


async def test_while_redis_is_away_nodes_serve_their_agents_and_catch_up(
    tmp_path: Path, postgres_url: str, tokens: dict[str, str], clients: AsyncExitStack
) -> None:
    with redis_process(tmp_path / "redis") as redis:
        first = node(tmp_path, postgres_url, redis.redis_url, "r1").start()
        second = node(tmp_path, postgres_url, redis.redis_url, "r2").start()
        try:
            alice = await clients.enter_async_context(Client(first.url, "alice", tokens["alice"]))
            bob = await clients.enter_async_context(Client(second.url, "bob", tokens["bob"]))
            carol = await clients.enter_async_context(Client(first.url, "carol", tokens["carol"]))
            await alice.send("bob", "before")
            assert (await bob.receive(10)).text == "before"

            redis.stop()
            await alice.send("carol", "same node, Redis away")
            assert (await carol.receive(5)).text == "same node, Redis away"
            await alice.send("bob", "across, Redis away")  # read from the database instead
            assert (await bob.receive(10)).text == "across, Redis away"
            assert await until(lambda: "Redis unavailable" in first.output(), 10)

            redis.start()
            assert await until(lambda: first.output().count("joined through Redis") == 2, 15)
            await alice.send("bob", "after")
            assert (await bob.receive(10)).text == "after"
        finally:
            first.stop()
            second.stop()
