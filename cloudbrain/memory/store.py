"""Storing memories and finding them again, on SQLite or PostgreSQL.

Recall is hybrid. Full-text search (:mod:`fulltext`: SQLite FTS5, PostgreSQL ``tsvector``,
both scored by BM25) finds memories that share words with the question (beside a semantic
model, only those with all of them); cosine similarity of embeddings, over every stored memory
(:class:`VectorIndex`, loaded from the database at the first search and kept up to date by
:meth:`MemoryStore.add`), finds reworded ones; :mod:`ranking` adds the two up, less each
candidate's crowding, importance and recency breaking ties. Filters (agent, session, device, kind, conversation, time range) apply to both: in
SQL and in the index.

The index sees what this store adds. Another process writing to the same database (a second
server node) is not seen until a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudbrain.db.engine import write_transaction
from cloudbrain.db.models import memories
from cloudbrain.memory.embedding import (
    Embedder,
    EmbedderUnavailable,
    Vector,
    from_bytes,
    normalized,
    to_bytes,
)
from cloudbrain.memory.fulltext import FullText
from cloudbrain.memory.ranking import (
    Candidate,
    crowding,
    crowding_weight,
    lexical_weight,
    rank,
    semantic,
)
from cloudbrain.memory.records import Kind, MemoryRecord
from cloudbrain.memory.vectors import IndexedMemory, Similar, VectorFilter, VectorIndex

log = logging.getLogger(__name__)
VECTOR_CANDIDATES = 200  # nearest memories by meaning, fused with the full-text ones
RECENT_QUERIES = 64  # query vectors kept for searches that repeat a question
LOAD_PAGE = 5000  # rows read per query while loading the vector index
CATCH_UP_OVERLAP = 1000  # positions read again by each catch-up


@dataclass(frozen=True)
class RecallFilter:
    ai: str | None = None
    session: str | None = None
    device: str | None = None
    kind: Kind | None = None
    conversation: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    include_superseded: bool = False  # facts replaced by newer ones are history, not answers

    def for_vectors(self) -> VectorFilter:
        equals = {
            name: value
            for name in ("ai", "session", "device", "kind", "conversation")
            if (value := getattr(self, name)) is not None
        }
        return VectorFilter(equals, self.since, self.until, self.include_superseded)

    def clauses(self) -> list[ColumnElement[bool]]:
        c = memories.c
        found: list[ColumnElement[bool]] = []
        for name in ("ai", "session", "device", "kind", "conversation"):
            value = getattr(self, name)
            if value is not None:
                found.append(c[name] == value)
        if self.since is not None:
            found.append(c.created_at >= self.since)
        if self.until is not None:
            found.append(c.created_at <= self.until)
        if not self.include_superseded:
            found.append(c.superseded_by.is_(None))
        return found


@dataclass(frozen=True)
class Recalled:
    memory: MemoryRecord
    score: float
    why: dict[str, float]


@dataclass
class Added:
    stored: list[str] = field(default_factory=list)  # new ids
    merged: list[str] = field(default_factory=list)  # known ids whose count or successor changed
    duplicates: list[str] = field(default_factory=list)  # known ids, nothing new


def merge(ours: tuple[int, str | None], theirs: tuple[int, str | None]) -> tuple[int, str | None]:
    """Combine two copies of one memory's changeable parts: how often it was seen (the larger
    count) and the memory that replaced it (the first one known). Order does not matter and
    repeating changes nothing, so copies synced in any order agree."""
    return max(ours[0], theirs[0]), ours[1] or theirs[1]


class MemoryStore:
    def __init__(self, engine: AsyncEngine, embedder: Embedder | None = None) -> None:
        self.engine = engine
        self.embedder = embedder
        self.fulltext = FullText(engine)
        self._index: VectorIndex | None = None
        self._loaded_upto = 0  # the highest position the index was loaded up to
        self._loading = asyncio.Lock()
        self._recent_queries: OrderedDict[str, Vector] = OrderedDict()
        # Whether some memories have no vector in the index's space (stored while the model
        # failed, or by another one and not yet embedded again): only words can find those.
        # Known once the index is loaded; a search that loaded it looks again if it must.
        self._unindexed = False

    async def add(self, records: Sequence[MemoryRecord]) -> Added:
        """Store records by union: new ids are stored; a known id is merged (see :func:`merge`).
        Adding the same records again, in any order, on any copy, converges to one state."""
        result = Added()
        if not records:
            return result
        vectors = await self._embed_missing(records)
        async with write_transaction(self.engine) as conn:
            # (Not ``row.count``: on a row, that is the tuple method, not the column.)
            known: dict[str, tuple[int, str | None]] = {
                memory_id: (count, successor)
                for memory_id, count, successor in await conn.execute(
                    select(memories.c.id, memories.c.count, memories.c.superseded_by).where(
                        memories.c.id.in_([r.id for r in records])
                    )
                )
            }
            rows, changed = [], []
            for record in records:
                if record.id in known:
                    merged = merge(known[record.id], (record.count, record.superseded_by))
                    if merged == known[record.id]:
                        result.duplicates.append(record.id)
                        continue
                    # A changed row is stored again, so it gets a new position and sync
                    # carries the change to the other copies.
                    changed.append(record.id)
                    result.merged.append(record.id)
                    record = record.model_copy(
                        update={"count": merged[0], "superseded_by": merged[1]}
                    )
                else:
                    result.stored.append(record.id)
                known[record.id] = (record.count, record.superseded_by)
                rows.append(_row(record, vectors.get(record.id)))
            if changed:
                await conn.execute(delete(memories).where(memories.c.id.in_(changed)))
            if rows:
                await conn.execute(memories.insert(), rows)
                inserted = list(
                    await conn.execute(
                        _INDEXED.where(memories.c.id.in_([row["id"] for row in rows]))
                    )
                )
        # Looked at only now that the rows are committed: an index made earlier gets them
        # here, one made later reads them from the database while loading.
        if rows and self._index is not None:
            space = self._index.space
            await asyncio.to_thread(self._index.add, _indexed(inserted, space))
            self._unindexed |= any(row.embedder != space for row in inserted)
        return result

    async def reindex(self, seqs: Sequence[int]) -> None:
        """Bring the index up to date with these rows, whose vectors were just changed."""
        if self._index is None or not seqs:
            return
        async with self.engine.connect() as conn:
            rows = list(await conn.execute(_INDEXED.where(memories.c.seq.in_(seqs))))
        await asyncio.to_thread(self._index.add, _indexed(rows, self._index.space))

    async def get(self, memory_id: str) -> MemoryRecord | None:
        async with self.engine.connect() as conn:
            row = (
                (await conn.execute(select(memories).where(memories.c.id == memory_id)))
                .mappings()
                .first()
            )
        return _record(row) if row else None

    async def current_facts(self, ai: str, key: str) -> list[MemoryRecord]:
        """The facts of ``ai`` about ``key`` that no newer fact has replaced."""
        async with self.engine.connect() as conn:
            rows = (
                (
                    await conn.execute(
                        select(memories).where(
                            memories.c.ai == ai,
                            memories.c.kind == "fact",
                            memories.c.fact_key == key,
                            memories.c.superseded_by.is_(None),
                        )
                    )
                )
                .mappings()
                .all()
            )
        return [_record(row) for row in rows]

    async def _embed_missing(self, records: Sequence[MemoryRecord]) -> dict[str, tuple[bytes, str]]:
        vectors: dict[str, tuple[bytes, str]] = {}
        # A vector from another embedder (another device's, an older model's) is one this
        # store's recall cannot compare with: embed such records again, in this store's space.
        own = self.embedder.name if self.embedder is not None else None
        missing = [r for r in records if r.embedding is None or (own and r.embedder != own)]
        again = {r.id for r in missing}
        for record in records:
            if record.embedding is not None and record.embedder and record.id not in again:
                # Stored unit-length, so that recall's dot product is the cosine.
                unit = normalized(np.asarray(record.embedding, dtype=np.float32))
                vectors[record.id] = (to_bytes(unit), record.embedder)
        if missing and self.embedder is not None:
            found = await self._embed([r.content for r in missing])
            for record, vector in zip(missing, found or [], strict=False):
                vectors[record.id] = (to_bytes(normalized(vector)), self.embedder.name)
        return vectors

    async def _embed(self, texts: list[str]) -> list[Vector] | None:
        """Vectors for ``texts``, computed off the event loop (an embedder may call a model
        server). None when the embedder is away: memories are still stored and found by their
        words, just not by meaning, until it is back."""
        assert self.embedder is not None
        try:
            return await asyncio.to_thread(self.embedder.embed, texts)
        except EmbedderUnavailable as exc:
            log.warning(
                "embedder %s unavailable, working by words only: %s", self.embedder.name, exc
            )
            return None

    async def search(
        self,
        query: str,
        where: RecallFilter = RecallFilter(),
        limit: int = 5,
        now: datetime | None = None,
    ) -> list[Recalled]:
        now = now or datetime.now(UTC)
        # Beside a model, memories with only some of the question's words are left to their
        # meaning (see ranking), unless some memories have no vector to be found by.
        any_word = self._unindexed or not semantic(self.embedder.name if self.embedder else None)
        # Words in the database and meaning in the index at the same time: each waits on
        # something other than this thread.
        found, (query_vector, nearest) = await asyncio.gather(
            self.fulltext.search(query, where.clauses(), any_word=any_word),
            self._nearest(query, where),
        )
        if not any_word and (query_vector is None or self._unindexed):
            # The model failed, or loading the index just found memories it cannot compare.
            found = await self.fulltext.search(query, where.clauses())
        lexical = dict(found)
        space = self.embedder.name if query_vector is not None and self.embedder else None
        similarity: dict[int, float] = {}
        crowded: dict[int, float] = {}
        if query_vector is not None and self._index is not None:
            similarity, crowded = await asyncio.to_thread(
                self._closeness,
                self._index,
                query_vector,
                list(lexical),
                [near.seq for near in nearest] + list(lexical) if crowding_weight(space) else [],
            )
        pool = {
            near.seq: Candidate(
                near.seq,
                lexical.get(near.seq),
                near.similarity,
                near.importance,
                near.created_at,
                crowded.get(near.seq, 0.0),
            )
            for near in nearest
        }
        unknown = [seq for seq in lexical if seq not in pool]
        if unknown:
            async with self.engine.connect() as conn:
                for seq, importance, created_at in await conn.execute(
                    select(memories.c.seq, memories.c.importance, memories.c.created_at).where(
                        memories.c.seq.in_(unknown)
                    )
                ):
                    pool[seq] = Candidate(
                        seq,
                        lexical[seq],
                        similarity.get(seq),
                        importance,
                        created_at,
                        crowded.get(seq, 0.0),
                    )
        best = rank(list(pool.values()), now, limit, lexical_weight(space), crowding_weight(space))
        if not best:
            return []
        async with self.engine.connect() as conn:
            rows = {
                row["seq"]: row
                for row in (
                    await conn.execute(
                        select(memories).where(memories.c.seq.in_([b.seq for b in best]))
                    )
                ).mappings()
            }
        return [Recalled(_record(rows[b.seq]), b.score, b.why) for b in best]

    @staticmethod
    def _closeness(
        index: VectorIndex, query: Vector, lexical: list[int], candidates: list[int]
    ) -> tuple[dict[int, float], dict[int, float]]:
        """The similarity to the query of the full-text matches, and the crowding (see
        :func:`ranking.crowding`) of every candidate, by seq."""
        similarity = index.similarity(query, lexical)
        found = index.vectors(dict.fromkeys(candidates))
        if not found:
            return similarity, {}
        crowd = crowding(np.stack(list(found.values())))
        return similarity, {seq: float(c) for seq, c in zip(found, crowd, strict=True)}

    async def _nearest(
        self, query: str, where: RecallFilter
    ) -> tuple[Vector | None, list[Similar]]:
        """The query's vector and the memories nearest to it in meaning."""
        query_vector = await self.query_vector(query)
        if query_vector is None:
            return None, []
        index = await self._vector_index(query_vector.size)
        nearest = await asyncio.to_thread(
            index.nearest, query_vector, where.for_vectors(), VECTOR_CANDIDATES
        )
        return query_vector, nearest

    async def load_index(self) -> None:
        """Load the vector index now, rather than at the first search (which would wait)."""
        probe = await self.query_vector("index")
        if probe is not None:
            await self._vector_index(probe.size)

    async def _vector_index(self, dims: int) -> VectorIndex:
        """The index of this store's vector space, loaded from the database on first use.
        The index exists (and :meth:`add` feeds it) before loading starts, so a memory stored
        meanwhile is not missed; searches wait until loading is done."""
        assert self.embedder is not None
        async with self._loading:
            if self._index is None:
                index = self._index = VectorIndex(self.embedder.name, dims)
                try:
                    await self._load(index)
                except BaseException:
                    self._index = None  # the next search tries again
                    raise
            return self._index

    async def catch_up(self) -> None:
        """Index what other server nodes stored since the index was loaded (in a cluster,
        their ``add`` does not reach this node's index). The newest :data:`CATCH_UP_OVERLAP`
        positions are read again each time: PostgreSQL can commit a position after a
        higher one was read."""
        if self._index is not None:
            await self._load(self._index, max(0, self._loaded_upto - CATCH_UP_OVERLAP))

    async def _load(self, index: VectorIndex, after: int = 0) -> None:
        started, since = time.perf_counter(), after
        async with self.engine.connect() as conn:
            while True:
                page = list(
                    await conn.execute(
                        _INDEXED.where(memories.c.seq > after, memories.c.embedder == index.space)
                        .order_by(memories.c.seq)
                        .limit(LOAD_PAGE)
                    )
                )
                await asyncio.to_thread(index.add, _indexed(page, index.space))
                if page:
                    self._loaded_upto = max(self._loaded_upto, page[-1].seq)
                if len(page) < LOAD_PAGE:
                    break
                after = page[-1].seq
        await self._look_for_unindexed(index.space, since)
        if since:
            return
        log.info(
            "vector index %s: %d memories loaded in %.1f s",
            index.space,
            len(index),
            time.perf_counter() - started,
        )

    async def _look_for_unindexed(self, space: str, after: int = 0) -> None:
        """Whether memories past position ``after`` (all of them: 0) have no vector in
        ``space``; looking at them all can clear the flag, looking at the newest only set it."""
        async with self.engine.connect() as conn:
            found = bool(
                await conn.scalar(
                    select(memories.c.seq).where(memories.c.seq > after, outside(space)).limit(1)
                )
            )
        self._unindexed = found if after == 0 else self._unindexed or found

    async def all_embedded(self) -> None:
        """Called once every memory was embedded again in the index's space (see
        :mod:`reembed`): memories with part of a question's words need not be sought."""
        if self._index is not None:
            await self._look_for_unindexed(self._index.space)

    async def query_vector(self, query: str) -> Vector | None:
        """The query's vector. The last few are kept: an ask searches with one question
        several times (everyone's memories, then each specialist's)."""
        if self.embedder is None or not query.strip():
            return None
        if (known := self._recent_queries.get(query)) is not None:
            self._recent_queries.move_to_end(query)
            return known
        found = await self._embed([query])
        if not found:
            return None
        vector = normalized(np.asarray(found[0], dtype=np.float32))
        self._recent_queries[query] = vector
        if len(self._recent_queries) > RECENT_QUERIES:
            self._recent_queries.popitem(last=False)
        return vector

    async def sessions_like(self, given: str, ai: str | None = None, most: int = 50) -> list[str]:
        """Sessions of stored memories (of ``ai``) whose id starts or ends with ``given``, as
        people copy a short session id from a list. ``given`` is hex digits and dashes, so
        it holds no LIKE wildcard."""
        text = given.strip().lower()
        mine = (memories.c.ai == ai,) if ai else ()
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(memories.c.session)
                .where(
                    (memories.c.session.like(f"{text}%")) | (memories.c.session.like(f"%{text}")),
                    *mine,
                )
                .distinct()
                .limit(most)
            )
            return [row[0] for row in rows]

    async def page(
        self,
        after: int = 0,
        limit: int = 500,
        where: RecallFilter = RecallFilter(include_superseded=True),
    ) -> tuple[list[MemoryRecord], int]:
        """Memories stored after position ``after``, in storage order, and the position to ask
        from next. Positions are local to this database (see ``Memory.seq``)."""
        async with self.engine.connect() as conn:
            rows = (
                (
                    await conn.execute(
                        select(memories)
                        .where(memories.c.seq > after, *where.clauses())
                        .order_by(memories.c.seq)
                        .limit(limit)
                    )
                )
                .mappings()
                .all()
            )
        return [_record(row) for row in rows], (rows[-1]["seq"] if rows else after)

    async def newest(
        self,
        where: RecallFilter = RecallFilter(include_superseded=True),
        limit: int = 50,
        offset: int = 0,
    ) -> list[MemoryRecord]:
        """Matching memories, newest first (by when they were made), a page at a time."""
        query = (
            select(memories)
            .where(*where.clauses())
            .order_by(memories.c.created_at.desc(), memories.c.seq.desc())
            .limit(limit)
            .offset(offset)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_record(row) for row in rows]

    async def export(
        self, where: RecallFilter = RecallFilter(include_superseded=True)
    ) -> AsyncIterator[MemoryRecord]:
        """Every matching memory, oldest first, a page at a time."""
        after = 0
        while True:
            page, after = await self.page(after, 500, where)
            for record in page:
                yield record
            if len(page) < 500:
                return

    async def count(self, where: RecallFilter = RecallFilter(include_superseded=True)) -> int:
        async with self.engine.connect() as conn:
            return int(
                await conn.scalar(
                    select(func.count()).select_from(memories).where(*where.clauses())
                )
                or 0
            )


def outside(space: str) -> ColumnElement[bool]:
    """Memories with no vector in ``space``."""
    return or_(memories.c.embedder.is_(None), memories.c.embedder != space)


_INDEXED = select(
    memories.c.id,
    memories.c.seq,
    memories.c.embedding,
    memories.c.embedder,
    memories.c.ai,
    memories.c.session,
    memories.c.device,
    memories.c.kind,
    memories.c.conversation,
    memories.c.created_at,
    memories.c.importance,
    memories.c.superseded_by,
)


def _indexed(rows: Any, space: str) -> list[IndexedMemory]:
    """The rows (selected by ``_INDEXED``) that have a vector in ``space``."""
    return [
        IndexedMemory(
            id=row.id,
            seq=row.seq,
            vector=from_bytes(row.embedding),
            ai=row.ai,
            session=row.session,
            device=row.device,
            kind=row.kind,
            conversation=row.conversation,
            created_at=row.created_at,
            importance=row.importance,
            superseded=row.superseded_by is not None,
        )
        for row in rows
        if row.embedding is not None and row.embedder == space
    ]


def _row(record: MemoryRecord, vector: tuple[bytes, str] | None) -> dict[str, Any]:
    row = record.model_dump(exclude={"embedding"})
    row["embedding"], row["embedder"] = vector if vector else (None, None)
    return row


def _record(row: Any) -> MemoryRecord:
    values = {k: row[k] for k in MemoryRecord.model_fields if k != "embedding"}
    if row["embedding"] is not None:
        values["embedding"] = from_bytes(row["embedding"]).tolist()
    return MemoryRecord(**values)
