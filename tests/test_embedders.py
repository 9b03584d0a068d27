"""Embedders beyond hashing: Ollama's embed API (against the fake Ollama server), the optional
sentence-transformers one, the ``CLOUDBRAIN_EMBEDDER`` spec, and falling back to hashing."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import numpy as np
import pytest

from cloudbrain.db import create_engine
from cloudbrain.memory.embedding import (
    DEFAULT_OLLAMA_URL,
    OLLAMA_BATCH,
    EmbedderUnavailable,
    HashingEmbedder,
    OllamaEmbedder,
    SentenceTransformerEmbedder,
    Vector,
    available_embedder,
    make_embedder,
)
from cloudbrain.memory.ranking import CROWDING_WEIGHT, SEMANTIC_LEXICAL_WEIGHT
from cloudbrain.memory.records import MemoryRecord
from cloudbrain.memory.store import MemoryStore
from tests.fake_ollama import (
    EMBED_DIGEST,
    EMBED_DIMENSIONS,
    EMBED_MODEL,
    RUNNER_CRASH,
    FakeOllama,
    embed_text,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SPEC_FORMS = (
    "onnx:minilm (shipped), onnx:PATH, hashing, hashing:DIMS, ollama:MODEL, ollama:MODEL@URL, "
    "st:MODEL"
)


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama() as server:
        yield server


@pytest.fixture
def embedder(fake: FakeOllama) -> OllamaEmbedder:
    return OllamaEmbedder(fake.url, EMBED_MODEL, timeout=5.0)


def expected(text: str) -> Vector:
    """The vector the fake server gives ``text``: what the embedder must hand back."""
    return np.asarray(embed_text(text, seed=EMBED_DIGEST), dtype=np.float32)


# -- OllamaEmbedder ---------------------------------------------------------------------------


def test_ollama_embeds_a_batch_as_unit_float32_vectors(
    fake: FakeOllama, embedder: OllamaEmbedder
) -> None:
    texts = ["the cat sat on the mat", "quarterly revenue grew fast", "the cat sat on the mat"]

    vectors = embedder.embed(texts)

    assert embedder.name == "ollama:nomic-embed-text"
    assert len(vectors) == 3
    for text, vector in zip(texts, vectors, strict=True):
        assert vector.dtype == np.float32
        assert vector.shape == (EMBED_DIMENSIONS,)
        assert float(np.linalg.norm(vector)) == pytest.approx(1.0, abs=1e-6)
        np.testing.assert_allclose(vector, expected(text), atol=1e-6)
    np.testing.assert_array_equal(vectors[0], vectors[2])  # same text, same vector
    assert float(np.dot(vectors[0], vectors[1])) < 0.5
    assert fake.bodies("/api/embed") == [{"model": EMBED_MODEL, "input": texts}]


def test_ollama_sends_large_inputs_in_batches_and_keeps_their_order(
    fake: FakeOllama, embedder: OllamaEmbedder
) -> None:
    texts = [f"memory number {i}" for i in range(OLLAMA_BATCH * 2 + 2)]

    vectors = embedder.embed(texts)

    assert [len(body["input"]) for body in fake.bodies("/api/embed")] == [64, 64, 2]
    assert len(vectors) == 130
    for i in (0, 63, 64, 129):
        np.testing.assert_allclose(vectors[i], expected(f"memory number {i}"), atol=1e-6)


def test_ollama_embeds_nothing_without_asking(fake: FakeOllama, embedder: OllamaEmbedder) -> None:
    assert embedder.embed([]) == []
    assert fake.requests == []


def test_a_missing_model_says_to_pull_it(fake: FakeOllama) -> None:
    with pytest.raises(EmbedderUnavailable) as raised:
        OllamaEmbedder(fake.url, "nope:7b").embed(["hello"])

    assert str(raised.value) == f"Ollama at {fake.url} does not have the model 'nope:7b'"
    assert raised.value.hint == "run `ollama pull nope:7b`"


def test_ollama_down_is_unavailable(fake: FakeOllama, embedder: OllamaEmbedder) -> None:
    fake.down()

    with pytest.raises(EmbedderUnavailable) as raised:
        embedder.embed(["hello"])

    assert str(raised.value) == f"Ollama is not reachable at {fake.url}"
    assert "ollama serve" in raised.value.hint


def test_a_slow_ollama_is_unavailable_after_the_timeout(fake: FakeOllama) -> None:
    fake.delay = 3.0

    with pytest.raises(EmbedderUnavailable) as raised:
        OllamaEmbedder(fake.url, EMBED_MODEL, timeout=0.2).embed(["hello"])

    assert str(raised.value) == f"Ollama at {fake.url} did not answer within 0.2s"


def test_an_ollama_failure_carries_its_message(fake: FakeOllama, embedder: OllamaEmbedder) -> None:
    fake.fail_next()

    with pytest.raises(EmbedderUnavailable) as raised:
        embedder.embed(["hello"])

    assert str(raised.value) == (
        f"Ollama at {fake.url} failed to embed with 'nomic-embed-text': {RUNNER_CRASH} (HTTP 500)"
    )
    assert len(embedder.embed(["hello"])) == 1  # the next call works again


# -- SentenceTransformerEmbedder --------------------------------------------------------------


def test_sentence_transformers_missing_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # Whether or not it is installed here, behave as on a machine without it.
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(EmbedderUnavailable) as raised:
        SentenceTransformerEmbedder("all-MiniLM-L6-v2")

    assert str(raised.value) == "sentence-transformers is not installed"
    assert "pip install sentence-transformers" in raised.value.hint


# -- make_embedder ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "name"),
    [("hashing", "hashing-512"), ("hashing:64", "hashing-64"), (" hashing ", "hashing-512")],
)
def test_make_embedder_hashing(spec: str, name: str) -> None:
    embedder = make_embedder(spec)
    assert isinstance(embedder, HashingEmbedder)
    assert embedder.name == name


@pytest.mark.parametrize(
    ("spec", "model", "url"),
    [
        ("ollama:nomic-embed-text", "nomic-embed-text", DEFAULT_OLLAMA_URL),
        (
            "ollama:nomic-embed-text:v1.5@http://gpu-box:11434",
            "nomic-embed-text:v1.5",
            "http://gpu-box:11434",
        ),
    ],
)
def test_make_embedder_ollama(spec: str, model: str, url: str) -> None:
    embedder = make_embedder(spec)
    assert isinstance(embedder, OllamaEmbedder)
    assert (embedder.model, embedder.url, embedder.timeout) == (model, url, 30.0)
    assert embedder.name == f"ollama:{model}"


def test_make_embedder_does_not_call_ollama(fake: FakeOllama) -> None:
    make_embedder(f"ollama:{EMBED_MODEL}@{fake.url}")
    assert fake.requests == []


def test_make_embedder_st_needs_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(EmbedderUnavailable, match="sentence-transformers is not installed"):
        make_embedder("st:all-MiniLM-L6-v2")


@pytest.mark.parametrize(
    "spec", ["", "word2vec", "ollama", "ollama:", "ollama:@http://gpu-box:11434", "st:", "openai:x"]
)
def test_make_embedder_rejects_an_unknown_spec_listing_the_forms(spec: str) -> None:
    with pytest.raises(ValueError) as raised:
        make_embedder(spec)
    assert str(raised.value) == f"unknown embedder {spec!r}; use one of: {SPEC_FORMS}"


@pytest.mark.parametrize("dims", ["0", "-3", "many"])
def test_make_embedder_rejects_bad_dimensions(dims: str) -> None:
    with pytest.raises(ValueError, match="positive whole number of dimensions"):
        make_embedder(f"hashing:{dims}")


def test_make_embedder_rejects_a_name_too_long_to_store() -> None:
    with pytest.raises(ValueError, match="must fit in 64 characters"):
        make_embedder("ollama:" + "m" * 58)
    assert make_embedder("ollama:" + "m" * 57).name == "ollama:" + "m" * 57


# -- available_embedder -----------------------------------------------------------------------


def test_available_embedder_keeps_a_working_one(fake: FakeOllama) -> None:
    embedder, why_not = available_embedder(f"ollama:{EMBED_MODEL}@{fake.url}")

    assert why_not is None
    assert isinstance(embedder, OllamaEmbedder)
    assert embedder.name == "ollama:nomic-embed-text"
    assert fake.bodies("/api/embed") == [{"model": EMBED_MODEL, "input": ["ping"]}]


def test_available_embedder_falls_back_to_hashing_when_ollama_is_down(fake: FakeOllama) -> None:
    url = fake.url
    fake.down()

    embedder, why_not = available_embedder(f"ollama:{EMBED_MODEL}@{url}")

    assert isinstance(embedder, HashingEmbedder)
    assert embedder.name == "hashing-512"
    assert why_not == (
        f"Ollama is not reachable at {url} "
        "(start it with `ollama serve`, or check the URL in CLOUDBRAIN_EMBEDDER)"
    )


def test_available_embedder_falls_back_when_the_model_is_missing(fake: FakeOllama) -> None:
    embedder, why_not = available_embedder(f"ollama:all-minilm@{fake.url}")

    assert embedder.name == "hashing-512"
    assert why_not == (
        f"Ollama at {fake.url} does not have the model 'all-minilm' (run `ollama pull all-minilm`)"
    )


def test_available_embedder_does_not_hide_a_bad_spec() -> None:
    with pytest.raises(ValueError, match="unknown embedder 'olama:x'"):
        available_embedder("olama:x")


# -- with the memory store --------------------------------------------------------------------


@pytest.fixture
async def store(db_url: str, embedder: OllamaEmbedder) -> AsyncIterator[MemoryStore]:
    engine = create_engine(db_url)
    yield MemoryStore(engine, embedder)
    await engine.dispose()


def note(content: str) -> MemoryRecord:
    return MemoryRecord(ai="alice", created_at=NOW, content=content)


async def test_the_store_keeps_ollama_vectors_and_recall_finds_a_rewording(
    store: MemoryStore,
) -> None:
    deploy = note("deploys to staging need the vpn and the deploy key")
    others = [note("quarterly revenue grew fast in europe"), note("lunch is at noon on fridays")]
    await store.add([deploy, *others])

    stored = await store.get(deploy.id)
    assert stored is not None and stored.embedding is not None
    assert stored.embedder == "ollama:nomic-embed-text"
    np.testing.assert_allclose(stored.embedding, expected(deploy.content), atol=1e-6)

    # Beside a semantic embedder, full text brings only memories with every word of the
    # question: one word more and the note is found by its meaning alone.
    [alone] = await store.search("which key do staging deploys use?", now=NOW)
    assert alone.memory.id == deploy.id and alone.why["lexical"] == 0.0

    question = "which key do staging deploys need?"
    [best, *rest] = await store.search(question, now=NOW)

    assert best.memory.id == deploy.id
    similarity = float(np.dot(expected(question), expected(deploy.content)))
    assert similarity > 0.4
    assert best.why["similarity"] == pytest.approx(similarity, abs=1e-5)
    # Its similarity, plus a share of its words' score (the best full-text match, so all of
    # it), less a share of its crowding: its mean similarity to the two other candidates.
    assert best.why["lexical"] == 1.0
    crowding = np.mean(
        [max(0.0, float(expected(deploy.content) @ expected(o.content))) for o in others]
    )
    assert best.why["crowding"] == pytest.approx(crowding, abs=1e-5)
    assert best.why["relevance"] == pytest.approx(
        similarity + SEMANTIC_LEXICAL_WEIGHT - CROWDING_WEIGHT * crowding, abs=1e-5
    )
    assert [r.memory.id for r in rest] == []


async def test_recall_ignores_vectors_of_another_space(db_url: str, fake: FakeOllama) -> None:
    """Memories embedded by hashing (say, during a fallback) are still found by their words,
    but never compared with Ollama's vectors."""
    engine = create_engine(db_url)
    try:
        old = note("deploys to staging need the vpn and the deploy key")
        await MemoryStore(engine, HashingEmbedder()).add([old])

        ollama_store = MemoryStore(engine, OllamaEmbedder(fake.url, EMBED_MODEL))
        [found] = await ollama_store.search("which key do staging deploys use?", now=NOW)

        assert found.memory.id == old.id
        assert found.memory.embedder == "hashing-512"
        assert "similarity" not in found.why
        # By words only: the best full-text match, weighted as beside a semantic embedder.
        assert found.why["relevance"] == pytest.approx(SEMANTIC_LEXICAL_WEIGHT)
        assert found.memory.embedding is not None and len(found.memory.embedding) == 512
    finally:
        await engine.dispose()


async def test_when_ollama_goes_away_memories_are_still_stored_and_found_by_words(
    store: MemoryStore, fake: FakeOllama
) -> None:
    before = note("The nightly backup runs at 03:00 on the storage box")
    await store.add([before])
    fake.down()
    after = note("The backup report goes to the ops channel")
    assert (await store.add([after])).stored == [after.id]
    stored = await store.get(after.id)
    assert stored is not None and stored.embedding is None  # no vector while Ollama is away
    found = await store.search("backup")
    assert {r.memory.id for r in found} == {before.id, after.id}
    assert all("similarity" not in r.why for r in found)  # by words only, for now
