"""Memory held for readers that do not read is bounded in bytes: per session and for the node.

First the budget's decisions on plain data, then sessions over fake transports (no socket),
then a real server: a reader that never reads is flooded with large messages, is disconnected
with 1013 long before its frame limit, and on reconnecting gets every message once, in order.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from cloudbrain.agent.client import Client
from cloudbrain.errors import CloseCode
from cloudbrain.server import Server
from cloudbrain.server.outbox import OutboxBudget, frame_bytes
from cloudbrain.server.session import LiveSession
from cloudbrain.settings import Settings
from cloudbrain.storage.agents import AgentRecord
from tests.conftest import AgentFactory, ClientFactory
from tests.test_faults import received_in_order
from tests.wire import hello, raw

KIB = 1024
MIB = 1024 * KIB


async def until(condition: Callable[[], object], what: str, seconds: float = 30.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"waited {seconds:g}s for {what}")


# --- the budget's decisions, on plain data ------------------------------------------------------


def test_a_session_may_not_hold_more_than_its_budget() -> None:
    budget: OutboxBudget[str] = OutboxBudget(session_bytes=100, node_bytes=1000, session_frames=10)
    assert budget.admit("a", 60).admitted
    budget.take("a", 60)
    assert budget.admit("a", 40).admitted
    verdict = budget.admit("a", 41)
    assert not verdict.admitted and verdict.evict == ()  # refused: "a" is disconnected
    assert (budget.held("a"), budget.total) == (60, 60)


def test_a_frame_larger_than_the_whole_budget_goes_out_alone() -> None:
    budget: OutboxBudget[str] = OutboxBudget(session_bytes=100, node_bytes=150, session_frames=10)
    assert budget.fits("a", 500) and budget.admit("a", 500).admitted  # an empty outbox
    budget.take("a", 500)
    assert not budget.fits("a", 1)  # but nothing may join it
    budget.release("a", 500)
    assert (budget.held("a"), budget.total) == (0, 0)


def test_the_node_budget_disconnects_the_session_holding_the_most_not_the_receiver() -> None:
    budget: OutboxBudget[str] = OutboxBudget(session_bytes=500, node_bytes=1000, session_frames=10)
    for key, size in (("reader", 100), ("flooded", 450), ("other", 300)):
        budget.take(key, size)
    verdict = budget.admit("reader", 200)  # 850 + 200 > 1000
    assert verdict.admitted and verdict.evict == ("flooded",)
    assert budget.evictions == 1


def test_the_receiver_goes_when_it_holds_the_most() -> None:
    budget: OutboxBudget[str] = OutboxBudget(session_bytes=800, node_bytes=1000, session_frames=10)
    budget.take("flooded", 450)
    budget.take("other", 400)
    verdict = budget.admit("flooded", 200)
    assert not verdict.admitted and verdict.evict == ("flooded",)
    # Unless its frame comes from the database: then it waits for its reader instead, or it
    # would reconnect and replay into the same full node again and again.
    waits = budget.admit("flooded", 200, replay=True)
    assert not waits.admitted and waits.evict == ()


def test_a_replay_that_waits_still_makes_worse_readers_go() -> None:
    budget: OutboxBudget[str] = OutboxBudget(session_bytes=1000, node_bytes=1000, session_frames=10)
    for key, size in (("flooded", 450), ("replaying", 400), ("other", 100)):
        budget.take(key, size)
    verdict = budget.admit("replaying", 550, replay=True)  # 500 over: "flooded" is not enough
    assert not verdict.admitted and verdict.evict == ("flooded",)


def test_as_many_go_as_it_takes_worst_first() -> None:
    budget: OutboxBudget[str] = OutboxBudget(session_bytes=500, node_bytes=1000, session_frames=10)
    for key, size in (("a", 300), ("b", 250), ("c", 200), ("d", 200), ("e", 50)):
        budget.take(key, size)
    verdict = budget.admit("e", 450)  # 1000 + 450: 450 over, so "a" and "b" must go
    assert verdict.admitted and verdict.evict == ("a", "b")


def test_bytes_given_back_and_forgotten_leave_nothing_behind() -> None:
    budget: OutboxBudget[str] = OutboxBudget(session_bytes=500, node_bytes=1000, session_frames=10)
    budget.take("a", 100)
    budget.take("a", 200)
    budget.take("b", 50)
    assert (budget.total, budget.peak, budget.session_peak) == (350, 350, 300)
    budget.release("a", 100)
    assert budget.held("a") == 200
    assert budget.forget("a") == 200
    budget.release("a", 200)  # a frame written after the session stopped: already forgotten
    assert (budget.held("a"), budget.total) == (0, 50)
    assert not budget.room("b", 951) and budget.room("b", 450)


def test_a_frame_costs_the_memory_its_text_takes() -> None:
    ascii_text = "x" * 1000
    wide = "x" * 999 + "\U0001f600"  # one character above U+FFFF: 4 bytes for every character
    assert 1000 <= frame_bytes(ascii_text) < 1100
    assert frame_bytes(wide) >= 4000


def test_budgets_must_be_positive() -> None:
    with pytest.raises(ValueError, match="node_bytes"):
        OutboxBudget(session_bytes=1, node_bytes=0, session_frames=1)


# --- sessions over fake transports ---------------------------------------------------------


class Transport:
    """A connection whose reader reads only when told to (``reading``)."""

    def __init__(self, reading: bool = False) -> None:
        self.sent: list[str] = []
        self.closed: int | None = None
        self.reading = asyncio.Event()
        if reading:
            self.reading.set()

    async def send(self, message: str) -> None:
        await self.reading.wait()
        self.sent.append(message)

    async def close(self, code: int, reason: str) -> None:
        self.closed = code
        self.reading.set()  # the peer is gone: what was being written is done with


def session(budget: OutboxBudget[LiveSession], transport: Transport, name: str) -> LiveSession:
    agent = AgentRecord(
        id=f"id-{name}",
        name=name,
        description="",
        skills=[],
        created_at=datetime.now(UTC),
        revoked_at=None,
    )
    return LiveSession(agent, f"s-{name}", "test", [], transport, budget)


def frame(size: int, n: int = 0) -> str:
    return json.dumps({"n": n, "pad": "x" * size})


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_stopped_session_gives_its_bytes_back_at_once() -> None:
    budget: OutboxBudget[LiveSession] = OutboxBudget(100 * KIB, MIB, 100)
    stalled = session(budget, Transport(), "stalled")
    stalled.finish_replay()
    for i in range(10):
        stalled.send(frame(KIB, i))
    await settle()
    assert budget.total == budget.held(stalled) >= 10 * KIB  # one being written, nine queued
    await stalled.stop()
    assert (budget.total, budget.held(stalled)) == (0, 0)
    stalled.send(frame(KIB))  # a late frame for a stopped session holds nothing
    assert budget.total == 0


async def test_a_live_frame_over_the_session_budget_disconnects_with_1013() -> None:
    budget: OutboxBudget[LiveSession] = OutboxBudget(10 * KIB, MIB, 100)
    transport = Transport()
    slow = session(budget, transport, "slow")
    slow.finish_replay()
    for i in range(9):
        slow.send(frame(KIB, i))
    assert not slow.closing
    slow.send(frame(KIB, 9))  # a tenth would pass 10 KiB
    assert slow.closing and budget.held(slow) <= 10 * KIB
    transport.reading.set()  # it reads after all: what was queued goes out, then the close
    await until(lambda: transport.closed is not None, "the close")
    assert transport.closed == CloseCode.TRY_AGAIN_LATER
    assert [json.loads(t)["n"] for t in transport.sent] == list(range(9))
    await slow.stop()
    assert budget.total == 0


async def test_the_node_budget_disconnects_the_worst_reader_and_spares_the_others() -> None:
    budget: OutboxBudget[LiveSession] = OutboxBudget(MIB, 40 * KIB, 1000)
    flooded_transport, other_transport = Transport(), Transport()
    flooded = session(budget, flooded_transport, "flooded")
    other = session(budget, other_transport, "other")
    reader_transport = Transport(reading=True)
    reader = session(budget, reader_transport, "reader")
    for s in (flooded, other, reader):
        s.finish_replay()
    for i in range(25):
        flooded.send(frame(KIB, i))
    for i in range(5):
        other.send(frame(KIB, i))
    await settle()
    assert budget.total > 30 * KIB
    reader.send(frame(10 * KIB))  # tips the node over: the one holding the most goes
    assert flooded.closing and not other.closing and not reader.closing
    # Its queue is emptied, and it is off the books, at once.
    assert budget.held(flooded) == 0 and budget.total <= 40 * KIB
    await settle()
    assert len(reader_transport.sent) == 1
    flooded_transport.reading.set()  # the frame it was writing goes, then the close
    await until(lambda: flooded_transport.closed is not None, "the close")
    assert flooded_transport.closed == CloseCode.TRY_AGAIN_LATER
    for s in (flooded, other, reader):
        await s.stop()
    assert budget.total == 0


async def test_replay_waits_for_room_and_a_frame_larger_than_the_budget_goes_alone() -> None:
    budget: OutboxBudget[LiveSession] = OutboxBudget(8 * KIB, MIB, 100)
    transport = Transport()
    replaying = session(budget, transport, "replaying")
    texts = [frame(KIB, i) for i in range(20)] + [frame(20 * KIB, 20), frame(KIB, 21)]

    async def replay() -> None:
        for i, text in enumerate(texts):
            await replaying.send_replayed(f"m{i}", text)
        assert replaying.finish_replay()

    task = asyncio.create_task(replay())
    await settle()
    assert not task.done() and not replaying.closing  # waiting for room, not overflowing
    assert budget.held(replaying) <= 8 * KIB
    transport.reading.set()
    await asyncio.wait_for(task, 5)
    await until(lambda: len(transport.sent) == len(texts), "the replay to be written")
    assert transport.sent == texts and not replaying.closing
    assert budget.session_peak <= 20 * KIB + 100  # the large one alone, nothing beside it
    await replaying.stop()
    assert budget.total == 0


async def test_held_messages_count_and_are_dropped_rather_than_disconnecting() -> None:
    budget: OutboxBudget[LiveSession] = OutboxBudget(8 * KIB, MIB, 100)
    replaying = session(budget, Transport(reading=True), "replaying")
    for i in range(5):
        replaying.deliver(f"live{i}", frame(KIB, i))  # held back: the replay is not over
    assert budget.held(replaying) >= 5 * KIB
    for i in range(5, 10):
        replaying.deliver(f"live{i}", frame(KIB, i))  # past 8 KiB: all dropped, read again
    assert budget.held(replaying) == 0 and not replaying.closing
    assert not replaying.finish_replay()  # the caller reads the database once more
    assert replaying.finish_replay()
    await replaying.stop()
    assert budget.total == 0


# --- a real server --------------------------------------------------------------------------

BUDGET = 1 * MIB
NODE_BUDGET = 3 * MIB
MESSAGES = 200
BODY = "x" * (256 * KIB)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(outbox_bytes=BUDGET, node_outbox_bytes=NODE_BUDGET)


def live_session(server: Server, name: str) -> LiveSession:
    assert server.hub is not None
    [found] = [s for s in server.hub.sessions() if s.agent.name == name]
    return found


def budget_of(server: Server) -> OutboxBudget[LiveSession]:
    assert server.hub is not None
    return server.hub.outboxes


async def read_until_closed(ws: ClientConnection) -> list[dict[str, Any]]:
    """Every frame the server sent, up to its close."""
    frames = []
    try:
        while True:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
    except ConnectionClosed:
        return frames


async def flood_a_reader_that_never_reads(
    server: Server, alice: Client, bob_token: str, spare: Client | None = None
) -> tuple[list[str], list[str]]:
    """Alice sends bob ``MESSAGES`` large messages while bob, connected with a bare WebSocket,
    reads nothing (and ``spare``, a reader, gets a small one beside each). Returns the ids sent
    and the ids bob's connection got before the server closed it with 1013."""

    async def send_all() -> list[str]:
        ids = []
        for i in range(MESSAGES):
            ids.append((await alice.send("bob", BODY)).re)
            if spare is not None:
                await alice.send(spare.name, f"small {i}")
        return ids

    # max_queue=1: the client library itself buffers hardly anything for its idle reader.
    async with raw(server.url, max_queue=1) as ws:
        welcome = await hello(ws, "bob", bob_token)
        assert welcome["type"] == "welcome"
        bob = live_session(server, "bob")
        sending = asyncio.create_task(send_all())
        await until(lambda: bob.closing or sending.done(), "the flood to bob")
        # Bob's outbox is bounded in bytes: he is closed long before his 10,000-frame limit.
        assert bob.closing, "the server held all the flood for a reader that never reads"
        frames = await read_until_closed(ws)
        assert ws.close_code == CloseCode.TRY_AGAIN_LATER
        sent = await sending
    got = [f["id"] for f in frames if f["type"] == "deliver"]
    assert got == sent[: len(got)] and len(got) < MESSAGES
    return sent, got


async def test_a_reader_that_never_reads_is_disconnected_and_loses_nothing(
    server: Server, connect: ClientFactory, make_agent: AgentFactory
) -> None:
    alice = await connect("alice")
    _, bob_token = await make_agent("bob")
    sent, _ = await flood_a_reader_that_never_reads(server, alice, bob_token)

    budget = budget_of(server)
    # What the server held for bob stayed within his budget, and was given back when he left.
    assert budget.session_peak <= BUDGET
    assert budget.peak <= NODE_BUDGET
    await until(lambda: budget.total == 0, "the outboxes to be empty")

    bob = await connect("bob", bob_token)
    got = await received_in_order(bob, sent, 30)
    assert got == sent  # every message, once, in order
    with pytest.raises(TimeoutError):
        extra = await bob.receive(0.3)
        pytest.fail(f"unexpected message {extra}")


async def test_the_node_budget_closes_the_flooded_reader_not_the_one_that_reads(
    server: Server, connect: ClientFactory, make_agent: AgentFactory, settings: Settings
) -> None:
    # Bob's own budget made larger than the node's, so only the node budget can stop the flood.
    budget = budget_of(server)
    budget.session_bytes = 64 * MIB
    alice = await connect("alice")
    carol = await connect("carol")
    carol_session = carol.session
    _, bob_token = await make_agent("bob")
    sent, _ = await flood_a_reader_that_never_reads(server, alice, bob_token, spare=carol)

    assert budget.evictions >= 1 and budget.peak <= NODE_BUDGET
    for i in range(MESSAGES):
        message = await carol.receive(30)
        carol.ack(message)
        assert message.text == f"small {i}"
    assert carol.session == carol_session  # never disconnected
    await until(lambda: budget.total == 0, "the outboxes to be empty")

    bob = await connect("bob", bob_token)
    got = await received_in_order(bob, sent, 30)
    assert got == sent
