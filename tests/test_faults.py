"""Faults between the server and its database: a COMMIT whose reply never arrives, and the
database away for a while. Each run counts what was lost, doubled, out of order or stuck, and
asserts there is none of it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from cloudbrain.agent.client import Client
from cloudbrain.db import create_engine
from cloudbrain.envelope import Stored
from cloudbrain.identity import create_agent
from cloudbrain.ids import new_id
from cloudbrain.server import Server
from cloudbrain.settings import Settings
from tests.conftest import ClientFactory
from tests.fault_proxy import FaultProxy, postgres_through
from tests.fault_report import backend, record, rss_mib, tally
from tests.services import ServerProcess
from tests.test_crash import agents
from tests.wire import hello, raw


async def received_in_order(bob: Client, sent: list[str], seconds: float = 30.0) -> list[str]:
    """What bob receives live (acking each), until every id in ``sent`` came or time ran out."""
    got: list[str] = []
    missing = set(sent)
    while missing:
        try:
            message = await bob.receive(timeout=seconds)
        except TimeoutError:
            break
        bob.ack(message)
        got.append(message.id)
        missing.discard(message.id)
    return got


async def counted(
    sent: list[str], bob: Client, reconnect: Callable[[], Awaitable[Client]], seconds: float
) -> dict[str, int]:
    """What became of ``sent``: received live by ``bob``, else after he reconnected (stuck),
    else never (lost); and doubled or out of order among them."""
    live = await received_in_order(bob, sent, seconds)
    replayed: list[str] = []
    if set(sent) - set(live):
        await bob.close()
        replayed = await received_in_order(await reconnect(), sent, 5)
    return tally(sent, live, replayed)


NONE_WRONG = {"lost": 0, "doubled": 0, "out_of_order": 0, "stuck": 0}


async def test_messages_whose_commit_reply_was_lost_are_still_delivered_live(
    server: Server, connect: ClientFactory
) -> None:
    """The first write commits, then fails as if the connection dropped before the reply: the
    writer's next try finds the messages stored, and must still deliver them."""
    assert server.hub is not None
    store = server.hub.store
    write_batch = store.write_batch
    lost_replies = 0

    async def reply_lost_once(*args: Any, **kwargs: Any) -> list[Stored]:
        nonlocal lost_replies
        stored = await write_batch(*args, **kwargs)
        if lost_replies == 0 and any(s.recipient_ids for s in stored):
            lost_replies += 1
            raise ConnectionResetError("the COMMIT went through; its reply was lost")
        return stored

    store.write_batch = reply_lost_once  # type: ignore[method-assign]
    alice = await connect("alice")
    bob = await connect("bob")
    sends = [alice.send("bob", f"message {i}") for i in range(50)]
    sent = [receipt.re for receipt in await asyncio.gather(*sends)]
    counts = await counted(sent, bob, lambda: connect("bob"), 10)
    record("COMMIT reply lost", backend(server.settings.db_url), sent, counts)
    assert lost_replies == 1
    assert counts == NONE_WRONG


def away(proxy: FaultProxy) -> None:
    proxy.cut()
    asyncio.get_running_loop().call_later(10, proxy.restore)


def paused(proxy: FaultProxy) -> None:
    proxy.pause()
    asyncio.get_running_loop().call_later(10, proxy.restore)


# name in the report -> what happens to PostgreSQL a quarter into the stream
FAULTS = {
    "PostgreSQL away for 10 s": away,
    "PostgreSQL paused for 10 s": paused,
    "PostgreSQL connections half-open": FaultProxy.half_open,
}


@pytest.mark.postgres
@pytest.mark.parametrize("fault", list(FAULTS))
async def test_order_holds_and_nothing_is_lost_through_database_faults(
    postgres_url: str, tmp_path: Path, fault: str
) -> None:
    """PostgreSQL goes away, or stops answering, or its connections go silent with no reset,
    in the middle of a stream, for longer than any retry schedule: senders wait, and when it
    answers again every message arrives, once and in order. A silent connection is given up
    after the driver's command timeout (set short here; see cloudbrain.db.engine)."""
    proxy, through_proxy = await postgres_through(postgres_url)
    settings = Settings(
        home=tmp_path,
        database_url=through_proxy,
        port=0,
        smtp_port=0,
        http=False,
        node="faults",
    )
    engine = create_engine(postgres_url)
    tokens = {name: (await create_agent(engine, name))[1] for name in ("alice", "bob")}
    await engine.dispose()
    count, fault_after = 400, 100
    try:
        async with (
            Server(settings) as server,
            Client(server.url, "alice", tokens["alice"], timeout=120) as alice,
            Client(server.url, "bob", tokens["bob"], timeout=120) as bob,
        ):
            reconnected: list[Client] = []

            async def bob_again() -> Client:
                client = Client(server.url, "bob", tokens["bob"], timeout=120)
                await client.connect()
                reconnected.append(client)
                return client

            sent = [new_id() for _ in range(count)]
            in_flight = asyncio.Semaphore(20)  # as a busy agent has them

            async def send(i: int) -> None:
                async with in_flight:
                    await alice.send("bob", f"message {i}", message_id=sent[i])
                if i == fault_after:
                    FAULTS[fault](proxy)

            await asyncio.gather(*(send(i) for i in range(count)))
            counts = await counted(sent, bob, bob_again, 30)
            for client in reconnected:
                await client.close()
            record(fault, "postgresql", sent, counts)
            assert proxy.down is False
            assert counts == NONE_WRONG
    finally:
        await proxy.stop()


async def test_a_reader_that_never_reads_cannot_take_the_servers_memory(
    db_url: str, tmp_path: Path
) -> None:
    """A server process: 200 messages of 0.9 MB to a session that reads nothing. Before the
    outboxes had a byte budget, the server held all of them (180 MB and more) for as long as
    that session stayed; now it holds at most the budget, and nothing is lost."""
    tokens = await agents(db_url, "alice", "bob")
    server = ServerProcess(tmp_path, db_url).start()
    count, body = 200, "x" * 900_000
    try:
        pid = server.pid
        before = rss_mib(pid)
        async with (
            Client(server.url, "alice", tokens["alice"], timeout=60) as alice,
            raw(server.url, max_queue=1) as never_reads,
        ):
            assert (await hello(never_reads, "bob", tokens["bob"]))["type"] == "welcome"
            sent = [(await alice.send("bob", body)).re for _ in range(count)]
            grown = rss_mib(pid) - before
        async with Client(server.url, "bob", tokens["bob"], timeout=60) as bob:
            counts = tally(sent, await received_in_order(bob, sent, 60))
        record("a reader that never reads: 200 x 0.9 MB", backend(db_url), sent, counts, pid)
        assert counts == NONE_WRONG
        assert grown < 128, f"the server grew by {grown} MiB for a reader that never reads"
    finally:
        server.stop()


def test_replay_pages_grow_while_light_and_shrink_when_heavy() -> None:
    from cloudbrain.server.hub import REPLAY_PAGE, REPLAY_PAGE_BYTES, next_replay_page

    assert next_replay_page(16, 16 * 200) == 32
    assert next_replay_page(400, 1000) == REPLAY_PAGE
    # 16 messages of 1 MiB: next time only as many as fit the page's bytes, but at least one.
    assert next_replay_page(16, 16 * 2**20) == REPLAY_PAGE_BYTES // 2**20
    assert next_replay_page(1, 2**30) == 1
