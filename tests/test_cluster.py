"""Several server nodes as one family: real ``cloudbrain server`` processes on their own ports,
sharing one PostgreSQL database and one Redis. Messages, topics, broadcasts, presence and asks
cross nodes; a node killed with SIGKILL loses nothing, and its agents carry on on another;
Redis going away slows nodes down but loses nothing either. Node names: a second start under a
live node's name changes nothing, a node restarted after a crash takes its name back at once,
and a killed node leaves no helper process behind."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from cloudbrain.agent.client import Client
from cloudbrain.db import create_engine
from cloudbrain.files import safe_name
from cloudbrain.identity import create_agent
from cloudbrain.memory.records import MemoryRecord
from cloudbrain.protocol import AskResult, Presence
from cloudbrain.server.cluster import node_channel, sessions_key
from cloudbrain.server.node_name import alive_key
from tests.fault_report import record, tally
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
    sent = [f"m{i}" for i in range(total)]
    counts = tally(sent, received)
    record("a cluster node killed with kill -9", "postgresql", sent, counts, n3.pid)
    assert counts == {"lost": 0, "doubled": 0, "out_of_order": 0, "stuck": 0}
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
            sent: list[str] = []

            async def across(phase: str) -> None:  # alice on r1 to bob on r2, 20 at a time
                for i in range(20):
                    sent.append((await alice.send("bob", f"{phase} {i}")).re)

            await across("before")
            redis.stop()
            await alice.send("carol", "same node, Redis away")
            assert (await carol.receive(5)).text == "same node, Redis away"
            await across("Redis away")  # read from the database instead
            assert await until(lambda: "Redis unavailable" in first.output(), 10)

            redis.start()
            assert await until(lambda: first.output().count("joined through Redis") == 2, 15)
            await across("after")
            got = [(await bob.receive(10)).id for _ in sent]
            counts = tally(sent, got)
            record("Redis stopped and started again", "postgresql", sent, counts, first.pid)
            assert counts == {"lost": 0, "doubled": 0, "out_of_order": 0, "stuck": 0}
        finally:
            first.stop()
            second.stop()


QUESTION = "How do I keep python tasks alive?"


async def keep_answering(agent: Client) -> None:
    """Answer every question put to ``agent``, for as long as the test runs."""
    while True:
        question = await agent.questions.get()
        # An answer that comes after its ask ended is refused: that is not this test's matter.
        with contextlib.suppress(Exception):
            await agent.answer(question, "Keep a reference to every task.", confidence=0.9)


def answered_live(result: AskResult, name: str) -> bool:
    return any(a.agent == name and a.source == "live" for a in result.answers)


async def test_after_a_redis_restart_every_node_registers_and_learns_sessions_again(
    tmp_path: Path, postgres_url: str, tokens: dict[str, str], clients: AsyncExitStack
) -> None:
    """Redis restarts empty. The node of the asker (r1) is back first; the specialist's node
    (r2) is paused meanwhile, so it registers again only after r1 read the others' sessions.
    While ada cannot be reached, an ask names her in ``missing``; once r2 is back, r1 hears of
    her again and she answers live."""
    with redis_process(tmp_path / "redis") as redis:
        first = node(tmp_path, postgres_url, redis.redis_url, "r1").start()
        second = node(tmp_path, postgres_url, redis.redis_url, "r2").start()
        registry = aioredis.Redis.from_url(redis.redis_url)
        answering: asyncio.Task[None] | None = None
        try:
            ada = await clients.enter_async_context(
                Client(
                    second.url,
                    "ada",
                    tokens["ada"],
                    capabilities=("answers",),
                    skills=("python",),
                    timeout=3,
                )
            )
            answering = asyncio.create_task(keep_answering(ada))
            await ada.remember(
                MemoryRecord(ai="ada", kind="note", content="Keep python tasks in a set.")
            )
            dora = await clients.enter_async_context(Client(first.url, "dora", tokens["dora"]))

            async def recalled() -> bool:
                # r1 reads what other nodes stored every few seconds: until then it finds her
                # memory by its words only, with no similarity, and that answers no ask.
                found = await dora.recall(QUESTION, ai="ada")
                return any("similarity" in r.why for r in found)

            assert await until(recalled, 20)

            async def live_answer() -> AskResult | None:
                result = await dora.ask_and_wait(QUESTION, timeout=3)
                assert answered_live(result, "ada") or "ada" in result.missing, result
                return result if answered_live(result, "ada") else None

            assert await until(live_answer, 20), "ada never answered across nodes"

            os.kill(second.pid, signal.SIGSTOP)
            try:
                redis.stop()
                redis.start()  # empty: no node's sessions, no node's heartbeat

                async def first_listens() -> bool:
                    [(_, count)] = await registry.pubsub_numsub(node_channel("r1"))
                    return bool(count)

                assert await until(first_listens, 15)
                # ada is on a node r1 cannot reach now: the result says she did not answer,
                # and what she stored answers for her.
                result = await dora.ask_and_wait(QUESTION, timeout=2)
                assert "ada" in result.missing
                recall = await dora.recall(QUESTION, ai="ada")
                assert [(a.agent, a.source) for a in result.answers] == [("ada", "memory")], (
                    result,
                    [(r.memory.content, r.why) for r in recall],
                )
            finally:
                os.kill(second.pid, signal.SIGCONT)

            # r2 registers its sessions again, and r1 hears of them.
            assert await until(live_answer, 30), "r1 never learned ada's session again"
            [profile] = [p for p in await dora.who() if p.name == "ada"]
            assert profile.online and len(profile.sessions) == 1  # not ended as a dead node's
        finally:
            if answering is not None:
                answering.cancel()
            await clients.aclose()  # first, or each node waits for them to leave as it stops
            await registry.aclose()
            first.stop()
            second.stop()


async def test_a_second_start_under_a_live_nodes_name_changes_nothing(
    tmp_path: Path, postgres_url: str, tokens: dict[str, str], clients: AsyncExitStack
) -> None:
    redis_url = empty_redis()
    running = node(tmp_path, postgres_url, redis_url, "n1").start()
    try:
        alice = await clients.enter_async_context(Client(running.url, "alice", tokens["alice"]))
        again = node(tmp_path / "again", postgres_url, redis_url, "n1")
        with pytest.raises(RuntimeError, match="exited"):
            again.start()
        # The live node's sessions are still open in the database, and it still serves them.
        [profile] = [p for p in await alice.who() if p.name == "alice"]
        assert profile.online and len(profile.sessions) == 1
        await alice.send("alice", "still here")
        assert (await alice.receive(10)).text == "still here"
        said = " ".join(again.output().split())  # as one line: the CLI wraps its messages
        assert "another server node called 'n1' is running on this Redis" in said
        assert f"process {running.pid} on this machine" in said
        assert "give each node a name of its own" in said
        assert "closed" not in said  # nothing done before refusing
    finally:
        running.stop()


async def test_a_node_restarted_right_after_kill_9_takes_its_name_back(
    tmp_path: Path, postgres_url: str, tokens: dict[str, str], clients: AsyncExitStack
) -> None:
    redis_url = empty_redis()
    first = node(tmp_path, postgres_url, redis_url, "n1").start()
    alice = Client(first.url, "alice", tokens["alice"])
    await alice.connect()  # a session the killed node leaves open in the database
    first.kill()  # its heartbeat key lives on for up to 10 s
    await alice.close()
    again = node(tmp_path, postgres_url, redis_url, "n1").start()  # at once: not refused
    try:
        said = " ".join(again.output().split())
        assert "its previous process (pid" in said and "is gone; taking its name over" in said
        assert "closed 1 session(s) left open by an earlier run of node 'n1'" in said
        registry = aioredis.Redis.from_url(redis_url)
        try:
            held = await registry.get(alive_key("n1"))
        finally:
            await registry.aclose()
        assert held is not None and json.loads(held)["pid"] == again.pid
        bob = await clients.enter_async_context(Client(again.url, "bob", tokens["bob"]))
        online = {p.name for p in await bob.who(online=True)}
        assert online == {"bob"}
    finally:
        again.stop()


async def test_a_name_held_on_another_machine_is_waited_for_with_how_long(
    tmp_path: Path, postgres_url: str
) -> None:
    """A holder this machine cannot prove dead keeps the name until its heartbeat expires;
    the refusal says how long that is."""
    redis_url = empty_redis()
    elsewhere = {
        "host": "elsewhere",
        "machine": "elsewhere|boot|pid:[1]",
        "pid": 4321,
        "started": "1",
        "instance": "x",
    }
    registry = aioredis.Redis.from_url(redis_url)
    try:
        await registry.set(alive_key("n1"), json.dumps(elsewhere), ex=60)
        refused = node(tmp_path, postgres_url, redis_url, "n1")
        with pytest.raises(RuntimeError, match="exited"):
            refused.start()
        said = " ".join(refused.output().split())  # as one line: the CLI wraps its messages
        assert "(process 4321 on elsewhere)" in said
        assert "its name is free in" in said and "when its heartbeat expires" in said
        held = await registry.get(alive_key("n1"))
        assert held is not None and json.loads(held) == elsewhere  # still theirs
    finally:
        await registry.aclose()


def children_of(pid: int) -> dict[int, str]:
    """The processes whose parent is ``pid``, each with its start time (from /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found[int(entry.name)] = fields[19]
    return found


def running(pid: int, started: str) -> bool:
    """Whether that process (not another that got its pid) is still running: a zombie has
    ended, even if no one reaped it yet."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X") and fields[19] == started


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()  # from the state on: the name may hold ")"


async def test_a_killed_server_leaves_no_helper_process_running(
    tmp_path: Path, postgres_url: str, tokens: dict[str, str]
) -> None:
    server = node(tmp_path, postgres_url, empty_redis(), "n1").start()
    try:
        # A message for an offline agent: the spool's helper process writes its mail copy.
        async with Client(server.url, "alice", tokens["alice"]) as alice:
            await alice.send("bob", "for the spool")
        copies = tmp_path / "n1" / "spool" / safe_name("bob") / "new"
        assert await until(lambda: copies.is_dir() and any(copies.iterdir()), 15)
        helpers = children_of(server.pid)
        assert helpers, "the server started no helper process"
    finally:
        server.kill()

    async def all_ended() -> bool:
        return not any(running(pid, started) for pid, started in helpers.items())

    assert await until(all_ended, 20), still_running(helpers)


def still_running(processes: dict[int, str]) -> list[str]:
    """The command lines of those of ``processes`` still running, to say which they are."""
    return [
        Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        for pid, started in processes.items()
        if running(pid, started)
    ]
