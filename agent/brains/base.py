"""What every brain promises: an answer, the memories it drew on, and how it was made."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

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


class Brain(Protocol):
    name: str

    async def answer(
        self, question: str, memories: list[MemoryRecord], transcript: list[tuple[str, str]]
    ) -> Answer:
        """``memories``: recalled for this question, best first. ``transcript``: the earlier
        turns of this conversation as (question, answer) pairs, oldest first."""
        ...
