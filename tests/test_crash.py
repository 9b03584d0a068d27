"""A server killed with SIGKILL loses nothing it acknowledged, and processes nothing twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cloudbrain.agent.client import Client
from cloudbrain.db import create_engine
from cloudbrain.identity import create_agent
from tests.fault_report import backend, record, tally
from tests.services import ServerProcess


async def agents(db_url: str, *names: str) -> dict[str, str]:
    engine = create_engine(db_url)
    try:
        return {name: (await create_agent(engine, name))[1] for name in names}
    finally:
        await engine.dispose()


async def test_receipted_messages_survive_sigkill_before_delivery(
    db_url: str, tmp_path: Path
) -> None:
    tokens = await agents(db_url, "alice", "bob")
    server = ServerProcess(tmp_path, db_url).start()
    try:
        async with Client(server.url, "alice", tokens["alice"]) as alice:
            receipts = [(await alice.send("bob", f"m{i}")).re for i in range(100)]
        server.kill()  # bob never connected: everything is in the database only

        server.start()
        async with Client(server.url, "bob", tokens["bob"]) as bob:
            got = []
            for _ in range(100):
                message = await bob.receive(10)
                bob.ack(message)
                got.append(message.id)
            assert got == receipts
            async with Client(server.url, "alice", tokens["alice"]) as alice:
                roster = {a.name: a for a in await alice.who()}
                # alice's session from before the kill was closed when the server came back
                assert [s.session for s in roster["alice"].sessions] == [alice.session]
    finally:
        server.stop()


async def test_sigkill_mid_traffic_loses_and_doubles_nothing(db_url: str, tmp_path: Path) -> None:
    tokens = await agents(db_url, "alice", "bob")
    server = ServerProcess(tmp_path, db_url).start()
    total = 400
    try:
        alice = Client(server.url, "alice", tokens["alice"], timeout=30, max_backoff=0.5)
        bob = Client(server.url, "bob", tokens["bob"], timeout=30, max_backoff=0.5)
        await alice.connect()
        await bob.connect()
        received: list[str] = []
        a_third_arrived = asyncio.Event()

        async def consume() -> None:
            async for message in bob.messages():
                received.append(message.text)
                if len(received) == total // 3:
                    a_third_arrived.set()
                if len(received) == total:
                    return

        async def produce() -> list[str]:
            # Several sends in flight at once, so the kill catches some between send and receipt.
            window = asyncio.Semaphore(20)

            async def one(i: int) -> str:
                async with window:
                    return (await alice.send("bob", f"m{i:04d}")).re

            return await asyncio.gather(*(one(i) for i in range(total)))

        consumer = asyncio.create_task(consume())
        producer = asyncio.create_task(produce())
        await asyncio.wait_for(a_third_arrived.wait(), 30)
        server.kill()
        await asyncio.sleep(0.5)
        server.start()

        receipts = await asyncio.wait_for(producer, 60)
        await asyncio.wait_for(consumer, 60)
        assert len(set(receipts)) == total
        sent = [f"m{i:04d}" for i in range(total)]
        counts = tally(sent, received)
        record("server killed with kill -9", backend(db_url), sent, counts, server.pid)
        assert counts == {"lost": 0, "doubled": 0, "out_of_order": 0, "stuck": 0}
        await alice.close()
        await bob.close()
    finally:
        server.stop()
    errors = [line for line in server.output().splitlines() if " ERROR " in line]
    assert not errors, errors
