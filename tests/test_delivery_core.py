"""Who is handed a stored message, and when, decided without I/O: no sockets, no database, no
clock. Sessions are plain names here; the hub and its sessions carry the effects out."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from cloudbrain.envelope import Envelope, Stored
from cloudbrain.errors import ErrorCode
from cloudbrain.ids import new_id
from cloudbrain.protocol import Error, Receipt
from cloudbrain.server.delivery import (
    LATE_COMMIT_SECONDS,
    NAMED_AGENTS,
    SENT_REMEMBERED,
    FeedPosition,
    Hand,
    Keep,
    ReplayOrder,
    Respond,
    Tell,
    after_commit,
    feed_among,
)

AT = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
SESSIONS = {"bob": ["bob@laptop", "bob@jetson"], "carol": ["carol@laptop"]}


def envelope(to: str | None = None) -> Envelope:
    return Envelope(
        id=new_id(),
        kind="direct" if to else "broadcast",
        sender_id="alice",
        sender_name="alice",
        session_id="s-alice",
        device="laptop",
        body={"text": "hello"},
        meta={},
        created_at=AT,
        to_id=to,
        to_name=to,
    )


def sessions_of(agent_id: str) -> list[str]:
    return SESSIONS.get(agent_id, [])


def test_the_sender_gets_its_receipt_then_every_session_of_each_recipient_the_message() -> None:
    message = envelope()
    effects = after_commit([("alice@laptop", Stored(message, ["bob", "carol"]))], sessions_of)
    receipt = effects[0]
    assert isinstance(receipt, Respond) and receipt.to == "alice@laptop"
    assert isinstance(receipt.frame, Receipt) and receipt.frame.recipients == 2
    hands = [e for e in effects if isinstance(e, Hand)]
    assert [(h.to, h.message_id) for h in hands] == [
        ("bob@laptop", message.id),
        ("bob@jetson", message.id),
        ("carol@laptop", message.id),
    ]
    assert json.loads(hands[0].text)["type"] == "deliver"
    # Other nodes may hold sessions of the recipients: they hear of it last.
    assert effects[-1] == Tell([(message.id, hands[0].text, ["bob", "carol"])])


def test_recipients_with_no_session_here_are_kept_for_the_spool() -> None:
    message = envelope("dave")
    effects = after_commit([("alice@laptop", Stored(message, ["dave", "bob"]))], sessions_of)
    assert Keep(message, ["dave"]) in effects
    assert [e.to for e in effects if isinstance(e, Hand)] == ["bob@laptop", "bob@jetson"]


def test_a_duplicate_gets_the_original_receipt_and_reaches_nobody_again() -> None:
    message = envelope("bob")
    duplicate = Stored(message, duplicate=True, original=(AT, 1))
    [receipt] = after_commit([("alice@laptop", duplicate)], sessions_of)
    assert isinstance(receipt, Respond) and isinstance(receipt.frame, Receipt)
    assert receipt.frame.duplicate and receipt.frame.recipients == 1 and receipt.frame.at == AT


def test_an_id_owned_by_another_sender_is_refused() -> None:
    [refused] = after_commit(
        [("alice@laptop", Stored(envelope("bob"), conflict=True))], sessions_of
    )
    assert isinstance(refused, Respond) and isinstance(refused.frame, Error)
    assert refused.frame.code == ErrorCode.DUPLICATE_ID


def test_live_messages_wait_for_the_replay_and_none_goes_out_twice() -> None:
    order = ReplayOrder()
    assert order.live("m3") == "hold"
    order.hold("m3", "frame m3", 10)
    assert order.live("m4") == "hold"
    order.hold("m4", "frame m4", 10)
    order.replayed("m1")
    order.replayed("m3")  # stored before the replay read up to it: sent by the replay
    assert order.live("m1") == "skip"  # the replay sent it already
    ended, release, freed = order.finish()
    assert ended and release == ["frame m4"] and freed == 20
    assert order.live("m5") == "send"
    assert order.live("m5") == "skip"  # seen again through the cluster's feed


def test_held_messages_dropped_for_room_make_the_replay_read_again() -> None:
    order = ReplayOrder()
    assert order.live("m1") == "hold"
    order.hold("m1", "frame m1", 10)
    assert order.drop_held() == 10
    assert order.live("m2") == "skip"  # stored: the next read of the replay finds it
    assert order.finish() == (False, [], 0)  # not over: read the database once more
    order.replayed("m1")
    order.replayed("m2")
    assert order.finish() == (True, [], 0)
    assert order.live("m3") == "send"


def test_a_session_remembers_a_bounded_number_of_sent_ids() -> None:
    order = ReplayOrder(replaying=False)
    for number in range(SENT_REMEMBERED + 1):
        assert order.live(f"m{number}") == "send"
    assert order.live(f"m{SENT_REMEMBERED}") == "skip"
    assert order.live("m0") == "send"  # forgotten: the oldest goes first


def test_the_feed_reads_again_what_it_read_lately_and_moves_on_once_commits_settle() -> None:
    position = FeedPosition(100)
    assert position.after(now=0.0) == 100
    position.read(0.0, highest=150)
    # A message at 120 may still commit: the next reads start from 100 again...
    assert position.after(now=1.0) == 100
    position.read(1.0, highest=180)
    assert position.after(now=LATE_COMMIT_SECONDS - 0.1) == 100
    # ...until the first read is old enough: then from what it reached, and so on.
    assert position.after(now=LATE_COMMIT_SECONDS) == 150
    assert position.after(now=1.0 + LATE_COMMIT_SECONDS) == 180


def test_a_read_that_found_nothing_new_never_moves_the_position_back() -> None:
    position = FeedPosition(100)
    position.read(0.0, highest=100)
    position.read(1.0, highest=90)  # cannot happen from the database, but must not hurt
    assert position.after(now=2.0 * LATE_COMMIT_SECONDS) == 100


def test_the_feed_names_this_nodes_agents_while_they_are_few() -> None:
    assert feed_among(set()) == []
    assert feed_among({"bob"}) == ["bob"]
    assert feed_among({str(n) for n in range(NAMED_AGENTS)}) is not None
    assert feed_among({str(n) for n in range(NAMED_AGENTS + 1)}) is None
