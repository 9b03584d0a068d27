"""The agent's memory on its own device: a SQLite file it can read and write with no network.

It has the same schema as the server's database, and the same embedder by default (the shipped
model; see :mod:`cloudbrain.memory.onnx_embedder`), so the same recall runs on both. What the
agent learns goes here first; :mod:`sync` carries it to the server and brings back what the
same AI learned on other devices.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from cloudbrain.db import create_engine, sqlite_url, upgrade
from cloudbrain.files import private_folder, write_atomically
from cloudbrain.memory.embedding import (
    DEFAULT_SPEC,
    Embedder,
    available_embedder,
    lexical_warning,
)
from cloudbrain.memory.store import MemoryStore

log = logging.getLogger(__name__)


@dataclass
class SyncCursors:
    pushed: int = 0  # local position up to which memories reached the server
    pulled: int = 0  # server position up to which memories were copied here


class LocalMemory:
    def __init__(self, folder: Path, embedder: str = DEFAULT_SPEC) -> None:
        self.folder = folder
        self.embedder_spec = embedder
        self.url = sqlite_url(folder / "memory.db")
        self._cursor_file = folder / "sync.json"
        self.store: MemoryStore | None = None
        self._embedder: Embedder | None = None

    async def load_embedder(self) -> Embedder:
        """Load (and try) the embedder. It writes nothing, so it can come before the token is
        known to be good; an agent loads it before it says it takes questions, since loading
        a model takes a while and the first question should not wait for it."""
        if self._embedder is None:
            embedder, why_not = await asyncio.to_thread(available_embedder, self.embedder_spec)
            if why_not:
                log.warning("%s", lexical_warning(self.embedder_spec, why_not))
            self._embedder = embedder
        return self._embedder

    async def open(self) -> MemoryStore:
        private_folder(self.folder)  # 0700: this AI's memories are nobody else's to read
        await asyncio.to_thread(upgrade, self.url)
        self.store = MemoryStore(create_engine(self.url), await self.load_embedder())
        return self.store

    async def close(self) -> None:
        if self.store is not None:
            await self.store.engine.dispose()

    def cursors(self) -> SyncCursors:
        try:
            return SyncCursors(**json.loads(self._cursor_file.read_text()))
        except FileNotFoundError:
            return SyncCursors()

    def save_cursors(self, cursors: SyncCursors) -> None:
        write_atomically(self._cursor_file, json.dumps(asdict(cursors)))
