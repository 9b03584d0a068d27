"""Questions about a stretch of time, with no topic: "what did I learn yesterday?" lists that
window's memories, newest first, by device and session, on a real server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cloudbrain.memory.records import MemoryRecord
from cloudbrain.memory.window import devices_named, topic_words, window_named
from tests.conftest import ClientFactory

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)  # a Thursday


def test_windows_named_in_questions() -> None:
    midnight = datetime(2026, 12, 3, tzinfo=UTC)
    assert window_named("What did I learn yesterday?", NOW) == (
        midnight - timedelta(days=1),
        midnight,
    )
    assert window_named("what happened today", NOW) == (midnight, NOW)
    assert window_named("What happened on the Jetson this week?", NOW) == (
        datetime(2026, 11, 30, tzinfo=UTC),
        NOW,
    )
    assert window_named("anything new in the last 3 days?", NOW) == (NOW - timedelta(days=3), NOW)
    assert window_named("How do I roll back a deployment?", NOW) is None


def test_a_window_question_has_no_topic_but_a_topic_question_does() -> None:
    assert topic_words("What did I learn yesterday?") == []
    assert topic_words("What happened on the Jetson this week?", ["jetson-orin"]) == []
    assert topic_words("What did I learn about backups yesterday?") == ["backups"]
    assert devices_named("What happened on the Jetson this week?", ["jetson-orin", "laptop"]) == [
        "jetson-orin"
    ]


async def test_what_did_i_learn_yesterday_lists_yesterday(connect: ClientFactory) -> None:
    alice = await connect("alice")
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = midnight - timedelta(hours=12)

    def memory(text: str, when: datetime, device: str, session: str) -> MemoryRecord:
        return MemoryRecord(
            ai="alice", content=text, created_at=when, device=device, session=session
        )

    laptop = memory("The VPN port is 443", yesterday, "laptop", "s-laptop")
    jetson = memory(
        "JetPack 6 needs the L4T r36 base", yesterday + timedelta(hours=2), "jetson", "s-jetson"
    )
    today = memory("Lunch is at noon", now, "laptop", "s-today")
    older = memory("The printer is on floor 2", midnight - timedelta(days=3), "laptop", "s-old")
    await alice.remember(laptop, jetson, today, older)

    for options in ({}, {"since": midnight - timedelta(days=1), "until": midnight}):
        result = await alice.ask_and_wait("What did I learn yesterday?", own=True, **options)
        [answer] = result.answers
        assert not result.nobody_knows and answer.agent == "alice"
        assert answer.memories == [jetson.id, laptop.id]  # newest first, only yesterday
        lines = answer.text.splitlines()
        assert lines[0] == "On jetson, session s-jetson:" and "JetPack 6" in lines[1]
        assert lines[2] == "On laptop, session s-laptop:" and "VPN port is 443" in lines[3]

    week = await alice.ask_and_wait("What happened on the Jetson this week?", own=True)
    # Only the Jetson's memories, and only if yesterday was in this week (not on a Monday).
    listed = [m for a in week.answers for m in a.memories]
    this_week = midnight - timedelta(days=midnight.weekday()) <= jetson.created_at
    assert listed == ([jetson.id] if this_week else [])
    # A question about something in the window is recall's, not a listing.
    topical = await alice.ask_and_wait("What did I learn about the VPN yesterday?", own=True)
    assert topical.answers and topical.answers[0].memories[0] == laptop.id
    assert "session" not in topical.answers[0].text


async def test_an_empty_window_says_nothing_was_stored_then(connect: ClientFactory) -> None:
    alice = await connect("alice")
    result = await alice.ask_and_wait("What did I learn last week?", own=True)
    assert result.nobody_knows and result.answers == []
    assert [s.agent for s in result.specialists] == ["alice"]
    assert result.shortfalls["alice"].startswith("nothing stored between ")
