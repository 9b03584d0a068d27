"""Faults between the server and its database: a COMMIT whose reply never arrives, and the
database away for a while. Each run counts what was lost, doubled, out of order or stuck, and
asserts there is none of it."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url

from cloudbrain.agent.client import Client
from cloudbrain.db import create_engine
from cloudbrain.identity import create_agent
from cloudbrain.ids import new_id
from cloudbrain.server import Server
from cloudbrain.server.batch import Stored
from cloudbrain.settings import Settings
from tests.conftest import ClientFactory
from tests.fault_proxy import FaultProxy


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


def tally(sent: list[str], got: list[str]) -> dict[str, int]:
    position = {mid: i for i, mid in enumerate(sent)}
    seen = [position[m] for m in dict.fromkeys(got)]
    return {
        "lost": len(set(sent) - set(got)),
        "doubled": len(got) - len(set(got)),
        "out_of_order": sum(1 for a, b in itertools.pairwise(seen) if b < a),
    }


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
    got = await received_in_order(bob, sent, seconds=10)
    assert lost_replies == 1
    assert tally(sent, got) == {"lost": 0, "doubled": 0, "out_of_order": 0}


@pytest.mark.postgres
async def test_order_holds_and_nothing_is_lost_through_a_database_outage(
    postgres_url: str, tmp_path: Path
) -> None:
    """PostgreSQL goes away for longer than any retry schedule (10 s) in the middle of a
    stream: senders wait, and when it is back every message arrives, once and in order."""
    url = make_url(postgres_url)
    proxy = FaultProxy(url.host or "127.0.0.1", url.port or 5432)
    port = await proxy.start()
    settings = Settings(
        home=tmp_path,
        database_url=url.set(port=port).render_as_string(hide_password=False),
        port=0,
        smtp_port=0,
        http=False,
        node="faults",
    )
    engine = create_engine(postgres_url)
    tokens = {name: (await create_agent(engine, name))[1] for name in ("alice", "bob")}
    await engine.dispose()
    count, cut_after = 400, 100
    try:
        async with (
            Server(settings) as server,
            Client(server.url, "alice", tokens["alice"], timeout=120) as alice,
            Client(server.url, "bob", tokens["bob"], timeout=120) as bob,
        ):
            sent = [new_id() for _ in range(count)]
            in_flight = asyncio.Semaphore(20)  # as a busy agent has them

            async def send(i: int) -> None:
                async with in_flight:
                    await alice.send("bob", f"message {i}", message_id=sent[i])
                if i == cut_after:
                    proxy.cut()
                    asyncio.get_running_loop().call_later(10, proxy.restore)

            await asyncio.gather(*(send(i) for i in range(count)))
            got = await received_in_order(bob, sent, seconds=30)
            assert proxy.down is False
            assert tally(sent, got) == {"lost": 0, "doubled": 0, "out_of_order": 0}
    finally:
        await proxy.stop()
