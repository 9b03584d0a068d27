"""Changing the embedder: memories embedded by another one are embedded again, in the
background, a page at a time, with progress, stopping between pages when the server stops;
recall then finds them by meaning."""

from __future__ import annotations

import asyncio
import dataclasses

from cloudbrain.db import create_engine, upgrade
from cloudbrain.memory.embedding import HashingEmbedder
from cloudbrain.memory.onnx_embedder import OnnxEmbedder
from cloudbrain.memory.records import MemoryRecord
from cloudbrain.memory.reembed import pending, reembed
from cloudbrain.memory.store import MemoryStore
from cloudbrain.server import Server
from cloudbrain.settings import Settings

FACT = "Expense reports must be submitted within 30 days of the purchase."
QUESTION = "What is the deadline for filing reimbursement claims?"


async def test_memories_of_another_embedder_are_embedded_again(db_url: str) -> None:
    await asyncio.to_thread(upgrade, db_url)
    engine = create_engine(db_url)
    try:
        others = [
            MemoryRecord(ai="ada", content=f"note number {i} about lunch") for i in range(600)
        ]
        fact = MemoryRecord(ai="ada", content=FACT)
        await MemoryStore(engine, HashingEmbedder()).add([*others, fact])
        await MemoryStore(engine).add([MemoryRecord(ai="ada", content="stored with no vector")])

        store = MemoryStore(engine, OnnxEmbedder.shipped())
        await store.load_index()  # as a server does first: the index sees what is redone
        assert await pending(store) == 602
        # Until they are embedded again, memories with one of a question's words are sought
        # by words: their vectors cannot be compared with the question's.
        partly = "Where do the expense reports of the lunch team go?"
        assert fact.id in [r.memory.id for r in await store.search(partly, limit=10)]
        # A server stopping meanwhile: the page in hand is finished, the rest left for later.
        stopping = asyncio.Event()
        assert await reembed(store, lambda done, total: stopping.set(), stopping) == 256
        assert await pending(store) == 346
        seen: list[tuple[int, int]] = []
        assert await reembed(store, lambda done, total: seen.append((done, total))) == 346
        assert seen == [(256, 346), (346, 346)]  # pages of 256
        assert await pending(store) == 0
        again = await store.get(fact.id)
        assert again is not None and again.embedder == "onnx:all-MiniLM-L6-v2-int8"
        [best] = await store.search(QUESTION, limit=1)
        assert best.memory.id == fact.id and best.why["similarity"] > 0.4
        # Now meaning finds them all, and words only what has every word of a question.
        assert all(r.why["lexical"] == 0.0 for r in await store.search(partly, limit=10))
        assert await reembed(store) == 0  # nothing left: nothing done
    finally:
        await engine.dispose()


async def test_a_server_embeds_again_at_start_but_not_with_a_stand_in(settings: Settings) -> None:
    await asyncio.to_thread(upgrade, settings.db_url)
    engine = create_engine(settings.db_url)
    try:
        await MemoryStore(engine, HashingEmbedder()).add([MemoryRecord(ai="ada", content=FACT)])
    finally:
        await engine.dispose()
    # An embedder that cannot load: hashing stands in, and its vectors replace nothing.
    broken = dataclasses.replace(settings, embedder="onnx:/nonexistent/model.onnx")
    async with Server(broken) as server:
        assert server.hub is not None
        assert server.hub.asks.memory.embedder is not None
        assert server.hub.asks.memory.embedder.name == "hashing-512"
    async with Server(settings) as server:
        assert server.hub is not None
        memory = server.hub.asks.memory
        for _ in range(200):
            if await pending(memory) == 0:
                break
            await asyncio.sleep(0.05)
        assert await pending(memory) == 0
        [best] = await memory.search(QUESTION, limit=1)
        assert best.memory.content == FACT and "similarity" in best.why
