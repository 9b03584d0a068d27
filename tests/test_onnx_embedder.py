"""The shipped embedder: the real model file, loaded from its package and checked, finding
text that says the same thing in other words."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import numpy as np
import pytest

from cloudbrain.db import create_engine, upgrade
from cloudbrain.memory.embedding import (
    EmbedderUnavailable,
    HashingEmbedder,
    available_embedder,
    make_embedder,
)
from cloudbrain.memory.onnx_embedder import (
    MINILM,
    OnnxEmbedder,
    PackagedFile,
    ShippedModel,
    batches,
)
from cloudbrain.memory.records import MemoryRecord
from cloudbrain.memory.store import MemoryStore, RecallFilter

QUESTION = "What day does pager duty switch to the next person?"
ANSWER = "The on-call rotation hands over every Tuesday at 10:00 Berlin time."
OTHERS = [
    "The next person to join the team starts on Monday.",
    "Switch the office lights off when you leave for the day.",
    "Duty-free shopping is available at the airport.",
    "What a day: the build broke twice and the switch in rack 3 died.",
]


def test_the_shipped_model_loads_from_its_package() -> None:
    embedder = make_embedder("onnx:minilm")
    assert isinstance(embedder, OnnxEmbedder)
    assert embedder.name == "onnx:all-MiniLM-L6-v2-int8"
    assert embedder.dims == 384
    assert make_embedder("onnx:minilm") is embedder  # one copy per process


def test_vectors_are_unit_length_and_keep_their_order() -> None:
    embedder = OnnxEmbedder.shipped()
    texts = [f"{'word ' * n}number {n}" for n in (40, 1, 17, 3, 90, 0)] * 7  # several batches
    together = embedder.embed(texts)
    assert len(together) == len(texts)
    for text, vector in zip(texts[:6], together[:6], strict=True):
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
        [alone] = embedder.embed([text])
        assert float(alone @ vector) == pytest.approx(1.0, abs=1e-4)
    assert embedder.embed([]) == []


def test_meaning_not_words_decides_similarity() -> None:
    embedder = OnnxEmbedder.shipped()
    question, answer, *others = embedder.embed([QUESTION, ANSWER, *OTHERS])
    assert float(question @ answer) > max(float(question @ o) for o in others)
    # Hashing sees the shared words and misses the meaning.
    hashing = HashingEmbedder()
    hq, ha, *ho = hashing.embed([QUESTION, ANSWER, *OTHERS])
    assert float(hq @ ha) < max(float(hq @ o) for o in ho)


def test_a_changed_model_file_is_refused() -> None:
    tampered = ShippedModel(
        MINILM.name,
        PackagedFile(MINILM.model.distribution, MINILM.model.path, "0" * 64),
        MINILM.tokenizer,
    )
    with pytest.raises(EmbedderUnavailable, match="SHA-256") as caught:
        OnnxEmbedder.shipped(tampered)
    assert caught.value.hint and "reinstall" in caught.value.hint


def test_a_missing_package_says_how_to_fix_it() -> None:
    absent = ShippedModel(
        "onnx:absent", PackagedFile("no-such-package-here", "x.onnx", "0" * 64), MINILM.tokenizer
    )
    with pytest.raises(EmbedderUnavailable, match="not installed") as caught:
        OnnxEmbedder.shipped(absent)
    assert caught.value.hint and "CLOUDBRAIN_EMBEDDER=hashing" in caught.value.hint


def test_a_model_from_a_path_is_named_by_its_hash(tmp_path: Path) -> None:
    shutil.copy(MINILM.model.locate(), tmp_path / "model.onnx")
    shutil.copy(MINILM.tokenizer.locate(), tmp_path / "tokenizer.json")
    embedder = make_embedder(f"onnx:{tmp_path / 'model.onnx'}")
    assert embedder.name == f"onnx:{MINILM.model.sha256[:16]}"
    [mine] = embedder.embed([ANSWER])
    [shipped] = OnnxEmbedder.shipped().embed([ANSWER])
    assert float(mine @ shipped) == pytest.approx(1.0, abs=1e-5)


def test_a_path_without_its_tokenizer_falls_back_to_hashing(tmp_path: Path) -> None:
    shutil.copy(MINILM.model.locate(), tmp_path / "model.onnx")
    embedder, why = available_embedder(f"onnx:{tmp_path / 'model.onnx'}")
    assert isinstance(embedder, HashingEmbedder)
    assert why is not None and "tokenizer.json" in why


def test_a_file_that_is_not_a_model_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"not a model")
    shutil.copy(MINILM.tokenizer.locate(), tmp_path / "tokenizer.json")
    with pytest.raises(EmbedderUnavailable, match="cannot load"):
        make_embedder(f"onnx:{tmp_path / 'model.onnx'}")


# Facts and questions that ask for them in other words, sharing no topic word.
FACTS = {
    "Expense reports must be submitted within 30 days of the purchase.": (
        "What is the deadline for filing reimbursement claims?"
    ),
    "The mobile app's minimum supported Android version is 10.": (
        "What is the oldest phone OS release our app still runs on?"
    ),
    "The Kubernetes cluster autoscaler never scales the worker pool above 40 nodes.": (
        "What is the maximum number of machines the container platform can grow to?"
    ),
    "The user prefers dark roast coffee with oat milk and no sugar.": (
        "How does the user take their morning brew?"
    ),
    "Log files older than 30 days are deleted automatically from the central log cluster.": (
        "How long do we keep logs before they are purged?"
    ),
}


async def test_reworded_questions_find_their_memories_where_hashing_does_not(db_url: str) -> None:
    await asyncio.to_thread(upgrade, db_url)
    engine = create_engine(db_url)
    first: dict[str, list[bool]] = {}
    try:
        for ai, embedder in (("ada", OnnxEmbedder.shipped()), ("bob", HashingEmbedder())):
            store = MemoryStore(engine, embedder)
            await store.add([MemoryRecord(ai=ai, content=fact) for fact in FACTS])
            first[ai] = []
            for fact, question in FACTS.items():
                best = await store.search(question, RecallFilter(ai=ai), limit=1)
                first[ai].append(bool(best) and best[0].memory.content == fact)
    finally:
        await engine.dispose()
    assert all(first["ada"]), first["ada"]
    assert not all(first["bob"]), "hashing found every one: the test shows nothing"


async def test_a_fact_stands_out_from_routine_notes_closer_to_the_question(db_url: str) -> None:
    """Routine notes that differ only by an hour are each nearer the question than the fact
    that answers it, but they crowd each other: the fact comes first."""
    fact = "The user prefers dark roast coffee with oat milk and no sugar."
    question = "How does the user take their morning brew?"
    hours = ("06:00", "11:00", "14:00", "15:30", "16:30", "18:00")
    routine = [f"The user does not drink coffee after {hour}." for hour in hours]
    embedder = OnnxEmbedder.shipped()
    asked, said, *others = embedder.embed([question, fact, *routine])
    assert max(float(asked @ o) for o in others) > float(asked @ said), "nothing to show"

    await asyncio.to_thread(upgrade, db_url)
    engine = create_engine(db_url)
    try:
        store = MemoryStore(engine, embedder)
        await store.add([MemoryRecord(ai="ada", content=text) for text in [fact, *routine]])
        [best, *rest] = await store.search(question, RecallFilter(ai="ada"), limit=3)
    finally:
        await engine.dispose()
    assert best.memory.content == fact
    assert best.why["crowding"] < min(r.why["crowding"] for r in rest)


def test_texts_are_batched_by_length_so_that_few_are_padded_much() -> None:
    # An answer's whole text and its sentences: the long one is embedded apart.
    assert batches([84, 8, 24, 19]) == [[1, 3], [2], [0]]
    # Many texts of similar length go together, BATCH at a time.
    similar = batches([18 + i % 5 for i in range(70)])
    assert [len(b) for b in similar] == [32, 32, 6]
    assert sorted(i for b in similar for i in b) == list(range(70))
    assert batches([]) == []
