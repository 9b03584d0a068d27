"""Delivery through a real server on a real socket, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from cloudbrain.agent.client import Client
from cloudbrain.agent.errors import ServerError
from cloudbrain.agent.message import Message
from cloudbrain.protocol import ONE_SHOT_CAPABILITY, Presence
from tests.conftest import ClientFactory


async def take(client: Client, n: int, timeout: float = 5.0) -> list[Message]:
    """The next ``n`` messages, each acked as it is taken."""
    got = []
    for _ in range(n):
        message = await client.receive(timeout)
        client.ack(message)
        got.append(message)
    return got


async def nothing_more(client: Client, wait: float = 0.3) -> None:
    with pytest.raises(TimeoutError):
        extra = await client.receive(wait)
        pytest.fail(f"unexpected message {extra}")


async def test_direct_message_is_stamped_by_the_server(connect: ClientFactory) -> None:
    alice = await connect("alice", device="laptop")
    bob = await connect("bob")
    receipt = await alice.send(
        "bob", {"text": "hi", "n": 1}, meta={"x-trace": [1, 2]}, conversation="c-1"
    )
    assert receipt.recipients == 1 and not receipt.duplicate
    [message] = await take(bob, 1)
    assert message.id == receipt.re
    assert (message.sender, message.device, message.session) == ("alice", "laptop", alice.session)
    assert message.kind == "direct" and message.to == "bob"
    assert message.body == {"text": "hi", "n": 1}
    assert message.meta == {"x-trace": [1, 2]}  # unknown meta passes through untouched
    assert message.conversation == "c-1"
    assert message.at == receipt.at


async def test_offline_recipient_gets_everything_in_order_on_connect(
    connect: ClientFactory,
) -> None:
    alice = await connect("alice")
    carol = await connect("carol")
    await connect("bob")  # create bob, then let him go offline
    bob_first = await connect("bob")
    await bob_first.close()

    sent = []
    for i in range(30):
        sender = alice if i % 3 else carol
        sent.append((sender.name, (await sender.send("bob", f"{sender.name} {i}")).re))
    bob = await connect("bob")
    got = await take(bob, 30)
    assert [(m.sender, m.id) for m in got] == sent  # replay keeps the order of acceptance
    await nothing_more(bob)


async def test_acked_messages_are_not_replayed_and_unacked_ones_are(connect: ClientFactory) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    first = await alice.send("bob", "one")
    second = await alice.send("bob", "two")
    one = await bob.receive(5)
    bob.ack(one)
    two = await bob.receive(5)  # received but never acked: the agent "crashed" while handling it
    assert (one.id, two.id) == (first.re, second.re)
    await asyncio.sleep(0.2)  # let the ack reach the server
    await bob.close()

    bob_again = await connect("bob")
    [replayed] = await take(bob_again, 1)
    assert replayed.id == second.re and replayed.text == "two"
    await nothing_more(bob_again)


async def test_live_messages_during_replay_keep_order_and_are_not_doubled(
    connect: ClientFactory,
) -> None:
    alice = await connect("alice")
    await (await connect("bob")).close()
    backlog = [(await alice.send("bob", f"old {i}")).re for i in range(200)]

    async def keep_sending() -> list[str]:
        return [(await alice.send("bob", f"new {i}")).re for i in range(50)]

    sending = asyncio.create_task(keep_sending())
    bob = await connect("bob")
    fresh = await sending
    got = [m.id for m in await take(bob, 250)]
    assert got == backlog + fresh
    await nothing_more(bob)


async def test_resend_after_lost_receipt_is_stored_once(connect: ClientFactory, server) -> None:
    """A client that never saw its receipt resends the same id: one copy is kept."""
    from cloudbrain.ids import new_id
    from cloudbrain.protocol import Send

    alice = await connect("alice")
    bob = await connect("bob")
    frame = Send(id=new_id(), to="bob", body="only once")
    first = await alice._submit(frame)
    again = await alice._submit(frame)
    assert not first.duplicate and again.duplicate
    # The resend's receipt repeats what the original one said.
    assert (again.at, again.recipients) == (first.at, first.recipients) == (first.at, 1)
    [message] = await take(bob, 1)
    assert message.id == frame.id
    await nothing_more(bob)


async def test_duplicate_delivery_across_reconnect_reaches_the_app_once(
    connect: ClientFactory,
) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    receipt = await alice.send("bob", "hello")
    message = await bob.receive(5)
    bob.ack(message)
    # The ack is lost: the connection drops before it is written, and the server replays.
    bob._inbox.take_acks(10_000)
    assert bob._ws is not None
    await bob._ws.close()
    await asyncio.sleep(0.3)
    for _ in range(50):
        if bob.connected:
            break
        await asyncio.sleep(0.1)
    await nothing_more(bob, 0.5)
    status = await alice.status(receipt.re)
    assert [r.state for r in status.recipients] == ["delivered"]  # the replayed copy was re-acked


async def test_many_acks_in_one_frame_mark_every_copy_delivered(connect: ClientFactory) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    receipts = [await alice.send("bob", f"m{i}") for i in range(40)]
    got = [await bob.receive(5) for _ in range(40)]
    for message in got:
        bob.ack(message)  # 40 acks queued together go out as one frame
    await asyncio.sleep(0.3)
    for receipt in (receipts[0], receipts[-1]):
        status = await alice.status(receipt.re)
        assert [r.state for r in status.recipients] == ["delivered"]


async def test_late_ack_after_expiry_still_counts_as_delivered(connect: ClientFactory) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    receipt = await alice.send("bob", "quick", ttl=0.2)
    message = await bob.receive(5)
    await asyncio.sleep(0.5)  # the sweeper marks the copy expired meanwhile
    assert [r.state for r in (await alice.status(receipt.re)).recipients] == ["expired"]
    bob.ack(message)
    await asyncio.sleep(0.3)
    assert [r.state for r in (await alice.status(receipt.re)).recipients] == ["delivered"]


async def test_every_session_of_the_recipient_gets_the_message(connect: ClientFactory) -> None:
    alice = await connect("alice")
    laptop = await connect("bob", device="laptop")
    jetson = await connect("bob", device="jetson")
    receipt = await alice.send("bob", "to both")
    assert [m.id for m in await take(laptop, 1)] == [receipt.re]
    assert [m.id for m in await take(jetson, 1)] == [receipt.re]


async def test_topics_reach_subscribers_including_offline_ones(connect: ClientFactory) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    carol = await connect("carol")
    await bob.subscribe("news")
    await carol.subscribe("news")
    await alice.subscribe("news")  # the publisher does not hear itself
    await carol.close()
    receipt = await alice.publish("news", "v2 is out")
    assert receipt.recipients == 2
    [message] = await take(bob, 1)
    assert (message.kind, message.topic, message.text) == ("topic", "news", "v2 is out")
    carol = await connect("carol")
    [late] = await take(carol, 1)
    assert late.id == receipt.re
    await nothing_more(alice)

    await bob.unsubscribe("news")
    assert (await alice.publish("news", "v3")).recipients == 1


async def test_broadcast_reaches_every_other_agent(connect: ClientFactory) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    carol = await connect("carol")
    receipt = await alice.broadcast("all hands")
    assert receipt.recipients == 2
    for client in (bob, carol):
        [message] = await take(client, 1)
        assert message.kind == "broadcast" and message.id == receipt.re
    await nothing_more(alice)


async def test_request_reply(connect: ClientFactory) -> None:
    alice = await connect("alice")
    bob = await connect("bob")

    async def answer() -> None:
        async for message in bob.messages():
            await bob.reply(message, message.text.upper())
            return

    task = asyncio.create_task(answer())
    reply = await alice.request("bob", "ping", conversation="conv-7")
    await task
    assert reply.text == "PING" and reply.sender == "bob" and reply.conversation == "conv-7"
    with pytest.raises(TimeoutError):
        await alice.request("bob", "nobody answers this", timeout=0.3)


async def test_ttl_expiry_is_recorded_not_silent(connect: ClientFactory) -> None:
    alice = await connect("alice")
    await (await connect("bob")).close()
    short = await alice.send("bob", "stale soon", ttl=0.2)
    durable = await alice.send("bob", "keep me")
    await asyncio.sleep(0.6)  # the sweeper runs every 0.1 s in tests
    status = await alice.status(short.re)
    assert [r.state for r in status.recipients] == ["expired"]
    assert status.expires_at is not None
    bob = await connect("bob")
    [message] = await take(bob, 1)
    assert message.id == durable.re
    await nothing_more(bob)


async def test_status_is_only_for_the_sender(connect: ClientFactory) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    receipt = await alice.send("bob", "private")
    with pytest.raises(ServerError) as caught:
        await bob.status(receipt.re)
    assert caught.value.code == "not_found"


async def test_who_and_presence_events(connect: ClientFactory) -> None:
    events: list[Presence] = []
    watcher = await connect("watcher", capabilities=("presence",), on_presence=events.append)
    bob = await connect("bob", device="jetson")
    roster = {a.name: a for a in await watcher.who()}
    assert roster["bob"].online and [s.device for s in roster["bob"].sessions] == ["jetson"]
    await bob.close()
    # One command (`cloudbrain send` as carol) is not carol coming online.
    carol = await connect("carol", capabilities=(ONE_SHOT_CAPABILITY,))
    assert not {a.name: a for a in await carol.who()}["carol"].online
    await carol.send("watcher", "one command")
    await carol.close()
    await take(watcher, 1)
    for _ in range(50):
        if len(events) >= 2:
            break
        await asyncio.sleep(0.05)
    assert [(e.agent, e.device, e.online) for e in events] == [
        ("bob", "jetson", True),
        ("bob", "jetson", False),
    ]
    roster = {a.name: a for a in await watcher.who()}
    assert not roster["bob"].online and roster["bob"].last_seen is not None


async def test_message_to_self_and_ping(connect: ClientFactory) -> None:
    alice = await connect("alice")
    receipt = await alice.send("alice", "note to self")
    [message] = await take(alice, 1)
    assert message.id == receipt.re
    assert await alice.ping() < 5
