"""How fast recall is at 10k and 100k memories, and how often it finds a reworded fact.

    python -m bench.recall                  # about 11 minutes with the defaults, on 2 cores
                                            # (7 of them embedding 100k memories, once cached: 6)
    python -m bench.recall --no-postgres --sizes 10000 --json-only > result.json
    python -m bench.recall --only quality    # BM25 and each embedder, about 4 minutes

Two measurements, each on SQLite (a temporary file) and on PostgreSQL (a fresh database made
on the ``--postgres`` server and dropped after; ``--no-postgres`` skips it):

- ``latency``: synthetic memories (``bench.recall_corpus``: 20 agents, 8 devices, notes, facts
  and exchanges over 60 days, made from about 170 templates and word lists, from a seed) with
  the vectors of ``--latency-embedder`` (by default ``onnx:minilm``, the shipped model the
  server uses: 384 dimensions; ``hashing`` is the built-in fallback, 512). Embedding 100k
  memories with the model takes minutes, so their vectors are computed once per run, before
  anything is measured (``bench.embedder``: each distinct text once, in ``--embed-workers``
  processes of one onnxruntime thread each, progress on stderr) and kept in ``--vector-cache``
  for the next run (``bench.ask`` shares it: the same corpus); ``embedder_costs.vectors`` says
  how many were computed and how fast. The memories are stored through ``MemoryStore.add`` in
  batches of ``--batch``, carrying their vectors (the store keeps a vector of its own
  embedder's space instead of embedding again); the time that takes is reported
  (``insert``; ``embed_seconds`` there should be 0). At each of ``--sizes`` (the store grows
  from one size to the next), ``--warmup`` queries run uncounted, then ``--queries`` queries
  are timed one at a time: ``MemoryStore.search(query, filter, limit=5)``, from the call to
  the list of records, the query embedded by the store's embedder as the server's is (the
  process's shared model, onnxruntime's default threads), on one event loop with nothing else
  running. A third of the queries have no filter (``plain``), a third are limited to one agent
  (``agent``) and a third to the last 7 days (``since_7d``); percentiles are given for each
  and for all (``all``). The query's own embedding, apart: ``query_embed`` gives the
  percentiles of the time each search spent in the embedder for its query (the store runs it
  at the same time as the full-text statement, so it is not simply added to the rest);
  then the measured queries are embedded again alone, one at a time with nothing else
  running (``query_embed_alone``), and searched again with those vectors ready
  (``search_vector_given``: the same searches, with no time spent embedding the query). On
  PostgreSQL the table is ANALYZEd after loading, as autovacuum would do on a live server
  (``--no-analyze`` measures it with no statistics).

  ``breakdown_ms`` splits the mean time of a search, for each filter and for all, into its
  SQL statements, timed around the driver's execute (rows are fetched there): ``lexical``
  (full-text candidates), ``lexical_rows`` (importance and age of full-text candidates the
  vector index did not bring), ``fetch`` (the winners' full rows) and, on SQLite, ``begin``;
  ``embed`` is the time inside the embedder for the query (the thread hop to it is not);
  ``python`` is the rest (the vector index's product over every memory, ranking, building
  records, the connection pool, event-loop and thread hops): the whole less the parts, which
  overlap (the embedding and the index's product run beside the full-text statement), so it
  is too small, even below 0.

  Search compares meaning in an in-memory index of every memory, which a server loads from
  the database at its first search. At each size a new ``MemoryStore`` is made, as after a
  restart, and its first search is timed on its own as ``index_load_seconds``, before the
  warm-up. ``index_vectors_mb`` is the size of its vectors, ``index_mb`` of all it holds (the
  rows in use of its numpy columns, ids and look-up dicts; ``index_allocated_mb`` adds the
  spare rows its columns keep to grow into, zero pages the OS backs only once written) and
  ``index_mb_per_100k`` that scaled to 100k memories.

  ``embedder_costs``, measured first, while this run is not yet using the other cores:
  ``embeddings_per_s_per_core`` (1,000 memories embedded in one call on one thread: for ONNX,
  a session of one intra-op thread built by ``bench.embedder``; batches of 32 of similar
  length, as ``OnnxEmbedder`` makes them; the best of 3 calls, each given), one query's embedding on one thread and as the
  server runs it (``throughput``), ``model_load_s`` (``make_embedder`` in a fresh process:
  the files' hash check, tokenizer and session; median of 3 processes, importing the package
  and the first embedding apart, in ``load``) and ``index_mb_per_100k`` per backend (at the
  largest size).

- ``quality``: the hand-written (fact, question) pairs of ``bench.recall_questions`` (110: a
  ``dev`` half of 55 that recall was tuned against and a ``held_out`` half of 55 never used for
  tuning) are stored among ``--distractors`` synthetic memories (2,000 by default; the facts get
  random agents, devices, dates and importance, like the rest), then each question is asked
  with ``limit=5``. For each half, and for ``all``: ``recall_at_5`` is the share of questions
  whose fact is among the 5 results; ``recall_at_1`` and ``mrr`` (mean reciprocal rank within
  the 5) tell how high; ``shares_word`` and ``no_shared_word`` split recall@5 by whether the
  question shares a word (or its first four letters) with its fact; ``missed`` lists the
  indices into ``PAIRS`` not found, for the dev half only (the held-out half is scored, never
  studied). Embedders are made as the server makes them (``make_embedder``), each with a
  database of its own: ``hashing`` (the default), ``onnx:minilm`` when it can be made,
  ``st:MODEL`` (``--st-model``) when sentence-transformers is importable (this benchmark never
  installs it), any ``--embedder SPEC`` (e.g. ``ollama:nomic-embed-text``), and
  ``lexical-only`` (``MemoryStore`` without an embedder: full-text search, importance and
  recency alone); one that cannot be made or cannot embed is skipped, with the reason in
  ``quality_skipped``. ``embedder_alone`` is each embedder's own ceiling: its ranks by cosine
  similarity over every memory, with no full text, importance or recency. ``bm25`` is the
  baseline: plain Okapi BM25 (``bench.bm25``, k1 1.2, b 0.75) over the ``content`` of the same
  memories (``corpus_sha256`` is checked to be the same), asked the same questions in the
  same run, in memory. ``routine`` (in each result and in ``embedder_alone``) asks for the
  templated memories themselves: 100 exchanges by their own question (``own_question``) and
  100 notes and facts by the first two thirds of their words (``start_of_text``), recall@1
  and recall@5 counting any memory with the sought text; it shows that ranking which favours
  memories unlike the rest does not lose the routine ones.

Reading the result: ``target.latency`` holds p95 of ``all`` (query embedding included; its own
p95 beside) at 100k memories on each backend against the project's 50 ms; the target is for
the shipped model's vectors (``applies``). ``target.quality``: on the held-out half, some semantic
embedder reaches recall@5 >= 0.85 and recall@1 >= 0.65 on every backend measured.
``target.hashing_vs_bm25``: on the held-out half, the hashing embedder (the fallback when no
semantic one is installed) finds at least as much as BM25, recall@1 and recall@5, on every
backend. The quality targets are judged only with at least 2,000 distractors. The hashing
embedder is not semantic (it matches words and fragments, not meanings): it counts for the
second target, not the first.
``machine.load_average_*`` tell whether something else was using the CPUs meanwhile.
Progress lines and tables go to stderr (the quality table: backend, embedder, half, recall@1,
recall@5, MRR, and BM25's recall@1 and recall@5 on that half), the JSON document to stdout.
The run stops after ``--max-seconds``, printing what it measured so far with
``"complete": false``, and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib.util
import itertools
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from sqlalchemy import event, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench import embedder as bench_embedder
from bench import recall_corpus
from bench.bm25 import BM25, K1, B
from bench.progress import (
    add_postgres_options,
    add_run_options,
    positive,
    progress,
    set_quiet,
)
from bench.recall_questions import DEV, HELD_OUT, PAIRS
from bench.relay import machine
from bench.servers import fresh_postgres
from cloudbrain.db import create_engine, upgrade
from cloudbrain.db.models import memories
from cloudbrain.memory.embedding import (
    Embedder,
    EmbedderUnavailable,
    HashingEmbedder,
    Vector,
    make_embedder,
    normalized,
)
from cloudbrain.memory.records import MemoryRecord
from cloudbrain.memory.store import VECTOR_CANDIDATES, MemoryStore, RecallFilter
from cloudbrain.memory.text import words as text_words

LIMIT = 5
CATEGORIES = ("plain", "agent", "since_7d")
BREAKDOWN = ("lexical", "lexical_rows", "fetch", "begin", "other", "embed", "python")
TARGET_SIZE = 100_000
MAX_SECONDS = 2400.0  # the default --max-seconds: vectors for 100k memories can take minutes
TARGET_P95_MS = 50.0
TARGET_RECALL_AT_5 = 0.85  # on the held-out half, by a semantic embedder
TARGET_RECALL_AT_1 = 0.65
MIN_DISTRACTORS = 2000  # the quality targets hold for this many distractors or more
NOT_SEMANTIC = frozenset({"lexical-only"})  # and every hashing-* embedder
DEFAULT_EMBEDDERS = ("hashing", "onnx:minilm")  # judged when they can be made; st: when importable
HALVES: dict[str, frozenset[int]] = {
    "dev": DEV,
    "held_out": HELD_OUT,
    "all": frozenset(range(len(PAIRS))),
}


# --- measuring what a search spends its time on ----------------------------------------------


class TimedEmbedder:
    """An embedder that counts the time spent in another; same name, so the same space."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.seconds = 0.0

    @property
    def name(self) -> str:
        return self.inner.name

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        start = time.perf_counter()
        try:
            return self.inner.embed(texts)
        finally:
            self.seconds += time.perf_counter() - start


class KnownQueries:
    """An embedder that has the vectors of given texts ready (computed beforehand) and embeds
    only others; same name, so the same space. A search of a known query spends no time
    embedding it: what is left is the search itself."""

    def __init__(self, inner: Embedder, known: dict[str, Vector]) -> None:
        self.inner, self.known = inner, known

    @property
    def name(self) -> str:
        return self.inner.name

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        if all(t in self.known for t in texts):
            return [self.known[t] for t in texts]
        return self.inner.embed(texts)


class StatementTimer:
    """Time spent in each kind of SQL statement a search runs, from the engine's events: around
    the driver's execute, where both drivers also fetch the rows."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.active = False
        self.seconds: dict[str, float] = {}
        event.listen(engine.sync_engine, "before_cursor_execute", self._before)
        event.listen(engine.sync_engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.active:
            conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        started = conn.info.pop("bench_started", None)
        if self.active and started is not None:
            kind = kind_of(statement)
            self.seconds[kind] = self.seconds.get(kind, 0.0) + time.perf_counter() - started


def kind_of(statement: str) -> str:
    """Which of the statements of ``MemoryStore.search`` this is (see the module docstring)."""
    if "memories_fts MATCH" in statement or "to_tsquery" in statement:
        return "lexical"
    if "memories.content" in statement:
        return "fetch"
    if "memories.seq IN" in statement:
        return "lexical_rows"
    if statement.strip().upper() == "BEGIN":  # SQLite: each of the search's connections
        return "begin"
    return "other"


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: the smallest value with at least p% of values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summarize(ms: Sequence[float]) -> dict[str, Any]:
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "mean_ms": round(sum(ms) / len(ms), 2),
        "max_ms": round(max(ms), 2),
    }


# --- the databases ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Params:
    sizes: list[int]
    queries: int
    warmup: int
    batch: int
    distractors: int
    seed: int
    analyze: bool
    st_model: str
    embedders: list[str]
    latency_embedder: str
    embed_workers: int
    vector_cache: str | None


@asynccontextmanager
async def database(backend: str, postgres: str | None, workdir: Path) -> AsyncIterator[str]:
    """A fresh, migrated database: a file under ``workdir``, or a new PostgreSQL database that
    is dropped on the way out."""
    if backend == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="db-", dir=workdir)) / "memories.db"
        url = f"sqlite+aiosqlite:///{path}"
        await asyncio.to_thread(upgrade, url)
        yield url
        return
    assert postgres is not None
    async with fresh_postgres(postgres) as url:
        await asyncio.to_thread(upgrade, url)
        yield url


async def store_all(
    store: MemoryStore, records: Iterator[MemoryRecord], count: int, batch: int, label: str
) -> int:
    """Store ``count`` records from ``records`` through ``MemoryStore.add``, ``batch`` at a time,
    with a progress line about every 10 seconds; returns how many were new."""
    stored, started, shown = 0, time.perf_counter(), time.perf_counter()
    while stored < count:
        chunk = list(itertools.islice(records, min(batch, count - stored)))
        added = await store.add(chunk)
        if len(added.stored) != len(chunk):
            raise RuntimeError(f"{label}: stored {len(added.stored)} of {len(chunk)} records")
        stored += len(chunk)
        if time.perf_counter() - shown >= 10:
            shown = time.perf_counter()
            rate = stored / (shown - started)
            progress(f"{label}: {stored:,}/{count:,} stored ({rate:,.0f}/s)")
    return stored


# --- latency ---------------------------------------------------------------------------------


def query_plan(count: int, seed: int, anchor: datetime) -> list[tuple[str, str, RecallFilter]]:
    """(category, query, filter) for ``count`` searches, the categories taking turns."""
    rng = random.Random(seed)
    since = anchor - timedelta(days=7)
    plan = []
    for i, query in enumerate(recall_corpus.queries(seed, count)):
        category = CATEGORIES[i % len(CATEGORIES)]
        where = {
            "plain": RecallFilter(),
            "agent": RecallFilter(ai=rng.choice(recall_corpus.AGENTS)),
            "since_7d": RecallFilter(since=since),
        }[category]
        plan.append((category, query, where))
    return plan


async def latency(
    backend: str,
    url: str,
    params: Params,
    anchor: datetime,
    vectors: bench_embedder.Vectors,
    out: dict[str, Any],
) -> None:
    """Grow one store through ``params.sizes``, timing searches at each size into ``out``. The
    memories carry their precomputed ``vectors``, which the store keeps (same embedder)."""
    engine = create_engine(url)
    timer = StatementTimer(engine)
    embedder = TimedEmbedder(make_embedder(params.latency_embedder))
    if embedder.name != vectors.embedder:
        raise RuntimeError(f"vectors of {vectors.embedder} for a store of {embedder.name}")
    store = MemoryStore(engine, embedder)
    records = bench_embedder.with_vectors(
        recall_corpus.memories(params.seed, anchor), vectors.matrix, vectors.embedder
    )
    warmup = query_plan(params.warmup, params.seed + 1, anchor)
    measured = query_plan(params.queries, params.seed + 2, anchor)
    have = 0
    try:
        for size in sorted(params.sizes):
            label = f"{backend} {size:,}"
            added = size - have
            progress(f"{label}: storing {added:,} more memories…")
            embedded_before, started = embedder.seconds, time.perf_counter()
            have += await store_all(store, records, added, params.batch, label)
            seconds = time.perf_counter() - started
            insert: dict[str, Any] = {
                "added": added,
                "seconds": round(seconds, 2),
                "per_s": round(added / seconds),
                "embed_seconds": round(embedder.seconds - embedded_before, 2),
            }
            if backend == "postgresql" and params.analyze:
                started = time.perf_counter()
                async with engine.begin() as conn:
                    await conn.execute(text("ANALYZE memories"))
                insert["analyze_seconds"] = round(time.perf_counter() - started, 2)
            count = await store.count()
            if count != size:
                raise RuntimeError(f"{label}: {count:,} memories stored, expected {size:,}")
            progress(
                f"{label}: stored {added:,} in {seconds:.1f}s ({insert['per_s']:,}/s, "
                f"{insert['embed_seconds']:.1f}s of it embedding); searching…"
            )
            # As after a restart: a new store, whose first search loads the vector index.
            searcher = MemoryStore(engine, embedder)
            started = time.perf_counter()
            await searcher.search(warmup[0][1], warmup[0][2], limit=LIMIT, now=anchor)
            index: dict[str, Any] = {
                "index_load_seconds": round(time.perf_counter() - started, 2),
                **index_memory(searcher, size),
            }
            progress(
                f"{label}: vector index loaded in {index['index_load_seconds']} s, "
                f"{index['index_mb']:.0f} MB ({index['index_mb_per_100k']:.0f} MB per 100k)"
            )
            result = await searches(searcher, timer, embedder, warmup, measured, anchor)
            out[str(size)] = {"insert": insert, **index, **result}
            progress(f"{label}: {line(result)}")
    finally:
        await engine.dispose()


async def searches(
    store: MemoryStore,
    timer: StatementTimer,
    embedder: TimedEmbedder,
    warmup: list[tuple[str, str, RecallFilter]],
    measured: list[tuple[str, str, RecallFilter]],
    anchor: datetime,
) -> dict[str, Any]:
    for _, query, where in warmup:
        await store.search(query, where, limit=LIMIT, now=anchor)
    times: dict[str, list[float]] = {c: [] for c in CATEGORIES}
    # Per category: seconds in each kind of statement, in the embedder, and in all.
    spent: dict[str, dict[str, float]] = {c: {} for c in CATEGORIES}
    embed_ms: list[float] = []  # each search's time in the embedder, for its query's vector
    found = 0
    timer.active = True
    try:
        for category, query, where in measured:
            timer.seconds, embedded_before = {}, embedder.seconds
            started = time.perf_counter()
            results = await store.search(query, where, limit=LIMIT, now=anchor)
            elapsed = time.perf_counter() - started
            times[category].append(elapsed * 1000)
            embed_ms.append((embedder.seconds - embedded_before) * 1000)
            found += bool(results)
            parts = {**timer.seconds, "embed": embedder.seconds - embedded_before}
            parts["python"] = elapsed - sum(parts.values())
            for kind, seconds in parts.items():
                spent[category][kind] = spent[category].get(kind, 0.0) + seconds
    finally:
        timer.active = False
    alone, given = await without_embedding(store, embedder, measured, anchor)
    everything = [t for ts in times.values() for t in ts]
    spent["all"] = {}
    for category in CATEGORIES:
        for kind, seconds in spent[category].items():
            spent["all"][kind] = spent["all"].get(kind, 0.0) + seconds
    breakdown = {
        category: {
            kind: round(spent[category].get(kind, 0.0) * 1000 / n, 2)
            for kind in BREAKDOWN
            if kind in spent[category]
        }
        for category, n in [("all", len(everything)), *((c, len(times[c])) for c in CATEGORIES)]
        if n
    }
    return {
        "search": {
            "all": summarize(everything),
            **{c: summarize(ts) for c, ts in times.items() if ts},
        },
        "query_embed": summarize(embed_ms),
        "query_embed_alone": summarize(alone),
        "search_vector_given": summarize(given),
        "breakdown_ms": breakdown,
        "answered": round(found / len(everything), 3),
    }


async def without_embedding(
    store: MemoryStore,
    embedder: TimedEmbedder,
    measured: list[tuple[str, str, RecallFilter]],
    anchor: datetime,
) -> tuple[list[float], list[float]]:
    """The measured queries' embeddings timed alone, one at a time with nothing else running
    (ms), then the same searches again with those vectors ready, so that no search embeds
    its query (ms): the search without its query's embedding."""
    known: dict[str, Vector] = {}
    alone = []
    for _, query, _ in measured:
        started = time.perf_counter()
        known[query] = embedder.inner.embed([query])[0]
        alone.append((time.perf_counter() - started) * 1000)
    store.embedder = KnownQueries(embedder.inner, known)
    given = []
    try:
        for _, query, where in measured:
            started = time.perf_counter()
            await store.search(query, where, limit=LIMIT, now=anchor)
            given.append((time.perf_counter() - started) * 1000)
    finally:
        store.embedder = embedder
    return alone, given


def index_memory(store: MemoryStore, size: int) -> dict[str, Any]:
    """The memory a store's vector index holds: its vectors alone (``index_vectors_mb``), and
    everything (``index_mb``: every numpy column's rows in use, the ids and the look-up dicts).
    Columns grow by doubling; the spare rows (``index_allocated_mb`` counts them too) are
    zeroed pages never written, which the operating system does not back with memory until
    they are used. ``index_mb_per_100k`` scales ``index_mb`` to 100k memories."""
    index = getattr(store, "_index", None)
    if index is None:
        return {"index_mb": None, "index_mb_per_100k": None}
    rows = len(index)
    vectors_mb = rows * index.dims * 4 / 2**20
    used_mb = deep_bytes(vars(index), rows=getattr(index, "_size", rows)) / 2**20
    return {
        "index_dims": index.dims,
        "index_vectors_mb": round(vectors_mb, 1),
        "index_mb": round(used_mb, 1),
        "index_allocated_mb": round(deep_bytes(vars(index)) / 2**20, 1),
        "index_mb_per_100k": round(used_mb * 100_000 / size, 1),
    }


def deep_bytes(value: Any, rows: int | None = None, seen: set[int] | None = None) -> int:
    """Bytes held by ``value``: numpy arrays' buffers (with ``rows``, only that many of their
    first rows), and Python containers, strings and numbers with their contents (each object
    once; other objects, such as locks, by their own size)."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        if rows is None or not value.ndim or not len(value):
            return int(value.nbytes)
        return int(value.nbytes // len(value) * min(rows, len(value)))
    found = sys.getsizeof(value)
    if isinstance(value, dict):
        found += sum(
            deep_bytes(k, rows, seen) + deep_bytes(v, rows, seen) for k, v in value.items()
        )
    elif isinstance(value, list | tuple | set | frozenset):
        found += sum(deep_bytes(v, rows, seen) for v in value)
    return found


def line(result: dict[str, Any]) -> str:
    a, e, g = result["search"]["all"], result["query_embed"], result["search_vector_given"]
    return (
        f"p50 {a['p50_ms']} ms, p95 {a['p95_ms']} ms, p99 {a['p99_ms']} ms over {a['n']} "
        f"searches; the query's embedding p50 {e['p50_ms']} ms, p95 {e['p95_ms']} ms of it; "
        f"with the vector given p50 {g['p50_ms']} ms, p95 {g['p95_ms']} ms"
    )


# --- quality ---------------------------------------------------------------------------------


def embedder_specs(params: Params) -> tuple[list[str], dict[str, str]]:
    """The embedders to judge besides lexical-only, in ``CLOUDBRAIN_EMBEDDER``'s form, and
    why any was left out."""
    specs, skipped = list(DEFAULT_EMBEDDERS), {}
    if importlib.util.find_spec("sentence_transformers") is None:
        skipped[f"st:{params.st_model}"] = (
            "sentence-transformers is not installed (it needs torch; this benchmark never "
            "installs it): `pip install sentence-transformers` to include it"
        )
    else:
        specs.append(f"st:{params.st_model}")
    return specs + [s for s in params.embedders if s not in specs], skipped


def load_embedder(spec: str) -> Embedder:
    """The embedder ``spec`` names, as the server makes it, once it has embedded a word."""
    embedder = make_embedder(spec)
    embedder.embed(["ping"])  # a model that is away fails here, not halfway through a run
    return embedder


def shares_word(fact: str, question: str) -> bool:
    """Whether the question has a topic word of the fact, or one with the same first four letters
    (a shorter word: all of it), roughly what stemming lets full-text search match."""

    def key(word: str) -> str:
        return word[:4]

    fact_words = {key(w) for w in text_words(fact)}
    return any(key(w) in fact_words for w in text_words(question))


def facts(seed: int, anchor: datetime) -> list[MemoryRecord]:
    """The facts of ``PAIRS`` as memories, dated and weighted like the distractors."""
    rng = random.Random(seed)
    return [
        MemoryRecord(
            ai=rng.choice(recall_corpus.AGENTS),
            device=rng.choice(recall_corpus.DEVICES),
            kind="fact",
            content=fact,
            importance=round(rng.uniform(0.1, 0.9), 2),
            created_at=anchor
            - timedelta(seconds=rng.uniform(0, recall_corpus.SPREAD_DAYS * 86400)),
        )
        for fact, _ in PAIRS
    ]


def quality_set(params: Params, anchor: datetime) -> tuple[list[MemoryRecord], list[MemoryRecord]]:
    """The facts, and every memory of the quality test: the facts among the distractors."""
    rng = random.Random(params.seed + 3)
    known = facts(params.seed + 4, anchor)
    mixed = list(
        itertools.islice(recall_corpus.memories(params.seed + 5, anchor), params.distractors)
    )
    for record in known:
        mixed.insert(rng.randrange(len(mixed) + 1), record)
    return known, mixed


ROUTINE_QUERIES = 100  # of each form


@dataclass(frozen=True)
class Query:
    text: str
    answer: str  # the content sought: any memory with it counts (some say the same thing)


def routine_queries(params: Params, mixed: Sequence[MemoryRecord]) -> dict[str, list[Query]]:
    """Questions whose answers are the routine (templated) memories themselves, so that ranking
    which favours memories unlike the rest (see ``ranking.crowding``) is seen not to lose
    them: an exchange asked by its own question, and a note or fact by the first two thirds
    of its words. Facts of ``PAIRS`` are left out."""
    rng = random.Random(params.seed + 6)
    handwritten = {fact for fact, _ in PAIRS}
    exchanges = [r for r in mixed if r.kind == "exchange"]
    notes = [r for r in mixed if r.kind != "exchange" and r.content not in handwritten]

    def start(text: str) -> str:
        words = text.split()
        return " ".join(words[: max(3, len(words) * 2 // 3)])

    return {
        "own_question": [
            Query(r.user_input or "", r.content) for r in rng.sample(exchanges, ROUTINE_QUERIES)
        ],
        "start_of_text": [
            Query(start(r.content), r.content) for r in rng.sample(notes, ROUTINE_QUERIES)
        ],
    }


def found_share(hits: Sequence[list[str]], queries: Sequence[Query]) -> dict[str, Any]:
    """recall@1 and recall@5 of ``queries``, ``hits[i]`` being the contents found for the i-th."""
    return {
        "queries": len(queries),
        "recall_at_1": round(
            sum(bool(h) and h[0] == q.answer for h, q in zip(hits, queries, strict=True))
            / len(queries),
            3,
        ),
        "recall_at_5": round(
            sum(q.answer in h[:LIMIT] for h, q in zip(hits, queries, strict=True)) / len(queries),
            3,
        ),
    }


async def quality(
    url: str, embedder: Embedder | None, params: Params, anchor: datetime, label: str
) -> dict[str, Any]:
    """Store the facts among the distractors, ask every question, and score the answers."""
    known, mixed = quality_set(params, anchor)
    engine = create_engine(url)
    store = MemoryStore(engine, embedder)
    try:
        started = time.perf_counter()
        await store_all(store, iter(mixed), len(mixed), params.batch, label)
        insert_s = time.perf_counter() - started
        ranks: list[int | None] = []
        started = time.perf_counter()
        for record, (_, question) in zip(known, PAIRS, strict=True):
            results = await store.search(question, RecallFilter(), limit=LIMIT, now=anchor)
            ids = [r.memory.id for r in results]
            ranks.append(ids.index(record.id) + 1 if record.id in ids else None)
        search_s = time.perf_counter() - started
        routine: dict[str, Any] = {}
        for form, queries in routine_queries(params, mixed).items():
            hits = []
            for query in queries:
                found = await store.search(query.text, RecallFilter(), limit=LIMIT, now=anchor)
                hits.append([r.memory.content for r in found])
            routine[form] = found_share(hits, queries)
        unembedded: int | None = 0
        if embedder is not None:  # the store falls back to words when its embedder fails
            async with engine.connect() as conn:
                unembedded = await conn.scalar(
                    select(func.count())
                    .select_from(memories)
                    .where(or_(memories.c.embedder.is_(None), memories.c.embedder != embedder.name))
                )
    finally:
        await engine.dispose()
    return {
        "questions": len(PAIRS),
        "memories": len(mixed),
        "corpus_sha256": fingerprint(mixed),
        **by_half(ranks),
        "routine": routine,
        "unembedded": unembedded or 0,
        "insert_seconds": round(insert_s, 2),
        "search_ms_mean": round(search_s * 1000 / len(PAIRS), 2),
    }


def by_half(ranks: list[int | None]) -> dict[str, dict[str, Any]]:
    """The scores of the facts' ranks (``ranks[i]`` for ``PAIRS[i]``; None: not in the top 5)
    for each half of the questions (``HALVES``). Which questions were missed is listed for the
    dev half only: the held-out half is there to be scored, not studied."""
    return {
        half: scores(ranks, indices, list_missed=half == "dev") for half, indices in HALVES.items()
    }


def scores(
    ranks: list[int | None], indices: frozenset[int], *, list_missed: bool
) -> dict[str, Any]:
    """recall@5, recall@1 and MRR over the questions ``indices`` of ``PAIRS``, recall@5 apart
    for those that share a word with their fact and for those that do not, and (when
    ``list_missed``) the indices of the questions whose fact was not in the top 5."""
    chosen = sorted(indices)
    got = [ranks[i] for i in chosen]
    overlap = [shares_word(*PAIRS[i]) for i in chosen]

    def recall(group: list[int | None]) -> float | None:
        return round(sum(r is not None for r in group) / len(group), 3) if group else None

    found: dict[str, Any] = {
        "questions": len(got),
        "recall_at_5": recall(got),
        "recall_at_1": round(sum(r == 1 for r in got) / len(got), 3),
        "mrr": round(sum(1 / r for r in got if r is not None) / len(got), 3),
        "shares_word": {
            "questions": sum(overlap),
            "recall_at_5": recall([r for r, o in zip(got, overlap, strict=True) if o]),
        },
        "no_shared_word": {
            "questions": len(overlap) - sum(overlap),
            "recall_at_5": recall([r for r, o in zip(got, overlap, strict=True) if not o]),
        },
    }
    if list_missed:
        found["missed"] = [i for i, r in zip(chosen, got, strict=True) if r is None]
    return found


def fingerprint(mixed: Sequence[MemoryRecord]) -> str:
    """A short hash of the texts of the quality test, in order: the same in every run of one
    ``--seed`` and ``--distractors`` (ids and dates aside), for BM25 and every embedder."""
    digest = hashlib.sha256("\x00".join(r.content for r in mixed).encode())
    return digest.hexdigest()[:16]


def rank_of(record_index: int, top: list[int]) -> int | None:
    return top.index(record_index) + 1 if record_index in top else None


def embedder_alone(embedder: Embedder, params: Params, anchor: datetime) -> dict[str, Any]:
    """The embedder's own ceiling: each question's top 5 by cosine similarity over every memory
    (no full-text search, importance or recency), in memory, no database."""
    known, mixed = quality_set(params, anchor)
    matrix = np.stack([normalized(v) for v in embedder.embed([r.content for r in mixed])])
    where = {r.id: i for i, r in enumerate(mixed)}
    questions = np.stack([normalized(v) for v in embedder.embed([q for _, q in PAIRS])])
    ranks: list[int | None] = []
    for record, similarities in zip(known, questions @ matrix.T, strict=True):
        top = [int(i) for i in np.argsort(-similarities, kind="stable")[:LIMIT]]
        ranks.append(rank_of(where[record.id], top))
    routine: dict[str, Any] = {}
    for form, queries in routine_queries(params, mixed).items():
        asked = np.stack([normalized(v) for v in embedder.embed([q.text for q in queries])])
        hits = [
            [mixed[int(i)].content for i in np.argsort(-similarities, kind="stable")[:LIMIT]]
            for similarities in asked @ matrix.T
        ]
        routine[form] = found_share(hits, queries)
    return {**by_half(ranks), "routine": routine}


def bm25_quality(params: Params, anchor: datetime) -> dict[str, Any]:
    """Plain BM25 (``bench.bm25``) over the ``content`` of the very memories the embedders are
    judged on, asked the same questions: the baseline each half is compared with."""
    known, mixed = quality_set(params, anchor)
    started = time.perf_counter()
    index = BM25([r.content for r in mixed])
    where = {r.id: i for i, r in enumerate(mixed)}
    ranks = [
        rank_of(where[record.id], index.top(question, LIMIT))
        for record, (_, question) in zip(known, PAIRS, strict=True)
    ]
    return {
        "k1": K1,
        "b": B,
        "questions": len(PAIRS),
        "memories": len(mixed),
        "corpus_sha256": fingerprint(mixed),
        **by_half(ranks),
        "seconds": round(time.perf_counter() - started, 2),
    }


# --- the runs --------------------------------------------------------------------------------


async def run_all(
    params: Params, postgres: str | None, only: str | None, doc: dict[str, Any]
) -> None:
    """Every measurement, each result put into ``doc`` as soon as it is known (so that a run
    stopped by its time limit still reports what it measured)."""
    backends = ["sqlite"] + (["postgresql"] if postgres else [])
    anchor = datetime.now(UTC).replace(microsecond=0)
    doc["parameters"]["anchor"] = anchor.isoformat()
    results, phases = doc["results"], doc["phases_s"]
    workdir = Path(tempfile.mkdtemp(prefix="cloudbrain-recall-"))
    try:
        if only in (None, "latency"):
            started = time.perf_counter()
            costs = results["embedder_costs"] = await embedder_costs(params)
            phases["embedder_costs"] = round(time.perf_counter() - started, 1)
            started = time.perf_counter()
            texts = [
                r.content
                for r in itertools.islice(
                    recall_corpus.memories(params.seed, anchor), max(params.sizes)
                )
            ]
            vectors = await asyncio.to_thread(
                bench_embedder.embed_all,
                texts,
                params.latency_embedder,
                workers=params.embed_workers,
                cache=None if params.vector_cache is None else Path(params.vector_cache),
                label="latency vectors",
            )
            del texts
            costs["vectors"] = vectors.report()
            phases["vectors"] = round(time.perf_counter() - started, 1)
            for backend in backends:
                started = time.perf_counter()
                out = results.setdefault("latency", {}).setdefault(backend, {})
                async with database(backend, postgres, workdir) as url:
                    await latency(backend, url, params, anchor, vectors, out)
                phases[f"latency.{backend}"] = round(time.perf_counter() - started, 1)
                largest = out.get(str(max(params.sizes)))
                if largest is not None:
                    costs["index_mb_per_100k"][backend] = largest["index_mb_per_100k"]
        if only in (None, "quality"):
            await quality_runs(params, backends, postgres, workdir, anchor, results, phases)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def quality_runs(
    params: Params,
    backends: list[str],
    postgres: str | None,
    workdir: Path,
    anchor: datetime,
    results: dict[str, Any],
    phases: dict[str, Any],
) -> None:
    """BM25, then each embedder that can be made (and lexical-only) on each backend."""
    bm25 = bm25_quality(params, anchor)
    results["bm25"] = bm25
    progress(f"quality bm25 (k1 {K1}, b {B}, in memory): {halves_line(bm25)}")
    specs, skipped = embedder_specs(params)
    results["quality_skipped"] = skipped
    for name, note in skipped.items():
        progress(f"quality: {name} skipped: {note}")
    chosen: list[str | None] = [*specs, None]  # None: no embedder, words only
    for spec in chosen:
        try:
            started = time.perf_counter()
            embedder = None if spec is None else load_embedder(spec)
            load_s = time.perf_counter() - started
        except (EmbedderUnavailable, ValueError, ImportError) as exc:  # say why, judge the rest
            hint = getattr(exc, "hint", None)
            skipped[str(spec)] = f"{exc} ({hint})" if hint else str(exc)
            progress(f"quality: {spec} skipped: {skipped[str(spec)]}")
            continue
        label = "lexical-only" if embedder is None else embedder.name
        if embedder is not None:
            alone = embedder_alone(embedder, params, anchor)
            results.setdefault("embedder_alone", {})[label] = alone
            progress(f"quality {label} alone (cosine over all memories): {halves_line(alone)}")
        for backend in backends:
            started = time.perf_counter()
            tag = f"quality {backend} {label}"
            progress(f"{tag}: storing {params.distractors:,} distractors and {len(PAIRS)} facts…")
            async with database(backend, postgres, workdir) as url:
                result = await quality(url, embedder, params, anchor, tag)
            if result["corpus_sha256"] != bm25["corpus_sha256"]:
                raise RuntimeError(f"{tag}: not the memories BM25 was measured on")
            if load_s > 1:
                result["model_load_seconds"] = round(load_s, 1)
            results.setdefault("quality", {}).setdefault(backend, {})[label] = result
            phases[f"quality.{backend}.{label}"] = round(time.perf_counter() - started, 1)
            progress(
                f"{tag}: {halves_line(result)}"
                + (
                    f"; {result['unembedded']} memories NOT embedded"
                    if result["unembedded"]
                    else ""
                )
            )


async def embedder_costs(params: Params) -> dict[str, Any]:
    """What the latency run's embedder costs apart from search: embeddings per second of one
    core, one query's embedding, the time to load it in a fresh process; the index's memory
    per 100k memories is filled in as the latency runs measure it."""
    spec = params.latency_embedder
    name = make_embedder(spec).name
    progress(f"embedder {name}: timing embeddings on one thread and loading in new processes…")
    sample = list(
        itertools.islice(recall_corpus.memories(params.seed + 7, datetime.now(UTC)), 1000)
    )
    queries = recall_corpus.queries(params.seed + 8, 100)
    speed = await asyncio.to_thread(
        bench_embedder.throughput, spec, [r.content for r in sample], queries
    )
    load = await asyncio.to_thread(bench_embedder.load_seconds, spec)
    costs: dict[str, Any] = {
        "embedder": name,
        "spec": spec,
        "embeddings_per_s_per_core": speed["per_s_per_core"],
        "model_load_s": load["load_s"],
        "index_mb_per_100k": {},
        "throughput": speed,
        "load": load,
        "how": "embeddings/s per core: one call embedding the texts (synthetic memories of the "
        "corpus) on one thread (for ONNX, a session of 1 intra-op thread), after a first "
        "call, best of 3 calls; query_*: one text per call, on one thread and with the embedder as the server "
        "makes it (onnxruntime's default threads); model load: make_embedder(spec) in a fresh "
        "process (hash check, tokenizer, session), median of several processes, files in the "
        "page cache; index MB per 100k: everything the vector index holds at the largest size, "
        "scaled to 100k",
    }
    progress(
        f"embedder {name}: {speed['per_s_per_core']:,} embeddings/s on one core "
        f"({speed['ms_per_text']} ms each), a query {speed['query_one_thread']['p50_ms']} ms on "
        f"one thread and {speed['query_as_served']['p50_ms']} ms as served (p50); loads in "
        f"{load['load_s']} s (import {load['import_s']} s, first embedding "
        f"{load['first_embed_s']} s)"
    )
    return costs


def halves_line(result: dict[str, Any]) -> str:
    return "; ".join(
        f"{half} recall@1 {result[half]['recall_at_1']:.3f}, "
        f"recall@5 {_num(result[half]['recall_at_5'])}"
        for half in ("dev", "held_out")
    )


# --- the report ------------------------------------------------------------------------------


def targets(doc: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {"latency": latency_target(doc)}
    found["quality"] = semantic_target(doc)
    found["hashing_vs_bm25"] = hashing_target(doc)
    return found


def latency_target(doc: dict[str, Any]) -> dict[str, Any]:
    """p95 of a search (the query's embedding included) at ``TARGET_SIZE`` memories on each
    backend measured; the target is for the shipped model's vectors."""
    p95: dict[str, float] = {}
    embed_p95: dict[str, float] = {}
    given_p95: dict[str, float] = {}
    for backend, by_size in doc["results"].get("latency", {}).items():
        at_size = by_size.get(str(TARGET_SIZE))
        if at_size is not None:
            p95[backend] = at_size["search"]["all"]["p95_ms"]
            embed_p95[backend] = at_size["query_embed"]["p95_ms"]
            given_p95[backend] = at_size["search_vector_given"]["p95_ms"]
    spec = doc["parameters"]["latency_embedder"]
    return {
        "what": f"p95 of MemoryStore.search at {TARGET_SIZE:,} memories, query embedding "
        "included, on PostgreSQL and on SQLite",
        "embedder": spec,
        "applies": spec == bench_embedder.DEFAULT_SPEC,  # the shipped model's vectors
        "p95_ms": p95,
        "query_embed_p95_ms": embed_p95,
        "vector_given_p95_ms": given_p95,
        "limit_ms": TARGET_P95_MS,
        "met": all(v < TARGET_P95_MS for v in p95.values()) if p95 else None,
    }


def semantic_target(doc: dict[str, Any]) -> dict[str, Any]:
    """Whether some semantic embedder reaches both held-out targets on every backend."""
    by_label: dict[str, dict[str, Any]] = {}
    for backend, results in doc["results"].get("quality", {}).items():
        for label, r in results.items():
            if label in NOT_SEMANTIC or label.startswith("hashing-"):
                continue
            held = r["held_out"]
            by_label.setdefault(label, {})[backend] = {
                "recall_at_5": held["recall_at_5"],
                "recall_at_1": held["recall_at_1"],
                "met": held["recall_at_5"] >= TARGET_RECALL_AT_5
                and held["recall_at_1"] >= TARGET_RECALL_AT_1,
            }
    met_by = [label for label, on in by_label.items() if all(b["met"] for b in on.values())]
    judged = bool(by_label) and doc["parameters"]["distractors"] >= MIN_DISTRACTORS
    return {
        "what": "held-out recall@5 and recall@1 of a semantic embedder, on every backend",
        "limit_recall_at_5": TARGET_RECALL_AT_5,
        "limit_recall_at_1": TARGET_RECALL_AT_1,
        "measured": by_label,
        "met_by": met_by,
        "met": bool(met_by) if judged else None,
    }


def hashing_target(doc: dict[str, Any]) -> dict[str, Any]:
    """Whether the built-in hashing embedder finds at least as much as plain BM25 over the same
    memories, on the held-out half, on every backend."""
    label = HashingEmbedder().name
    bm25 = doc["results"].get("bm25")
    measured: dict[str, Any] = {}
    for backend, results in doc["results"].get("quality", {}).items():
        r = results.get(label)
        if r is None or bm25 is None:
            continue
        held, base = r["held_out"], bm25["held_out"]
        measured[backend] = {
            "recall_at_1": held["recall_at_1"],
            "recall_at_5": held["recall_at_5"],
            "bm25_recall_at_1": base["recall_at_1"],
            "bm25_recall_at_5": base["recall_at_5"],
            "met": held["recall_at_1"] >= base["recall_at_1"]
            and held["recall_at_5"] >= base["recall_at_5"],
        }
    return {
        "what": f"held-out recall@1 and recall@5 of {label} at least plain BM25's, on every "
        "backend",
        "measured": measured,
        "met": all(m["met"] for m in measured.values())
        if measured and doc["parameters"]["distractors"] >= MIN_DISTRACTORS
        else None,
    }


def versions() -> dict[str, Any]:
    found = machine()
    # Other work on the machine slows every number here: the 1, 5 and 15 minute load averages.
    found["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    for package in ("sqlalchemy", "numpy", "asyncpg", "aiosqlite"):
        found[package] = package_version(package)
    return found


async def postgres_version(url: str) -> str | None:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return str(await conn.scalar(text("SHOW server_version")))
    except Exception as exc:
        return f"unknown ({type(exc).__name__})"
    finally:
        await engine.dispose()


def run_and_report(
    doc: dict[str, Any],
    measure: Callable[[], Coroutine[Any, Any, None]],
    *,
    postgres: str | None,
    max_seconds: float,
    json_only: bool,
    targets: Callable[[dict[str, Any]], Any],
    tables: Callable[[dict[str, Any], TextIO], None],
) -> None:
    """Run a benchmark's measurements into ``doc`` within ``max_seconds``, then print its
    tables (stderr) and the JSON document (stdout); exit 1 when the run was cut short or a
    check failed (``all_checks_passed`` false)."""
    complete = True
    started = time.perf_counter()
    try:
        if postgres:
            from sqlalchemy.engine import make_url

            shown = make_url(postgres).render_as_string(hide_password=True)
            doc["parameters"]["postgresql"] = shown
            doc["machine"]["postgresql"] = asyncio.run(postgres_version(postgres))
        asyncio.run(asyncio.wait_for(measure(), max_seconds))
    except TimeoutError:
        if time.perf_counter() - started < max_seconds:
            raise  # something inside timed out, not the run
        complete = False
        progress(f"stopped after --max-seconds {max_seconds:g}: the results are partial")
    doc["phases_s"]["total"] = round(time.perf_counter() - started, 1)
    doc["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    doc["target"] = targets(doc)
    doc["complete"] = complete
    if not json_only:
        tables(doc, sys.stderr)
    print(json.dumps(doc, indent=2))
    if not complete:
        sys.exit(1)
    if doc.get("all_checks_passed") is False:
        progress("a check failed: see checks in the JSON")
        sys.exit(1)


def print_tables(doc: dict[str, Any], out: TextIO) -> None:
    latency = doc["results"].get("latency", {})
    if latency:
        head = f"{'backend':<12}{'memories':>10}  {'filter':<10}{'p50 ms':>9}{'p95 ms':>9}"
        head += f"{'p99 ms':>9}{'mean ms':>9}{'n':>5}"
        print(
            f"\nrecall latency (MemoryStore.search, limit={LIMIT})\n{head}\n{'-' * len(head)}",
            file=out,
        )
        for backend, by_size in latency.items():
            for size, r in by_size.items():
                for category, s in r["search"].items():
                    print(
                        f"{backend:<12}{int(size):>10,}  {category:<10}{s['p50_ms']:>9.2f}"
                        f"{s['p95_ms']:>9.2f}{s['p99_ms']:>9.2f}{s['mean_ms']:>9.2f}{s['n']:>5}",
                        file=out,
                    )
        print_embed_apart(latency, out)
        print(file=out)
        for backend, by_size in latency.items():
            for size, r in by_size.items():
                i = r["insert"]
                print(
                    f"{backend} {int(size):,}: storing {i['added']:,} took {i['seconds']:.1f}s "
                    f"({i['per_s']:,}/s, {i['embed_seconds']:.1f}s of it embedding); "
                    "mean ms of a search spent in:",
                    file=out,
                )
                for category, spent in r["breakdown_ms"].items():
                    parts = ", ".join(f"{k} {v:.2f}" for k, v in spent.items())
                    print(f"    {category:<10}{parts}", file=out)
    costs = doc["results"].get("embedder_costs")
    if costs:
        print_costs(costs, out)
    quality = doc["results"].get("quality", {})
    bm25 = doc["results"].get("bm25")
    if quality or bm25:
        print_quality(doc, out)
    print(file=out)
    t = doc["target"]["latency"]
    verdict = "not measured" if t["met"] is None else ("met" if t["met"] else "MISSED")
    if t["met"] is not None and not t["applies"]:
        verdict += f" (but the target is for {bench_embedder.DEFAULT_SPEC}'s vectors)"
    measured = ", ".join(
        f"{backend} {p95:.2f} ms (its query embedding p95 {t['query_embed_p95_ms'][backend]:.2f}; "
        f"with the vector given {t['vector_given_p95_ms'][backend]:.2f})"
        for backend, p95 in t["p95_ms"].items()
    )
    print(
        f"target: {t['what']}, {t['embedder']}: {measured or 'n/a'} (< {TARGET_P95_MS:g} ms: "
        f"{verdict})",
        file=out,
    )
    t = doc["target"]["quality"]
    verdict = quality_verdict(t, "no semantic embedder measured")
    if t["met"]:
        verdict += f" by {', '.join(t['met_by'])}"
    print(
        f"target: {t['what']} (>= {TARGET_RECALL_AT_5:g} and >= {TARGET_RECALL_AT_1:g}): {verdict}",
        file=out,
    )
    for label, on in t["measured"].items():
        for backend, m in on.items():
            print(
                f"    {backend} {label}: recall@5 {_num(m['recall_at_5'])}, "
                f"recall@1 {_num(m['recall_at_1'])}",
                file=out,
            )
    t = doc["target"]["hashing_vs_bm25"]
    print(f"target: {t['what']}: {quality_verdict(t, 'not measured')}", file=out)


def print_embed_apart(latency: dict[str, Any], out: TextIO) -> None:
    """Each search (all filters) beside its query's embedding and the rest of it."""
    head = f"{'backend':<12}{'memories':>10}  {'':<22}{'p50 ms':>9}{'p95 ms':>9}"
    head += f"{'p99 ms':>9}{'mean ms':>9}"
    print(
        "\nthe query's own embedding, apart (all filters): each search and the time it spent "
        "embedding its query (beside the full-text statement, at the same time); the same "
        "searches with their query's vector ready; the embeddings alone, one at a time\n"
        f"{head}\n{'-' * len(head)}",
        file=out,
    )
    for backend, by_size in latency.items():
        for size, r in by_size.items():
            for what, s in (
                ("search", r["search"]["all"]),
                ("  its embedding", r["query_embed"]),
                ("search, vector given", r["search_vector_given"]),
                ("embedding alone", r["query_embed_alone"]),
            ):
                print(
                    f"{backend:<12}{int(size):>10,}  {what:<22}{s['p50_ms']:>9.2f}"
                    f"{s['p95_ms']:>9.2f}{s['p99_ms']:>9.2f}{s['mean_ms']:>9.2f}",
                    file=out,
                )


def print_costs(costs: dict[str, Any], out: TextIO) -> None:
    speed, load = costs["throughput"], costs["load"]
    print(f"\nembedder costs ({costs['embedder']})", file=out)
    print(
        f"    embeddings per second per core: {speed['per_s_per_core']:,} "
        f"({speed['ms_per_text']} ms a text, {speed['texts']:,} memories of "
        f"{speed['mean_chars']} characters on average, one thread)",
        file=out,
    )
    q1, qs = speed["query_one_thread"], speed["query_as_served"]
    print(
        f"    one query: p50 {q1['p50_ms']} ms, p95 {q1['p95_ms']} ms on one thread; "
        f"p50 {qs['p50_ms']} ms, p95 {qs['p95_ms']} ms as the server runs it",
        file=out,
    )
    print(
        f"    model load: {load['load_s']} s in a fresh process (median of {load['runs']}; "
        f"importing the package {load['import_s']} s, first embedding {load['first_embed_s']} s)",
        file=out,
    )
    for backend, mb in costs["index_mb_per_100k"].items():
        print(f"    vector index per 100k memories, {backend}: {_num(mb, 1)} MB", file=out)
    v = costs.get("vectors")
    if v:
        computed = (
            f"{v['computed']:,} computed in {v['seconds']} s ({_num(v['computed_per_s'], 0)}/s in "
            f"{v['workers']} processes of one thread)"
            if v["computed"]
            else f"none computed ({v['seconds']} s)"
        )
        print(
            f"    the memories' vectors: {v['distinct']:,} distinct of {v['texts']:,} texts, "
            f"{v['from_cache']:,} from the cache, {computed}",
            file=out,
        )


def quality_verdict(target: dict[str, Any], unmeasured: str) -> str:
    if not target["measured"]:
        return unmeasured
    if target["met"] is None:
        return f"not judged (fewer than {MIN_DISTRACTORS:,} distractors)"
    return "met" if target["met"] else "MISSED"


def print_quality(doc: dict[str, Any], out: TextIO) -> None:
    """One row per backend, embedder and half, with BM25 over the same memories beside."""
    quality = doc["results"].get("quality", {})
    bm25 = doc["results"].get("bm25")
    rows = [
        (backend, label, r)
        for backend, by_label in quality.items()
        for label, r in by_label.items()
    ]
    if bm25 is not None:
        rows.append(("-", "bm25", bm25))
    wide = max([len("embedder"), *(len(label) for _, label, _ in rows)]) + 2
    head = f"{'backend':<12}{'embedder':<{wide}}{'half':<10}{'recall@1':>9}{'recall@5':>9}"
    head += f"{'MRR':>7}{'BM25@1':>8}{'BM25@5':>8}"
    sizes = ", ".join(f"{half} {len(indices)}" for half, indices in HALVES.items())
    print(
        f"\nrecall quality ({sizes} reworded questions among "
        f"{doc['parameters']['distractors']:,} distractors; limit {LIMIT}; BM25: plain Okapi "
        f"BM25, k1 {K1}, b {B}, over the same memories)\n{head}\n{'-' * len(head)}",
        file=out,
    )
    for backend, label, r in rows:
        for half in HALVES:
            h = r[half]
            base = bm25[half] if bm25 is not None else None
            print(
                f"{backend:<12}{label:<{wide}}{half:<10}{h['recall_at_1']:>9.3f}"
                f"{_num(h['recall_at_5']):>9}{h['mrr']:>7.3f}"
                f"{_num(base['recall_at_1'] if base else None):>8}"
                f"{_num(base['recall_at_5'] if base else None):>8}",
                file=out,
            )
    for label, r in doc["results"].get("embedder_alone", {}).items():
        print(
            f"{label} alone (cosine over every memory, no full text, importance or recency): "
            + halves_line(r),
            file=out,
        )
    alone = doc["results"].get("embedder_alone", {})
    routine = [(b, label, r["routine"]) for b, label, r in rows if "routine" in r]
    routine += [("alone", label, r["routine"]) for label, r in alone.items() if "routine" in r]
    if routine:
        print(
            f"\nroutine memories ({ROUTINE_QUERIES} exchanges asked by their own question, "
            f"{ROUTINE_QUERIES} notes by the first two thirds of their words; recall@1 / @5)",
            file=out,
        )
        for backend, label, r in routine:
            own, start = r["own_question"], r["start_of_text"]
            print(
                f"{backend:<12}{label:<{wide}}own question {own['recall_at_1']:.3f} / "
                f"{own['recall_at_5']:.3f}   start of text {start['recall_at_1']:.3f} / "
                f"{start['recall_at_5']:.3f}",
                file=out,
            )
    for name, note in doc["results"].get("quality_skipped", {}).items():
        print(f"{name}: skipped, {note}", file=out)


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


# --- the command line ------------------------------------------------------------------------


def sizes(text: str) -> list[int]:
    try:
        found = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 10000,100000, not {text}") from None
    if not found or found[0] <= 0:
        raise argparse.ArgumentTypeError(f"sizes must be positive, not {text}")
    return found


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.recall",
        description="Benchmark CloudBrain's memory recall (MemoryStore.search): latency at "
        "growing numbers of synthetic memories, and recall@1, recall@5 and MRR of "
        f"{len(PAIRS)} hand-written reworded questions (a dev half and a held-out half) among "
        "distractors for each available embedder, beside plain BM25 over the same memories, "
        "on SQLite and PostgreSQL. Progress and tables go to stderr, a JSON document to stdout.",
        epilog=f"Targets: p95 under {TARGET_P95_MS:g} ms at {TARGET_SIZE:,} memories on "
        f"PostgreSQL and on SQLite with {bench_embedder.DEFAULT_SPEC}'s vectors, the query's "
        "embedding included; on the held-out half, with at least {MIN_DISTRACTORS:,} distractors, "
        f"recall@5 >= {TARGET_RECALL_AT_5:g} and recall@1 >= {TARGET_RECALL_AT_1:g} for a "
        "semantic embedder (the built-in hashing embedder is not one), and the hashing "
        "embedder's recall@1 and recall@5 at least BM25's. Exits 1 when the run did not "
        "complete.",
    )
    parser.add_argument(
        "--sizes",
        type=sizes,
        default=[10_000, TARGET_SIZE],
        metavar="N,N",
        help="numbers of stored memories to measure search latency at; the store grows from "
        "one to the next (default: 10000,100000)",
    )
    parser.add_argument(
        "--queries",
        type=positive(int),
        default=200,
        help="timed searches per backend and size, a third each plain, agent-filtered and "
        "filtered to the last 7 days (default: %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=20,
        help="untimed searches before the timed ones, at each size (default: %(default)s)",
    )
    parser.add_argument(
        "--batch",
        type=positive(int),
        default=1000,
        help="memories per MemoryStore.add call while loading (default: %(default)s)",
    )
    parser.add_argument(
        "--distractors",
        type=positive(int),
        default=MIN_DISTRACTORS,
        help=f"synthetic memories stored around the {len(PAIRS)} facts of the quality test; "
        f"the quality targets are judged only with at least {MIN_DISTRACTORS:,} "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=20261122,
        help="for the memories and queries (default: %(default)s)",
    )
    add_postgres_options(parser)
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="do not ANALYZE the PostgreSQL table after loading (measures plans made without "
        "statistics, as right after a bulk load before autovacuum runs)",
    )
    parser.add_argument(
        "--only", choices=("latency", "quality"), help="run one of the two measurements"
    )
    parser.add_argument(
        "--st-model",
        default="all-MiniLM-L6-v2",
        help="sentence-transformers model judged in the quality test when that package is "
        "installed, as st:MODEL (default: %(default)s)",
    )
    parser.add_argument(
        "--embedder",
        action="append",
        default=[],
        metavar="SPEC",
        help="also judge this embedder in the quality test, named as CLOUDBRAIN_EMBEDDER "
        "names it: ollama:MODEL, ollama:MODEL@URL (a local Ollama), st:MODEL, hashing:DIMS; "
        f"repeatable. {' and '.join(DEFAULT_EMBEDDERS)} are always tried, and lexical-only "
        "(no embedder) always judged. One that cannot embed is skipped with the reason",
    )
    parser.add_argument(
        "--latency-embedder",
        default=bench_embedder.DEFAULT_SPEC,
        metavar="SPEC",
        help="embedder of the latency test's memories and queries, named as CLOUDBRAIN_EMBEDDER "
        "names it: onnx:minilm (the shipped model, the server's default), hashing, "
        "hashing:DIMS... (default: %(default)s)",
    )
    bench_embedder.add_vector_options(parser)
    add_run_options(parser)
    # Longer than other benchmarks: the memories' vectors, when not cached, take minutes.
    parser.set_defaults(max_seconds=MAX_SECONDS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    set_quiet(args.json_only)
    postgres = None if args.no_postgres else args.postgres
    params = Params(
        sizes=args.sizes,
        queries=args.queries,
        warmup=args.warmup,
        batch=args.batch,
        distractors=args.distractors,
        seed=args.seed,
        analyze=not args.no_analyze,
        st_model=args.st_model,
        embedders=args.embedder,
        latency_embedder=args.latency_embedder,
        embed_workers=args.embed_workers,
        vector_cache=None if args.no_vector_cache else args.vector_cache,
    )
    parameters: dict[str, Any] = {
        **asdict(params),
        "limit": LIMIT,
        "vector_candidates": VECTOR_CANDIDATES,
        "questions": len(PAIRS),
        "only": args.only,
    }
    doc: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": versions(),
        "parameters": parameters,
        "results": {},
        "phases_s": {},
    }
    run_and_report(
        doc,
        lambda: run_all(params, postgres, args.only, doc),
        postgres=postgres,
        max_seconds=args.max_seconds,
        json_only=args.json_only,
        targets=targets,
        tables=print_tables,
    )


if __name__ == "__main__":
    main()
