"""Which identities count as fresh, for `cloudbrain agent list --new` and `agent prune`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cloudbrain.identity import made_since
from cloudbrain.storage.agents import AgentRecord

NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)


def record(name: str, days_old: float, revoked: bool = False) -> AgentRecord:
    made = NOW - timedelta(days=days_old)
    return AgentRecord(name, name, "", [], made, made if revoked else None)


def test_fresh_identities_are_the_active_ones_made_since_the_moment_given() -> None:
    records = [record("old", 30), record("new", 0.5), record("gone", 0.2, revoked=True)]
    assert [r.name for r in made_since(records, NOW - timedelta(days=1))] == ["new"]
    assert made_since(records, NOW) == []
    edge = record("edge", 1)
    assert made_since([edge], edge.created_at) == [edge]
