"""The in-memory vector index: every memory compared by meaning, filtered like the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudbrain.memory.embedding import normalized
from cloudbrain.memory.vectors import IndexedMemory, VectorFilter, VectorIndex

T0 = datetime(2026, 11, 1, tzinfo=UTC)
DIMS = 8


def unit(*values: float) -> np.ndarray:
    return normalized(np.array([*values, *[0.0] * (DIMS - len(values))], dtype=np.float32))


def memory(
    memory_id: str,
    seq: int,
    vector: np.ndarray,
    *,
    ai: str = "alice",
    days: int = 0,
    **more: object,
) -> IndexedMemory:
    fields: dict[str, object] = {
        "session": None,
        "device": "laptop",
        "kind": "note",
        "conversation": None,
        "importance": 0.5,
        "superseded": False,
        **more,
    }
    return IndexedMemory(
        id=memory_id,
        seq=seq,
        vector=vector,
        ai=ai,
        created_at=T0 + timedelta(days=days),
        **fields,  # type: ignore[arg-type]
    )


ALL = VectorFilter({})


def test_nearest_orders_by_cosine_similarity() -> None:
    index = VectorIndex("test", DIMS)
    index.add([memory("a", 1, unit(1, 0)), memory("b", 2, unit(1, 1)), memory("c", 3, unit(0, 1))])
    found = index.nearest(unit(1, 0.1), ALL, limit=2)
    assert [f.seq for f in found] == [1, 2]
    assert found[0].similarity > found[1].similarity > 0.5


def test_filters_apply_like_the_database() -> None:
    index = VectorIndex("test", DIMS)
    index.add(
        [
            memory("a", 1, unit(1), ai="alice", days=0),
            memory("b", 2, unit(1), ai="bob", days=5),
            memory("c", 3, unit(1), ai="alice", days=10, kind="fact"),
            memory("d", 4, unit(1), ai="alice", days=10, superseded=True),
        ]
    )

    def seqs(where: VectorFilter) -> set[int]:
        return {f.seq for f in index.nearest(unit(1), where, limit=10)}

    assert seqs(ALL) == {1, 2, 3}
    assert seqs(VectorFilter({}, include_superseded=True)) == {1, 2, 3, 4}
    assert seqs(VectorFilter({"ai": "alice"})) == {1, 3}
    assert seqs(VectorFilter({"ai": "alice", "kind": "fact"})) == {3}
    assert seqs(VectorFilter({"ai": "carol"})) == set()
    assert seqs(VectorFilter({}, since=T0 + timedelta(days=5))) == {2, 3}
    assert seqs(VectorFilter({}, until=T0 + timedelta(days=5))) == {1, 2}


def test_a_newer_copy_replaces_an_older_one_and_not_the_other_way() -> None:
    index = VectorIndex("test", DIMS)
    index.add([memory("a", 5, unit(1), importance=0.1)])
    index.add([memory("a", 9, unit(1), importance=0.9)])
    index.add([memory("a", 7, unit(1), importance=0.5)])  # read before the newer was stored
    [found] = index.nearest(unit(1), ALL, limit=10)
    assert (found.seq, round(found.importance, 1)) == (9, 0.9)
    assert len(index) == 1
    assert index.similarity(unit(1), [5, 7, 9]) == {9: found.similarity}


def test_vectors_of_another_size_are_left_out() -> None:
    index = VectorIndex("test", DIMS)
    index.add([memory("a", 1, normalized(np.ones(DIMS + 1, dtype=np.float32)))])
    assert len(index) == 0


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.sampled_from(["alice", "bob"]), st.integers(0, 3)),
        min_size=1,
        max_size=120,
    )
)
def test_the_index_agrees_with_a_brute_force_search(
    writes: list[tuple[int, str, int]],
) -> None:
    """After any sequence of adds and replacements (which grow and compact the arrays), the
    index answers exactly like comparing every live memory by hand."""
    index = VectorIndex("test", DIMS, capacity=4)
    rng = np.random.default_rng(len(writes))
    latest: dict[str, IndexedMemory] = {}
    for seq, (key, ai, day) in enumerate(writes, start=1):
        copy = memory(
            f"m{key}", seq, normalized(rng.normal(size=DIMS).astype(np.float32)), ai=ai, days=day
        )
        index.add([copy])
        latest[copy.id] = copy
    query = normalized(rng.normal(size=DIMS).astype(np.float32))
    where = VectorFilter({"ai": "alice"}, since=T0 + timedelta(days=1))
    expected = sorted(
        (
            (float(m.vector @ query), m.seq)
            for m in latest.values()
            if m.ai == "alice" and m.created_at >= T0 + timedelta(days=1)
        ),
        reverse=True,
    )[:5]
    found = index.nearest(query, where, limit=5)
    assert [f.seq for f in found] == [seq for _, seq in expected]
    assert len(index) == len(latest)
