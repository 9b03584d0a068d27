"""The brain that needs no model: it answers by quoting what the agent remembers.

It never makes anything up. Each quoted memory carries who learned it, on which device, in
which session and when, so the asker can judge it; with nothing relevant, it says so plainly.
Its answers are quotes, so they are never stored as knowledge of their own; and an older
memory that is one (an agent before this rule kept them) is never quoted again.
"""

from __future__ import annotations

from collections.abc import Sequence

from cloudbrain.agent.brains.base import Answer
from cloudbrain.brainstate import Conversation
from cloudbrain.ids import short_id
from cloudbrain.memory.facts import Fact, Judged, StoredFact
from cloudbrain.memory.records import MemoryRecord

MAX_QUOTES = 3
INTRODUCTION = "Here is what I remember:"
# How the agent's own replies open when they only repeat memory: a quote, or an
# acknowledgement of what it was told.
OWN_REPLY_OPENINGS = (INTRODUCTION, "Noted:", "Updated:", "Already noted:")


class RecallBrain:
    name = "recall"

    async def answer(
        self, question: str, memories: list[MemoryRecord], conversation: Conversation
    ) -> Answer:
        used = worth_quoting(memories)[:MAX_QUOTES]
        if not used:
            return Answer(
                text="I don't know anything about that yet.", model=self.name, knows=False
            )
        lines = [INTRODUCTION]
        lines += [f"- {quote(memory)} ({attribution(memory)})" for memory in used]
        return Answer(text="\n".join(lines), model=self.name, used=used)

    async def judge_facts(
        self, message: str, known: Sequence[StoredFact], found: Sequence[Fact] = ()
    ) -> list[Judged] | None:
        return None  # no model to ask; the rules decide


def quote(memory: MemoryRecord) -> str:
    """The part of a memory worth repeating: for an exchange, the answer that was given."""
    text = (
        memory.ai_response if memory.kind == "exchange" and memory.ai_response else memory.content
    )
    return " ".join(text.split())


def attribution(memory: MemoryRecord) -> str:
    where = f"on {memory.device}" if memory.device else "on an unknown device"
    session = f", session {short_id(memory.session)}" if memory.session else ""
    return f"{memory.ai} {where}{session}, {memory.created_at:%Y-%m-%d %H:%M} UTC"


def is_own_quote(memory: MemoryRecord) -> bool:
    """An exchange whose answer only repeated memory: this brain's answer (also as a model's
    fallback), or an acknowledgement of facts. Quoting it again would be a quote of a quote."""
    if memory.kind != "exchange":
        return False
    return memory.model_used == RecallBrain.name or memory.ai_response.lstrip().startswith(
        OWN_REPLY_OPENINGS
    )


def worth_quoting(memories: list[MemoryRecord]) -> list[MemoryRecord]:
    """The memories without the agent's own quoting replies (what they quoted is quoted
    directly) and without repeats of the same text."""
    seen: set[str] = set()
    kept = []
    for memory in memories:
        text = quote(memory)
        if is_own_quote(memory) or text in seen:
            continue
        seen.add(text)
        kept.append(memory)
    return kept
