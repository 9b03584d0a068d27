"""Full-text search over memories, scored by BM25 on both back ends.

SQLite's FTS5 ranks by BM25 itself (``bm25()``: word rarity, how often a word occurs in a
memory, the memory's length). PostgreSQL's ``ts_rank_cd`` knows no word rarity, so a word
that is in every memory counts as much as a name that is in one; there, the candidates'
``tsvector``s are scored here with the same formula, the rarity of each word coming from a
count of the memories that have it (cached for a while: it changes slowly). Both back ends so
rank a question's full-text matches alike.

Candidates are memories with every word of the question, then, only if those are few, memories
with any of them: asking for all words first is more precise, and much faster on a large store
than scoring every memory that shares one word. Beside a semantic embedder the store asks for
all words only (see :mod:`ranking`).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnClause, ColumnElement, Text, cast, column, func, select, table, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cloudbrain.db.models import memories
from cloudbrain.memory.text import words as text_words

CANDIDATES = 200
ENOUGH_EXACT = 5  # all-word matches (an answer's worth) before any-word ones are sought
K1, B = 1.2, 0.75  # BM25's usual constants, as SQLite's bm25() uses them
STATS_SECONDS = 300.0  # how long word counts and the corpus size are reused
MAX_COUNTED = 50_000  # lexemes whose counts are kept; past it, the cache starts over
_fts = table("memories_fts", column("rowid"))
_search: ColumnClause[Any] = column("search")
_LEXEME = re.compile(r"'((?:[^']|'')+)'(?::([0-9A-D,]+))?")

Scored = list[tuple[int, float]]  # (memory position, BM25 score), best first


def lexemes(tsvector: str) -> dict[str, int]:
    """A PostgreSQL ``tsvector`` in its text form, as lexeme -> occurrences."""
    return {
        match[1].replace("''", "'"): len(match[2].split(",")) if match[2] else 1
        for match in _LEXEME.finditer(tsvector)
    }


def bm25(
    occurrences: Mapping[str, int],
    query: list[str],
    having: Mapping[str, int],
    total: int,
    average_length: float,
) -> float:
    """Okapi BM25 of one memory (its lexemes and their counts) for the query's lexemes, where
    ``having`` counts the memories that have each lexeme among ``total``."""
    length = sum(occurrences.values())
    score = 0.0
    for lexeme in query:
        count = occurrences.get(lexeme, 0)
        if not count:
            continue
        rarity = math.log(1 + (total - having.get(lexeme, 0) + 0.5) / (having.get(lexeme, 0) + 0.5))
        norm = K1 * (1 - B + B * length / max(average_length, 1.0))
        score += rarity * count * (K1 + 1) / (count + norm)
    return score


class FullText:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._having: dict[str, tuple[int, float]] = {}  # lexeme -> (memories, when counted)
        self._corpus: tuple[int, float, float] = (0, 0.0, -math.inf)  # total, avg length, when

    async def search(
        self, query: str, clauses: list[ColumnElement[bool]], *, any_word: bool = True
    ) -> Scored:
        """Memories with every word of the query, then (``any_word``), if those are few, with
        any of them."""
        words = text_words(query)
        if not words:
            return []
        found = await self._matching(words, clauses, every=True)
        if any_word and len(found) < ENOUGH_EXACT and len(words) > 1:
            seen = {seq for seq, _ in found}
            found += [
                hit
                for hit in await self._matching(words, clauses, every=False)
                if hit[0] not in seen
            ]
        return found[:CANDIDATES]

    async def _matching(
        self, words: list[str], clauses: list[ColumnElement[bool]], *, every: bool
    ) -> Scored:
        if self.engine.dialect.name == "sqlite":
            match = (" AND " if every else " OR ").join(f'"{w}"' for w in words)
            statement = (
                select(memories.c.seq, text("bm25(memories_fts)"))
                .select_from(memories.join(_fts, _fts.c.rowid == memories.c.seq))
                .where(text("memories_fts MATCH :match"), *clauses)
                .order_by(text("bm25(memories_fts)"))
                .params(match=match)
                .limit(CANDIDATES)
            )
            async with self.engine.connect() as conn:
                # bm25() is negative, lower is better.
                return [(seq, -score) for seq, score in await conn.execute(statement)]
        tsquery = func.to_tsquery("english", (" & " if every else " | ").join(words))
        statement = (
            select(memories.c.seq, cast(_search, Text))
            .where(_search.op("@@")(tsquery), *clauses)
            .order_by(func.ts_rank_cd(_search, tsquery).desc())
            .limit(CANDIDATES)
        )
        async with self.engine.connect() as conn:
            rows = list(await conn.execute(statement))
            asked = lexemes(
                await conn.scalar(select(cast(func.to_tsvector("english", " ".join(words)), Text)))
                or ""
            )
            having, total, average = await self._stats(conn, list(asked))
        scored = [
            (seq, bm25(lexemes(vector), list(asked), having, total, average))
            for seq, vector in rows
        ]
        scored.sort(key=lambda hit: -hit[1])
        return scored

    async def _stats(
        self, conn: AsyncConnection, asked: list[str]
    ) -> tuple[dict[str, int], int, float]:
        """How many memories have each lexeme, how many there are, their average length."""
        now = time.monotonic()
        total, average, when = self._corpus
        if now - when > STATS_SECONDS:
            row = (
                await conn.execute(
                    select(func.count(), func.avg(func.length(_search))).select_from(memories)
                )
            ).one()
            total, average = int(row[0]), float(row[1] or 0.0)
            self._corpus = (total, average, now)
        stale = [w for w in asked if now - self._having.get(w, (0, -math.inf))[1] > STATS_SECONDS]
        if stale:
            if len(self._having) > MAX_COUNTED:
                self._having.clear()
            # One scalar subquery per lexeme, so that each is counted through the GIN index.
            counts = (
                await conn.execute(
                    select(
                        *(
                            select(func.count())
                            .select_from(memories)
                            .where(_search.op("@@")(func.to_tsquery("simple", _quoted(w))))
                            .scalar_subquery()
                            for w in stale
                        )
                    )
                )
            ).one()
            for lexeme, count in zip(stale, counts, strict=True):
                self._having[lexeme] = (int(count), now)
        return {w: self._having[w][0] for w in asked}, total, average


def _quoted(lexeme: str) -> str:
    """A lexeme as a tsquery literal for the "simple" configuration, which takes it as it is
    (the "english" one would stem it again)."""
    return "'" + lexeme.replace("'", "''") + "'"
