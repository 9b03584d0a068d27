"""Embedders turn text into vectors for semantic recall.

The built-in :class:`HashingEmbedder` needs nothing installed: it hashes words, word pairs and
character trigrams into a fixed number of dimensions (the "hashing trick"). It finds reworded
text that shares stems and fragments, not true synonyms; Ollama's embed API and
sentence-transformers do that, and are used when available.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from cloudbrain.memory.text import words as text_words

Vector = npt.NDArray[np.float32]


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
        words = [_stem(w) for w in text_words(text)]
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


def normalized(vector: Vector) -> Vector:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


def _stem(word: str) -> str:
    """A crude suffix stripper, enough for "learned"/"learning"/"learns" to meet."""
    for suffix in ("ingly", "edly", "ing", "ed", "es", "ly", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def to_bytes(vector: Sequence[float] | Vector) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(data: bytes) -> Vector:
    return np.frombuffer(data, dtype="<f4")
