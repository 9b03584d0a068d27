"""Answers from what AIs stored, for an ask: an AI that is not live (or did not answer in
time) answers from its memories closest to the question, and a live answer is measured by how
close its closest passage comes to the question.
"""

from __future__ import annotations

import asyncio

import numpy as np

from cloudbrain.directory.knowing import knows, nothing_close, passages
from cloudbrain.ids import new_id
from cloudbrain.memory.embedding import Embedder, EmbedderUnavailable, Vector, normalized
from cloudbrain.memory.ranking import closest_together
from cloudbrain.memory.store import MemoryStore, Recalled, RecallFilter
from cloudbrain.protocol import AskAnswer

RECALL_POOL = 50  # memories recalled for the question, to weigh each AI's knowledge
MEMORIES_PER_ANSWER = 3
MEMORY_CONFIDENCE = 0.5  # stored knowledge, not re-checked by a live mind


class MemoryAnswers:
    def __init__(self, memory: MemoryStore) -> None:
        self.memory = memory

    async def pool(self, question: str, where: RecallFilter) -> list[Recalled]:
        """The memories that best match the question, whoever stored them."""
        return await self.memory.search(question, where, RECALL_POOL)

    async def answer_for(
        self, agent: str, question: str, where: RecallFilter, pool: list[Recalled], floor: float
    ) -> tuple[AskAnswer | None, str, float | None]:
        """An answer for ``agent`` from what it stored: its best memories on the question that
        are close enough to answer it, attributed to the session and device of the best one,
        with the best one's similarity to the question; or None and why not. Taken from
        ``pool`` (the best memories of everyone) when it holds enough of them, which saves a
        search."""
        found = [r for r in pool if r.memory.ai == agent][:MEMORIES_PER_ANSWER]
        if len(found) < MEMORIES_PER_ANSWER:
            found = await self.memory.search(question, _with(where, ai=agent), MEMORIES_PER_ANSWER)
        close = [r for r in found if knows(r.why.get("similarity"), floor)]
        similar = [s for r in close or found if (s := r.why.get("similarity")) is not None]
        if not close:
            return None, nothing_close(max(similar, default=None), floor), None
        found = closest_together(close, lambda r: r.why.get("similarity"))
        best = found[0].memory
        return (
            AskAnswer(
                id=new_id(),
                agent=agent,
                source="memory",
                text="\n".join(_said(r) for r in found),
                confidence=MEMORY_CONFIDENCE,
                session=best.session,
                device=best.device,
                at=best.created_at,
                model=best.model_used,
                memories=[r.memory.id for r in found],
            ),
            "",
            max(similar, default=None),
        )

    async def closeness(self, question: Vector | None, text: str) -> float | None:
        """Cosine similarity of an answer's closest passage (see :func:`passages`) to the
        question's vector (None: no embedder)."""
        found = await self._vectors(passages(text)) if question is not None else None
        if question is None or not found:
            return None
        return max(float(question @ vector) for vector in found)

    async def _vectors(self, texts: list[str]) -> list[Vector] | None:
        embedder: Embedder | None = self.memory.embedder
        if embedder is None:
            return None
        try:
            vectors = await asyncio.to_thread(embedder.embed, texts)
        except EmbedderUnavailable:
            return None
        return [normalized(np.asarray(v, dtype=np.float32)) for v in vectors]


def _with(where: RecallFilter, *, ai: str | None) -> RecallFilter:
    return RecallFilter(ai=ai, since=where.since, until=where.until)


def _said(recalled: Recalled) -> str:
    """What a memory says, for an answer: the answer part of an exchange, else its text."""
    memory = recalled.memory
    return (
        memory.ai_response if memory.kind == "exchange" and memory.ai_response else memory.content
    )
