"""Embedders turn text into vectors for semantic recall.

The default is a real sentence-embedding model that ships with the project and runs on the
CPU (:mod:`cloudbrain.memory.onnx_embedder`): it finds text that says the same in other words.
An embedding model served by Ollama (:class:`OllamaEmbedder`) or run by sentence-transformers
can stand in for it. The built-in :class:`HashingEmbedder` needs nothing at all: it hashes
words, word pairs and character trigrams into a fixed number of dimensions (the "hashing
trick"), so it matches shared stems and fragments, not meanings; it is the fallback, and recall
with it is lexical. :func:`make_embedder` builds the one the ``CLOUDBRAIN_EMBEDDER`` setting
names; :func:`available_embedder` falls back to hashing when that one cannot embed.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from cloudbrain.errors import CloudBrainError
from cloudbrain.memory.text import stem
from cloudbrain.memory.text import words as text_words

Vector = npt.NDArray[np.float32]

DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"
OLLAMA_BATCH = 64  # texts per /api/embed request: few round trips, bounded request size


class Embedder(Protocol):
    @property
    def name(self) -> str:
        """Identifies the vector space: vectors from differently named embedders never mix."""
        ...

    def embed(self, texts: Sequence[str]) -> list[Vector]: ...


class HashingEmbedder:
    def __init__(self, dims: int = 512) -> None:
        self.dims = dims

    @property
    def name(self) -> str:
        return f"hashing-{self.dims}"

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        return [self._one(text) for text in texts]

    def _one(self, text: str) -> Vector:
        vector = np.zeros(self.dims, dtype=np.float32)
        words = [stem(w) for w in text_words(text)]
        features = [*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))]
        for word in words:
            padded = f" {word} "
            features += [padded[i : i + 3] for i in range(len(padded) - 2)]
        for feature in features:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            index = int.from_bytes(digest[:4], "little") % self.dims
            # A second hash picks the sign, so unrelated features cancel out on average.
            vector[index] += 1.0 if digest[4] & 1 else -1.0
        return normalized(vector)


class EmbedderUnavailable(CloudBrainError):
    """The configured embedder cannot embed right now; ``hint`` says how to fix that."""


class OllamaEmbedder:
    """Embeddings from a model served by Ollama (``/api/embed``), in batches.

    The client is synchronous because :class:`MemoryStore` calls ``embed`` synchronously; on
    the server that call blocks the event loop for as long as Ollama takes (at most
    ``timeout`` seconds per batch), which is why the timeout is a parameter.
    """

    def __init__(self, url: str, model: str, timeout: float = 30.0) -> None:
        import ollama  # here, so importing the memory store does not load the HTTP client

        self.url = url
        self.model = model
        self.timeout = timeout
        self._client = ollama.Client(host=url, timeout=timeout)

    @property
    def name(self) -> str:
        # Without the URL: the same model gives the same vectors wherever it runs.
        return f"ollama:{self.model}"

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        vectors: list[Vector] = []
        for start in range(0, len(texts), OLLAMA_BATCH):
            vectors += self._batch(texts[start : start + OLLAMA_BATCH])
        return vectors

    def _batch(self, texts: Sequence[str]) -> list[Vector]:
        import httpx
        import ollama

        try:
            embeddings = self._client.embed(model=self.model, input=list(texts)).embeddings
        except (ollama.ResponseError, ConnectionError, httpx.HTTPError) as exc:
            raise self._unavailable(exc) from exc
        if len(embeddings) != len(texts):
            raise EmbedderUnavailable(
                f"Ollama at {self.url} returned {len(embeddings)} embeddings for "
                f"{len(texts)} texts",
                hint=f"is {self.model!r} an embedding model? `ollama show {self.model}` says",
            )
        return [normalized(np.asarray(e, dtype=np.float32)) for e in embeddings]

    def _unavailable(self, exc: Exception) -> EmbedderUnavailable:
        """Why Ollama could not embed, and what to do about it."""
        import httpx
        import ollama

        if isinstance(exc, ollama.ResponseError) and exc.status_code == 404:
            return EmbedderUnavailable(
                f"Ollama at {self.url} does not have the model {self.model!r}",
                hint=f"run `ollama pull {self.model}`",
            )
        if isinstance(exc, ollama.ResponseError):
            return EmbedderUnavailable(
                f"Ollama at {self.url} failed to embed with {self.model!r}: "
                f"{exc.error} (HTTP {exc.status_code})",
                hint=f"is {self.model!r} an embedding model? Ollama's log says more",
            )
        if isinstance(exc, httpx.TimeoutException):
            return EmbedderUnavailable(
                f"Ollama at {self.url} did not answer within {self.timeout:g}s",
                hint="the first call waits for the model to load; is the machine overloaded?",
            )
        return EmbedderUnavailable(
            f"Ollama is not reachable at {self.url}",
            hint="start it with `ollama serve`, or check the URL in CLOUDBRAIN_EMBEDDER",
        )


class SentenceTransformerEmbedder:
    """Embeddings from a sentence-transformers model, run in this process.

    An optional extra: the package (and torch) are imported only when this is built, and their
    absence is an :class:`EmbedderUnavailable`, not an import error at startup.
    """

    def __init__(self, model_name: str) -> None:
        try:
            from sentence_transformers import (  # type: ignore[import-not-found,unused-ignore]
                SentenceTransformer,
            )
        except ImportError as exc:
            raise EmbedderUnavailable(
                "sentence-transformers is not installed",
                hint="`pip install sentence-transformers`, or use hashing or ollama:MODEL",
            ) from exc
        # Offline: a model that is not on this machine fails at once instead of after a minute
        # of download retries. Recall never reaches out to the network.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            self._model = SentenceTransformer(model_name)
        except OSError as exc:  # unknown model, or not downloaded
            raise EmbedderUnavailable(
                f"cannot load the sentence-transformers model {model_name!r}: {exc}",
                hint="download it once with HF_HUB_OFFLINE=0, or use onnx:minilm (shipped)",
            ) from exc
        self.model_name = model_name

    @property
    def name(self) -> str:
        return f"st:{self.model_name}"

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        if not texts:
            return []
        matrix = self._model.encode(list(texts), convert_to_numpy=True, normalize_embeddings=True)
        return [normalized(np.asarray(row, dtype=np.float32)) for row in matrix]


MAX_NAME = 64  # the length of memories.embedder, where each vector's space is recorded
DEFAULT_SPEC = "onnx:minilm"
SPEC_FORMS = (
    "onnx:minilm (shipped), onnx:PATH, hashing, hashing:DIMS, ollama:MODEL, "
    "ollama:MODEL@URL, st:MODEL"
)


def make_embedder(spec: str) -> Embedder:
    """The embedder a spec (the ``CLOUDBRAIN_EMBEDDER`` setting) names: ``onnx:minilm`` (the
    default: the model shipped with the project), ``onnx:PATH`` (a ``.onnx`` file with its
    ``tokenizer.json`` beside it), ``hashing``, ``hashing:DIMS``, ``ollama:MODEL``,
    ``ollama:MODEL@URL`` (default URL http://127.0.0.1:11434) or ``st:MODEL``. Models run in
    this process are loaded here; Ollama is not called: :func:`available_embedder` checks
    that the embedder works.

    A spec that is none of these is a ``ValueError``: a typo in the configuration should
    stop the server, not quietly change how memories are found.
    """
    kind, _, rest = spec.strip().partition(":")
    if kind != "onnx" and len(f"{kind}:{rest.partition('@')[0]}") > MAX_NAME:
        raise ValueError(f"embedder {spec!r}: the name must fit in {MAX_NAME} characters")
    if kind == "hashing":
        return HashingEmbedder(_dims(rest)) if rest else HashingEmbedder()
    if kind == "onnx" and rest:
        from cloudbrain.memory.onnx_embedder import SHIPPED, OnnxEmbedder

        if rest in SHIPPED:
            return OnnxEmbedder.shipped(SHIPPED[rest])
        return OnnxEmbedder.from_path(Path(rest).expanduser())
    if kind == "ollama" and rest:
        model, _, url = rest.partition("@")  # tags (nomic-embed-text:v1.5) keep their colon
        if model:
            return OllamaEmbedder(url or DEFAULT_OLLAMA_URL, model)
    if kind == "st" and rest:
        return SentenceTransformerEmbedder(rest)
    raise ValueError(f"unknown embedder {spec!r}; use one of: {SPEC_FORMS}")


def _dims(text: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise ValueError(f"hashing:DIMS needs a positive whole number of dimensions, not {text!r}")
    return int(text)


def available_embedder(spec: str) -> tuple[Embedder, str | None]:
    """The embedder ``spec`` names if it embeds a tiny text now, with None; otherwise a
    :class:`HashingEmbedder` and the reason, for the caller to log.

    It tries once, so a server starts even when Ollama is down. Falling back changes the
    vector space (the embedder's ``name``): recall then compares the question only with
    memories embedded in the same space. Memories embedded by the other embedder are still
    found by their words (full-text search), not by their meaning; and memories stored
    during a fallback keep their hashing vectors after the configured embedder is back.
    A bad spec still raises ``ValueError`` (see :func:`make_embedder`).
    """
    try:
        embedder = make_embedder(spec)
        embedder.embed(["ping"])
    except EmbedderUnavailable as exc:
        reason = f"{exc} ({exc.hint})" if exc.hint else str(exc)
        return HashingEmbedder(), reason
    return embedder, None


def lexical_warning(spec: str, why_not: str) -> str:
    """What to log, loudly, when ``spec`` could not embed and hashing stands in for it."""
    return (
        f"embedder {spec!r} unavailable ({why_not}). RECALL IS LEXICAL: memories are found by "
        "their words, not their meaning, until it works"
    )


def normalized(vector: Vector) -> Vector:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


def to_bytes(vector: Sequence[float] | Vector) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(data: bytes) -> Vector:
    return np.frombuffer(data, dtype="<f4")
