"""The benchmarks' embedder: vectors for their synthetic memories computed once, what one core
embeds per second, and how long the model takes to load.

Embedding 100k memories with the shipped model (``onnx:minilm``) takes minutes, so
:func:`embed_all` computes each distinct text once, in ``workers`` processes, each with its
own embedder running on one thread (an onnxruntime session with one intra-op thread: two
processes of two threads each on two cores would fight over them). The vectors are kept on
disk (``CACHE``, one file per embedder) so the next run, or the next benchmark over the same
corpus (``bench.recall`` and ``bench.ask`` share one), reuses them; a few cached vectors are
computed again each time and compared, so a cache from another model, pipeline or CPU is
noticed and thrown away rather than used.

:func:`make` builds the embedder a ``CLOUDBRAIN_EMBEDDER`` spec names, with a given number of
onnxruntime threads; :func:`throughput` and :func:`load_seconds` time it.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.progress import positive, progress
from cloudbrain.memory.embedding import Embedder, make_embedder
from cloudbrain.memory.onnx_embedder import SHIPPED, OnnxEmbedder
from cloudbrain.memory.records import MemoryRecord

Matrix = npt.NDArray[np.float32]

DEFAULT_SPEC = "onnx:minilm"  # what the server and the agents use unless told otherwise
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cloudbrain-bench"
CHUNK = 512  # texts per job of a worker process
CHECKED = 8  # cached vectors computed again on each use, to tell a stale cache
TOLERANCE = 1e-3  # how far a recomputed vector may be from its cached copy (int8 kernels vary)
LOAD_RUNS = 3  # fresh processes timed loading the model
DIGEST = 16  # bytes of a text's hash, the key of its cached vector
PROGRESS_EVERY = 30.0  # seconds between progress lines while embedding
PASSES = 3  # timed passes over the texts, for embeddings per second per core


def make(spec: str, threads: int | None = None) -> Embedder:
    """The embedder ``spec`` names, as the server makes it. With ``threads``, an ONNX model is
    loaded afresh (not the process's shared copy) into a session of that many intra-op
    threads; other embedders run on one thread anyway."""
    embedder = make_embedder(spec)
    if threads is None or not isinstance(embedder, OnnxEmbedder):
        return embedder
    import onnxruntime

    rest = spec.strip().partition(":")[2]
    if rest in SHIPPED:  # make_embedder checked both files' hashes
        model, tokenizer = SHIPPED[rest].model.locate(), SHIPPED[rest].tokenizer.locate()
    else:
        model = Path(rest).expanduser()
        tokenizer = model.with_name("tokenizer.json")
    fresh = OnnxEmbedder(model, tokenizer, embedder.name)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # OnnxEmbedder's own session has one intra-op thread; it is swapped for one of
    # ``threads`` threads, the rest (tokenizer, batching, pooling) kept.
    fresh._session = onnxruntime.InferenceSession(
        str(model), options, providers=["CPUExecutionProvider"]
    )
    return fresh


# --- vectors for many texts, once ------------------------------------------------------------


@dataclass
class Vectors:
    """Unit vectors for a list of texts (row i for text i), and how they were had."""

    matrix: Matrix
    embedder: str  # the name of their vector space, as records carry it
    texts: int
    distinct: int
    cached: int  # distinct texts whose vectors came from the cache
    computed: int
    seconds: float  # to compute those (and to read and write the cache)
    workers: int

    def report(self) -> dict[str, Any]:
        return {
            "embedder": self.embedder,
            "dims": int(self.matrix.shape[1]),
            "texts": self.texts,
            "distinct": self.distinct,
            "from_cache": self.cached,
            "computed": self.computed,
            "seconds": round(self.seconds, 1),
            "computed_per_s": round(self.computed / self.seconds) if self.computed else None,
            "workers": self.workers,
            "threads_per_worker": 1,
        }


def digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=DIGEST).digest()


@functools.cache
def _worker_embedder(spec: str) -> Embedder:
    return make(spec, threads=1)


def _embed_chunk(spec: str, texts: list[str]) -> Matrix:
    """In a worker process: the vectors of ``texts``, on one thread."""
    vectors = _worker_embedder(spec).embed(texts)
    return np.stack(vectors).astype(np.float32)


class Cache:
    """Vectors of one embedder by the digest of their text, in one ``.npz`` file."""

    def __init__(self, folder: Path | None, name: str) -> None:
        safe = "".join(c if c.isalnum() or c in "-." else "_" for c in name)
        self.path = None if folder is None else folder / f"vectors-{safe}.npz"
        self.keys: list[bytes] = []
        self.rows: list[Matrix] = []
        self.row_of: dict[bytes, int] = {}

    def load(self) -> None:
        if self.path is None or not self.path.is_file():
            return
        try:
            with np.load(self.path, allow_pickle=False) as data:
                keys, matrix = data["keys"], data["vectors"].astype(np.float32)
        except (OSError, ValueError, KeyError) as exc:
            progress(f"vectors: ignoring the unreadable cache {self.path}: {exc}")
            return
        if keys.dtype != np.uint8 or keys.shape[1:] != (DIGEST,):
            progress(f"vectors: ignoring the cache {self.path}, of an older layout")
            return
        self.keys = [k.tobytes() for k in keys]
        self.rows = list(matrix)
        self.row_of = {k: i for i, k in enumerate(self.keys)}

    def check(self, spec: str, texts: Sequence[str], seed: int = 0) -> bool:
        """Whether a few cached vectors of ``texts`` are what the embedder gives now."""
        known = [t for t in dict.fromkeys(texts) if digest(t) in self.row_of]
        if not known:
            return True
        sample = random.Random(seed).sample(known, min(CHECKED, len(known)))
        fresh = _embed_chunk(spec, sample)
        cached = np.stack([self.rows[self.row_of[digest(t)]] for t in sample])
        return bool(np.allclose(fresh, cached, atol=TOLERANCE))

    def forget(self) -> None:
        self.keys, self.rows, self.row_of = [], [], {}

    def put(self, texts: Sequence[str], matrix: Matrix) -> None:
        for text, row in zip(texts, matrix, strict=True):
            key = digest(text)
            if key not in self.row_of:
                self.row_of[key] = len(self.keys)
                self.keys.append(key)
                self.rows.append(row)

    def get(self, text: str) -> Matrix | None:
        row = self.row_of.get(digest(text))
        return None if row is None else self.rows[row]

    def save(self) -> None:
        if self.path is None or not self.keys:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(f".{os.getpid()}.tmp.npz")
        # Bytes, not numpy's S16 strings, which drop a digest's trailing zero bytes.
        keys = np.frombuffer(b"".join(self.keys), dtype=np.uint8).reshape(-1, DIGEST)
        np.savez(partial, keys=keys, vectors=np.stack(self.rows).astype(np.float32))
        os.replace(partial, self.path)  # whole or not at all, for a run reading it meanwhile


def embed_all(
    texts: Sequence[str],
    spec: str,
    *,
    workers: int | None = None,
    cache: Path | None = CACHE,
    label: str = "vectors",
) -> Vectors:
    """The vector of each text, as ``spec``'s embedder gives it, each distinct text embedded
    once, in ``workers`` processes (default: one per core) of one thread each, with a progress
    line on stderr about every 30 seconds. ``cache`` (None: no cache) is the folder where the
    vectors are kept for the next run."""
    workers = workers or os.cpu_count() or 1
    started = time.perf_counter()
    name = make_embedder(spec).name
    store = Cache(cache, name)
    store.load()
    distinct = list(dict.fromkeys(texts))
    if store.keys and not store.check(spec, distinct):
        progress(f"{label}: the cached {name} vectors differ from the model's now: not used")
        store.forget()
    missing = [t for t in distinct if store.get(t) is None]
    cached = len(distinct) - len(missing)
    progress(
        f"{label}: {len(texts):,} texts, {len(distinct):,} distinct, {cached:,} vectors cached; "
        f"embedding {len(missing):,} with {name} in {workers} processes of 1 thread…"
    )
    if missing:
        computing = time.perf_counter()
        done, shown = 0, time.perf_counter()
        for chunk, matrix in _computed(spec, missing, workers):
            store.put(chunk, matrix)
            done += len(chunk)
            if time.perf_counter() - shown >= PROGRESS_EVERY or done == len(missing):
                shown = time.perf_counter()
                rate = done / (shown - computing)
                left = (len(missing) - done) / rate if rate else 0.0
                progress(
                    f"{label}: {done:,}/{len(missing):,} embedded ({rate:,.0f}/s, "
                    f"{left:,.0f} s to go)"
                )
        store.save()
    rows = [store.get(t) for t in texts]
    matrix = np.stack([r for r in rows if r is not None]).astype(np.float32)
    assert len(matrix) == len(texts)
    return Vectors(
        matrix=matrix,
        embedder=name,
        texts=len(texts),
        distinct=len(distinct),
        cached=cached,
        computed=len(missing),
        seconds=time.perf_counter() - started,
        workers=workers,
    )


def _computed(spec: str, texts: list[str], workers: int) -> Iterator[tuple[list[str], Matrix]]:
    chunks = [texts[i : i + CHUNK] for i in range(0, len(texts), CHUNK)]
    if workers == 1:
        for chunk in chunks:
            yield chunk, _embed_chunk(spec, chunk)
        return
    context = multiprocessing.get_context("spawn")  # no fork of a process with an event loop
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield from zip(chunks, pool.map(_embed_chunk, [spec] * len(chunks), chunks), strict=True)


def with_vectors(
    records: Iterator[MemoryRecord] | Sequence[MemoryRecord], vectors: Matrix, name: str
) -> Iterator[MemoryRecord]:
    """The records, each carrying its precomputed vector, so that a store whose embedder is
    ``name`` keeps it rather than embedding the record again."""
    for record, vector in zip(records, vectors, strict=False):
        yield record.model_copy(update={"embedding": vector.tolist(), "embedder": name})


# --- what the model costs --------------------------------------------------------------------


def throughput(
    spec: str, texts: Sequence[str], queries: Sequence[str], passes: int = PASSES
) -> dict[str, Any]:
    """Embeddings per second of one core (the embedder on one thread: for ONNX, a session of
    one intra-op thread) over ``texts`` in one call (batches of 32 texts of similar length,
    as ``OnnxEmbedder.embed`` makes them), the best of ``passes`` calls (on a shared machine
    the others measure the neighbours too; all are given); and the time of one query at a
    time, both on one thread and as the server runs it (its shared embedder, onnxruntime's
    default threads)."""
    single = make(spec, threads=1)
    single.embed(list(texts[:32]))  # first call: kernels chosen, buffers allocated
    rates = []
    for _ in range(passes):
        started = time.perf_counter()
        single.embed(list(texts))
        rates.append(len(texts) / (time.perf_counter() - started))
    best = max(rates)

    def query_ms(embedder: Embedder) -> dict[str, float]:
        embedder.embed([queries[0]])
        ms = []
        for query in queries:
            began = time.perf_counter()
            embedder.embed([query])
            ms.append((time.perf_counter() - began) * 1000)
        ms.sort()
        return {
            "p50_ms": round(statistics.median(ms), 2),
            "p95_ms": round(ms[max(0, int(len(ms) * 0.95 + 0.5) - 1)], 2),
        }

    return {
        "texts": len(texts),
        "mean_chars": round(sum(map(len, texts)) / len(texts), 1),
        "per_s_per_core": round(best, 1),
        "ms_per_text": round(1000 / best, 2),
        "per_s_each_pass": [round(r, 1) for r in rates],
        "query_one_thread": query_ms(single),
        "query_as_served": query_ms(make(spec)),
        "queries": len(queries),
    }


LOAD_SCRIPT = """
import json, sys, time
began = time.perf_counter()
from cloudbrain.memory.embedding import make_embedder
imported = time.perf_counter()
embedder = make_embedder(sys.argv[1])
loaded = time.perf_counter()
embedder.embed(["how long does the model take to load?"])
done = time.perf_counter()
print(json.dumps({"import": imported - began, "load": loaded - imported, "first": done - loaded}))
"""


def load_seconds(spec: str, runs: int = LOAD_RUNS) -> dict[str, Any]:
    """How long a fresh process takes to load the embedder (``make_embedder``: for the shipped
    model, the files' hash check, the tokenizer and the onnxruntime session), beside importing
    the package and the first embedding; the median of ``runs`` processes. The model's file is
    in the page cache after the first run, as on a server restarted on the same machine."""
    found: dict[str, list[float]] = {"import": [], "load": [], "first": []}
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", LOAD_SCRIPT, spec],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        for key, value in json.loads(done.stdout.strip().splitlines()[-1]).items():
            found[key].append(value)
    return {
        "runs": runs,
        "load_s": round(statistics.median(found["load"]), 3),
        "import_s": round(statistics.median(found["import"]), 3),
        "first_embed_s": round(statistics.median(found["first"]), 3),
        "load_s_each": [round(v, 3) for v in found["load"]],
    }


def add_vector_options(parser: argparse.ArgumentParser) -> None:
    """The options of the benchmarks that embed a corpus: workers and the vector cache."""
    parser.add_argument(
        "--embed-workers",
        type=positive(int),
        default=os.cpu_count() or 1,
        help="processes (of one thread each) computing the memories' vectors before the run "
        "(default: one per core, %(default)s)",
    )
    parser.add_argument(
        "--vector-cache",
        default=str(CACHE),
        metavar="DIR",
        help="folder where the memories' vectors are kept between runs (bench.recall and "
        "bench.ask share it; a few are computed again each run to tell a stale cache) "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--no-vector-cache",
        action="store_true",
        help="compute every vector again, and keep none",
    )
