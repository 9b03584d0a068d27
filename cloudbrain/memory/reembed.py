"""Embedding again the memories whose vectors are not in the store's own space.

Memories stored while the embedder was away have no vector; memories stored under another
embedder (the hashing fallback, an earlier model) have vectors recall cannot compare with the
question's. Both are still found by their words, not by their meaning, until they are embedded
again. A server does that in the background after it starts: a page at a time, the model
running in a worker thread and each page written in a short transaction of its own, so the
hub's event loop and its writers are never held up for long. It can stop at any point and
start over: what was done is done, and only what is left is read again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from sqlalchemy import bindparam, func, select, update

from cloudbrain.db.engine import write_transaction
from cloudbrain.db.models import memories
from cloudbrain.memory.embedding import normalized, to_bytes
from cloudbrain.memory.store import MemoryStore, outside

log = logging.getLogger(__name__)
PAGE = 256  # memories embedded per model call and written per transaction
REPORT_EVERY = 10.0  # seconds between progress lines

Progress = Callable[[int, int], None]  # (done, total)


async def pending(store: MemoryStore) -> int:
    """How many memories have no vector in the store's space."""
    assert store.embedder is not None
    async with store.engine.connect() as conn:
        return int(
            await conn.scalar(
                select(func.count()).select_from(memories).where(outside(store.embedder.name))
            )
            or 0
        )


async def reembed(
    store: MemoryStore, progress: Progress | None = None, stopping: asyncio.Event | None = None
) -> int:
    """Embed every memory that has no vector in the store's space, page by page until done or
    ``stopping`` is set (the next start goes on from there); return how many were."""
    if store.embedder is None:
        return 0
    embedder, space = store.embedder, store.embedder.name
    total = await pending(store)
    if not total:
        return 0
    log.info("embedding %d memories again with %s, in the background", total, space)
    done, after, reported = 0, 0, time.monotonic()
    while stopping is None or not stopping.is_set():
        async with store.engine.connect() as conn:
            page = list(
                await conn.execute(
                    select(memories.c.seq, memories.c.content)
                    .where(memories.c.seq > after, outside(space))
                    .order_by(memories.c.seq)
                    .limit(PAGE)
                )
            )
        if not page:
            break
        vectors = await asyncio.to_thread(embedder.embed, [row.content for row in page])
        async with write_transaction(store.engine) as conn:
            await conn.execute(
                update(memories)
                .where(memories.c.seq == bindparam("row"))
                .values(embedding=bindparam("vector"), embedder=space),
                [
                    {"row": row.seq, "vector": to_bytes(normalized(vector))}
                    for row, vector in zip(page, vectors, strict=True)
                ],
            )
        await store.reindex([row.seq for row in page])
        done, after = done + len(page), page[-1].seq
        if progress is not None:
            progress(done, total)
        if time.monotonic() - reported >= REPORT_EVERY:
            log.info("embedded %d of %d memories again with %s", done, total, space)
            reported = time.monotonic()
    if stopping is not None and stopping.is_set():
        log.info(
            "stopped after embedding %d of %d memories again; the next start goes on", done, total
        )
    else:
        await store.all_embedded()
        log.info("embedded %d memories again with %s: recall finds them by meaning", done, space)
    return done
