"""Who receives what: plain decisions, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cloudbrain.envelope import Envelope, expiry, is_expired, recipients

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def envelope(kind: str, **fields: object) -> Envelope:
    base: dict[str, object] = dict(
        id="m",
        kind=kind,
        sender_id="alice",
        sender_name="alice",
        session_id="s",
        device="d",
        body="x",
        meta={},
        created_at=NOW,
    )
    return Envelope(**(base | fields))  # type: ignore[arg-type]


def test_direct_goes_to_the_addressee_even_if_it_is_the_sender() -> None:
    assert recipients(envelope("direct", to_id="bob")) == ["bob"]
    assert recipients(envelope("direct", to_id="alice")) == ["alice"]


def test_topic_and_broadcast_skip_the_sender_and_repeat_no_one() -> None:
    topic = envelope("topic", topic="news")
    assert recipients(topic, subscribers=["carol", "alice", "bob", "bob"]) == ["bob", "carol"]
    assert recipients(envelope("broadcast"), active_agents=["alice", "zed", "bob"]) == [
        "bob",
        "zed",
    ]
    assert recipients(topic, subscribers=[]) == []


def test_expiry() -> None:
    assert not is_expired(None, NOW)
    assert is_expired(NOW, NOW)
    assert not is_expired(NOW + timedelta(seconds=1), NOW)
    assert expiry(NOW, 30) == NOW + timedelta(seconds=30)
    assert expiry(NOW, None) is None
