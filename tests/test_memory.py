"""Memories: stored once whatever the order, found again by words, by meaning and by time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from cloudbrain.db import create_engine
from cloudbrain.memory.embedding import HashingEmbedder
from cloudbrain.memory.fulltext import bm25, lexemes
from cloudbrain.memory.ranking import Candidate, crowding, rank
from cloudbrain.memory.records import MemoryRecord
from cloudbrain.memory.store import MemoryStore, RecallFilter
from cloudbrain.memory.when import BadTime, parse_when

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[MemoryStore]:
    engine = create_engine(db_url)
    yield MemoryStore(engine, HashingEmbedder())
    await engine.dispose()


def note(content: str, **fields: Any) -> MemoryRecord:
    return MemoryRecord(**{"ai": "alice", "created_at": NOW, "content": content, **fields})


async def test_adding_is_a_union(store: MemoryStore) -> None:
    a, b, c = note("first"), note("second"), note("third")
    assert (await store.add([a, b])).stored == [a.id, b.id]
    again = await store.add([b, c, c])
    assert again.stored == [c.id] and again.duplicates == [b.id, c.id]
    assert (await store.add([c, b, a])).stored == []
    assert await store.count() == 3


async def test_full_text_finds_other_forms_of_the_words(store: MemoryStore) -> None:
    await store.add(
        [
            note("Asyncio tasks need a strong reference or they may be garbage collected"),
            note("The build server runs on Tuesdays"),
        ]
    )
    [best, *_] = await store.search("why did my asyncio task vanish?", now=NOW)
    assert "Asyncio tasks" in best.memory.content
    assert best.why["relevance"] > 0


async def test_an_exchange_is_searchable_by_question_and_answer(store: MemoryStore) -> None:
    exchange = MemoryRecord(
        ai="alice",
        kind="exchange",
        user_input="What port does the hub use?",
        ai_response="It listens on 8766 by default.",
        created_at=NOW,
        model_used="llama3.2",
    )
    await store.add([exchange])
    [found] = await store.search("hub port", now=NOW)
    assert found.memory.id == exchange.id and found.memory.kind == "exchange"
    assert found.memory.content == "What port does the hub use?\nIt listens on 8766 by default."


async def test_time_filters(store: MemoryStore) -> None:
    old = note("the deploy key rotated", created_at=NOW - timedelta(days=3))
    new = note("the deploy key rotated again", created_at=NOW - timedelta(hours=2))
    await store.add([old, new])
    recent = await store.search("deploy key", RecallFilter(since=parse_when("1d", NOW)), now=NOW)
    assert [r.memory.id for r in recent] == [new.id]
    earlier = await store.search(
        "deploy key", RecallFilter(until=parse_when("yesterday", NOW)), now=NOW
    )
    assert [r.memory.id for r in earlier] == [old.id]
    both = await store.search("deploy key", now=NOW)
    assert {r.memory.id for r in both} == {new.id, old.id}


async def test_filters_by_agent_device_and_kind(store: MemoryStore) -> None:
    await store.add(
        [
            note("gpu drivers need a reboot", ai="alice", device="laptop"),
            note("gpu drivers are pinned", ai="bob", device="jetson", kind="fact"),
        ]
    )
    assert [
        r.memory.ai for r in await store.search("gpu drivers", RecallFilter(ai="bob"), now=NOW)
    ] == ["bob"]
    assert [
        r.memory.device for r in await store.search("gpu", RecallFilter(device="laptop"), now=NOW)
    ] == ["laptop"]
    assert [
        r.memory.kind for r in await store.search("gpu", RecallFilter(kind="fact"), now=NOW)
    ] == ["fact"]


async def test_reworded_questions_find_memories_through_embeddings(store: MemoryStore) -> None:
    target = note("Deployment credentials are kept in the vault under ops/deploy")
    await store.add(
        [target, note("Lunch is at noon on Fridays"), note("The printer is on floor two")]
    )
    # No shared word survives stemming and stop words except through character fragments.
    [best, *_] = await store.search("where are the deploy credential stored", now=NOW)
    assert best.memory.id == target.id and best.why.get("similarity", 0) > 0


async def test_meaning_is_compared_with_every_memory_not_only_the_newest(
    store: MemoryStore,
) -> None:
    """An old memory that shares no word with the question is still found by meaning, however
    many newer memories were stored after it (they are loaded into the index from the
    database at the first search)."""
    target = note(
        "Deployment credentials are kept in the vault under ops/deploy",
        created_at=NOW - timedelta(days=200),
    )
    newer = [
        note(f"Lunch number {i} is at noon", created_at=NOW - timedelta(minutes=i))
        for i in range(1500)
    ]
    await store.add([target])
    await store.add(newer)
    found = await store.search("where are the deploy credential stored", now=NOW)
    assert target.id in [r.memory.id for r in found]


async def test_the_index_follows_what_is_stored_after_it_was_loaded(store: MemoryStore) -> None:
    editor = "alice favourite editor"
    older = note("Alice's favourite editor is Vim", kind="fact", fact_key=editor)
    await store.add([older])
    assert [r.memory.id for r in await store.search("which text editor", now=NOW)] == [older.id]
    newer = note("Alice's favourite editor is Helix", kind="fact", fact_key=editor)
    await store.add([older.model_copy(update={"superseded_by": newer.id}), newer])
    # "which text editor" shares only "editor" with the facts; meaning must see the change.
    assert [r.memory.id for r in await store.search("which text editor", now=NOW)] == [newer.id]
    history = RecallFilter(include_superseded=True)
    assert {r.memory.id for r in await store.search("which editor", history, now=NOW)} == {
        older.id,
        newer.id,
    }


async def test_a_changed_memory_moves_past_every_sync_cursor(store: MemoryStore) -> None:
    """Even the newest memory, changed, is stored at a position never used before, so a copy
    that synced up to it is sent the change."""
    older = note("Alice's editor is Vim", kind="fact", fact_key="alice editor")
    await store.add([older])
    _, cursor = await store.page()
    newer = note("Alice's editor is Helix", kind="fact", fact_key="alice editor")
    await store.add([older.model_copy(update={"superseded_by": newer.id})])
    changed, _ = await store.page(after=cursor)
    assert [(m.id, m.superseded_by) for m in changed] == [(older.id, newer.id)]


async def test_superseded_facts_are_history_not_answers(store: MemoryStore) -> None:
    newer = note(
        "Alice's favourite editor is Helix", kind="fact", fact_key="alice favourite editor"
    )
    older = note(
        "Alice's favourite editor is Vim",
        kind="fact",
        fact_key="alice favourite editor",
        superseded_by=newer.id,
    )
    await store.add([older, newer])
    assert [r.memory.id for r in await store.search("favourite editor", now=NOW)] == [newer.id]
    history = await store.search("favourite editor", RecallFilter(include_superseded=True), now=NOW)
    assert {r.memory.id for r in history} == {older.id, newer.id}


async def test_nothing_relevant_means_no_answer(store: MemoryStore) -> None:
    await store.add([note("The build server runs on Tuesdays")])
    assert await store.search("quantum chromodynamics", now=NOW) == []


async def test_export_gives_back_what_was_added(store: MemoryStore) -> None:
    records = [note(f"memory {i}", importance=i / 10) for i in range(7)]
    await store.add(records)
    exported = [r async for r in store.export()]
    assert [r.id for r in exported] == [r.id for r in records]
    assert exported[3].importance == pytest.approx(0.3) and exported[3].embedder == "hashing-512"


def test_importance_and_recency_break_ties() -> None:
    def candidate(seq: int, importance: float, age_days: float) -> Candidate:
        return Candidate(seq, 1.0, None, importance, NOW - timedelta(days=age_days))

    def order(*candidates: Candidate) -> list[int]:
        return [s.seq for s in rank(list(candidates), NOW, 5, lexical_weight=1.0)]

    assert order(candidate(2, 0.1, 10), candidate(1, 0.9, 10)) == [1, 2]
    assert order(candidate(2, 0.5, 60), candidate(1, 0.5, 1)) == [1, 2]
    assert rank([Candidate(3, None, 0.05, 1.0, NOW)], NOW, 5, 1.0) == []  # a faint vector


def test_importance_and_recency_do_not_outweigh_relevance() -> None:
    """The most important, newest memory still comes after a clearly closer one."""
    closer = Candidate(1, None, 0.62, 0.0, NOW - timedelta(days=365))
    louder = Candidate(2, None, 0.58, 1.0, NOW)
    assert [s.seq for s in rank([louder, closer], NOW, 5, lexical_weight=0.15)] == [1, 2]


def test_a_full_text_match_adds_to_similarity_by_its_share_of_the_best() -> None:
    both = Candidate(1, 4.0, 0.40, 0.5, NOW)  # the best full-text match
    half = Candidate(2, 2.0, 0.40, 0.5, NOW)
    meaning = Candidate(3, None, 0.45, 0.5, NOW)
    [first, second, third] = rank([meaning, half, both], NOW, 5, lexical_weight=0.15)
    assert [first.seq, second.seq, third.seq] == [1, 2, 3]
    assert first.why["lexical"] == 1.0 and second.why["lexical"] == 0.5
    assert first.why["relevance"] == pytest.approx(0.40 + 0.15)


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_crowding_is_the_mean_similarity_to_the_closest_others() -> None:
    # Notes that differ by a name or a number: each its own small step away from one another.
    routine = [unit(1, *(0.35 * (j == i) for j in range(4)), 0) for i in range(4)]
    fact = unit(0.3, 0, 0, 0, 0, 1)
    crowd = crowding(np.stack([*routine, fact]))
    similar = np.stack([*routine, fact]) @ np.stack([*routine, fact]).T
    # The fact's three closest others, whatever they are, and no more than three.
    assert crowd[4] == pytest.approx(np.sort(similar[4, :4])[-3:].mean(), abs=1e-6)
    assert all(crowd[i] > 0.8 for i in range(4)) and crowd[4] < 0.5


def test_a_copy_of_a_memory_does_not_crowd_it() -> None:
    """A fact told twice is not commonplace: what says the same thing does not count."""
    fact, other = unit(1, 0, 0), unit(0.3, 1, 0)
    assert crowding(np.stack([fact, fact.copy(), other])) == pytest.approx(
        [float(fact @ other)] * 2 + [float(fact @ other)], abs=1e-6
    )
    assert crowding(np.stack([fact])).tolist() == [0.0]
    assert crowding(np.zeros((0, 3), dtype=np.float32)).tolist() == []


def test_crowding_costs_relevance_but_keeps_the_crowd_in_order() -> None:
    crowd = [Candidate(i, None, 0.55 - 0.01 * i, 0.5, NOW, crowding=0.95) for i in range(1, 4)]
    apart = Candidate(9, None, 0.45, 0.5, NOW, crowding=0.4)
    found = rank([*crowd, apart], NOW, 5, lexical_weight=0.0, crowding_weight=0.5)
    assert [s.seq for s in found] == [9, 1, 2, 3]
    assert found[0].why["relevance"] == pytest.approx(0.45 - 0.5 * 0.4)
    assert found[0].why["crowding"] == 0.4
    # Without a weight (the hashing embedder) crowding changes nothing and is not shown.
    plain = rank([*crowd, apart], NOW, 5, lexical_weight=0.0)
    assert [s.seq for s in plain] == [1, 2, 3, 9] and "crowding" not in plain[0].why


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2d", NOW - timedelta(days=2)),
        ("90m", NOW - timedelta(minutes=90)),
        ("1W", NOW - timedelta(weeks=1)),
        ("Yesterday", datetime(2026, 11, 21, tzinfo=UTC)),
        ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
        ("2026-11-20T14:00+02:00", datetime(2026, 11, 20, 12, tzinfo=UTC)),
    ],
)
def test_parse_when(text: str, expected: datetime) -> None:
    assert parse_when(text, NOW) == expected


def test_parse_when_says_what_it_accepts() -> None:
    with pytest.raises(BadTime) as caught:
        parse_when("last tuesday-ish", NOW)
    assert "2d" in caught.value.hint


async def test_another_nodes_memories_reach_this_nodes_index_when_it_catches_up(
    db_url: str, store: MemoryStore
) -> None:
    # Two stores on one database, as two server nodes: one stores, the other recalls.
    await store.load_index()
    engine = create_engine(db_url)
    other = MemoryStore(engine, HashingEmbedder())
    try:
        target = note("the staging cluster lives in frankfurt")
        await other.add([target])

        def by_meaning(found: list[Any]) -> float:
            return max(
                (r.why.get("similarity", 0.0) for r in found if r.memory.id == target.id),
                default=0.0,
            )

        assert by_meaning(await store.search("staging cluster frankfurt", now=NOW)) == 0.0
        await store.catch_up()
        assert by_meaning(await store.search("staging cluster frankfurt", now=NOW)) > 0.5
    finally:
        await engine.dispose()


async def test_a_rare_word_outweighs_a_common_one_on_both_back_ends(db_url: str) -> None:
    """Full text ranks by BM25 on SQLite and on PostgreSQL alike: a memory with the rare word
    of the question comes before those with its most common word (PostgreSQL's own rank
    counts every word alike)."""
    engine = create_engine(db_url)
    try:
        store = MemoryStore(engine)  # no embedder: words alone decide
        common = [note(f"restart the printer on floor {i} after the update") for i in range(30)]
        rare = note("zanzibar keeps its own notes in the wiki")
        await store.add([*common, rare])
        found = await store.search("zanzibar restart", limit=3, now=NOW)
        assert found[0].memory.id == rare.id
        assert found[0].why["lexical"] == 1.0 and found[1].why["lexical"] < 0.5
    finally:
        await engine.dispose()


def test_bm25_of_a_tsvector() -> None:
    occurrences = lexemes("'databas':2,7 'nightli':5 'restor':3 'o''brien':9")
    assert occurrences == {"databas": 2, "nightli": 1, "restor": 1, "o'brien": 1}
    having = {"databas": 90, "restor": 2}
    rare = bm25(occurrences, ["restor"], having, total=100, average_length=5.0)
    common = bm25(occurrences, ["databas"], having, total=100, average_length=5.0)
    assert rare > 3 * common > 0
    assert bm25(occurrences, ["absent"], having, total=100, average_length=5.0) == 0.0
