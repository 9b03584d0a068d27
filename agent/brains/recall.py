"""The brain that needs no model: it answers by quoting what the agent remembers.

It never makes anything up. Each quoted memory carries who learned it, on which device, in
which session and when, so the asker can judge it; with nothing relevant, it says so plainly.
"""

from __future__ import annotations

from cloudbrain.agent.brains.base import Answer
from cloudbrain.brainstate import Conversation
from cloudbrain.memory.facts import Fact
from cloudbrain.memory.records import MemoryRecord

MAX_QUOTES = 3


class RecallBrain:
    name = "recall"

    async def answer(
        self, question: str, memories: list[MemoryRecord], conversation: Conversation
    ) -> Answer:
        used = _worth_quoting(memories)[:MAX_QUOTES]
        if not used:
            return Answer(
                text="I don't know anything about that yet.", model=self.name, knows=False
            )
        lines = ["Here is what I remember:"]
        lines += [f"- {quote(memory)} ({attribution(memory)})" for memory in used]
        return Answer(text="\n".join(lines), model=self.name, used=used)

    async def extract_facts(self, question: str, answer: str) -> list[Fact]:
        return []  # no model to ask; the rule-based facts are all there are


def quote(memory: MemoryRecord) -> str:
    """The part of a memory worth repeating: for an exchange, the answer that was given."""
    text = (
        memory.ai_response if memory.kind == "exchange" and memory.ai_response else memory.content
    )
    return " ".join(text.split())


def attribution(memory: MemoryRecord) -> str:
    where = f"on {memory.device}" if memory.device else "on an unknown device"
    session = f", session {memory.session[:8]}" if memory.session else ""
    return f"{memory.ai} {where}{session}, {memory.created_at:%Y-%m-%d %H:%M} UTC"


def _worth_quoting(memories: list[MemoryRecord]) -> list[MemoryRecord]:
    """Leave out earlier answers of this brain (they only quoted other memories, which are
    quoted directly) and repeats of the same text."""
    seen: set[str] = set()
    kept = []
    for memory in memories:
        text = quote(memory)
        if memory.model_used == RecallBrain.name or text in seen:
            continue
        seen.add(text)
        kept.append(memory)
    return kept
