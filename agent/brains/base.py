"""What every brain promises: an answer, the memories it drew on, and how it was made."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cloudbrain.brainstate import Conversation
from cloudbrain.memory.facts import Fact, Judged, StoredFact
from cloudbrain.memory.records import MemoryRecord


@dataclass(frozen=True)
class Answer:
    text: str
    model: str  # "recall" for the extractive brain, else the LLM's name
    used: list[MemoryRecord] = field(default_factory=list)  # memories the answer drew on
    knows: bool = True  # False when the brain had nothing to go on: not knowledge to keep
    # Why a better brain was not used (e.g. "ollama unreachable"), said to the asker.
    fallback: str | None = None
    tokens: int | None = None  # generated tokens, when a model reports them
    seconds: float | None = None  # generation time, when a model reports it
    # Ollama's generate API: the context after this answer, and the digest of the model it
    # belongs to (context is meaningless to any other model).
    context: list[int] | None = None
    digest: str | None = None


class Brain(Protocol):
    name: str

    async def answer(
        self, question: str, memories: list[MemoryRecord], conversation: Conversation
    ) -> Answer:
        """``memories``: recalled for this question, best first. ``conversation``: its earlier
        turns (question, answer), oldest first, and any model context saved with them."""
        ...

    async def judge_facts(
        self, message: str, known: Sequence[StoredFact], found: Sequence[Fact] = ()
    ) -> list[Judged] | None:
        """The facts ``message`` states, each with a verdict against ``known`` (the facts the
        agent already holds that the message may touch): add, supersede one, or ignore.
        ``found``: what the rules found in it, whose slots a verdict on the same fact should
        reuse. None when this brain has no verdict to give (no model, or the model failed):
        the rules decide then."""
        ...
