"""Learning what a message teaches, before it is answered: the facts it states, by rule and by
the brain's verdict when the brain has a model, each decided against what is already known
and stored with its history (a superseded fact stays, pointing at what replaced it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from cloudbrain.agent.brains.base import Brain
from cloudbrain.memory.facts import (
    Decision,
    Fact,
    Ignore,
    Judged,
    Repeat,
    StoredFact,
    Supersede,
    choose,
    extract_facts,
    judge,
    states_anything,
)
from cloudbrain.memory.records import MemoryRecord
from cloudbrain.memory.store import MemoryStore, RecallFilter

KNOWN_SHOWN = 8  # known facts shown to a model beside the message, at most

Keep = Callable[..., Awaitable[None]]  # stores records: keep(record, *more)
Make = Callable[[Fact], MemoryRecord]  # a new fact's record, with its provenance


@dataclass(frozen=True)
class Learned:
    """One fact and what became of it; ``replaced``: the texts of the facts it superseded."""

    fact: Fact
    decision: Decision
    replaced: tuple[str, ...] = ()


def stored(memory: MemoryRecord) -> StoredFact:
    return StoredFact(
        memory.id,
        memory.fact_key or "",
        str(memory.provenance.get("value", "")),
        memory.count,
        memory.superseded_by,
        memory.content,
    )


async def facts_of_message(
    store: MemoryStore, ai: str, brain: Brain, text: str
) -> list[Fact | Judged]:
    """The facts a message states, to be decided in this order: the brain's verdicts against
    the known facts the message may touch (those in the rules' slots, and those recall finds
    for it), then the rules' facts in slots the verdicts left alone; the rules' alone when the
    brain gives no verdict. A message of questions only teaches nothing: no model is asked."""
    rules = extract_facts(text)
    if not states_anything(text):
        return list(rules)
    known: dict[str, MemoryRecord] = {}
    for key in dict.fromkeys(f.key for f in rules):
        known.update((m.id, m) for m in await store.current_facts(ai, key))
    for found in await store.search(text, RecallFilter(ai=ai, kind="fact"), KNOWN_SHOWN):
        known.setdefault(found.memory.id, found.memory)
    shown = [stored(m) for m in list(known.values())[:KNOWN_SHOWN]]
    return choose(rules, await brain.judge_facts(text, shown, rules), shown)


async def learn_facts(
    store: MemoryStore, ai: str, items: Sequence[Fact | Judged], make: Make, keep: Keep
) -> list[Learned]:
    """Decide and store each fact in turn, each against what is current after the ones
    before it: a repeat raises its count, a contradiction supersedes the older fact (which
    stays, as history), a new fact is stored, an ignored one leaves no trace."""
    learned = []
    for item in items:
        fact = item.fact if isinstance(item, Judged) else item
        current = await store.current_facts(ai, fact.key)
        if isinstance(item, Judged) and item.known and all(m.id != item.known for m in current):
            named = await store.get(item.known)
            if named is not None and named.ai == ai and named.kind == "fact":
                current.append(named)
        decision = judge(item, [stored(m) for m in current])
        if isinstance(decision, Ignore):
            learned.append(Learned(fact, decision))
            continue
        if isinstance(decision, Repeat):
            seen = next(m for m in current if m.id == decision.id)
            await keep(seen.model_copy(update={"count": seen.count + 1}))
            learned.append(Learned(fact, decision))
            continue
        record = make(fact)
        replaced = [
            m.model_copy(update={"superseded_by": record.id})
            for m in current
            if isinstance(decision, Supersede) and m.id in (decision.old_id, *decision.also)
        ]
        await keep(record, *replaced)
        learned.append(Learned(fact, decision, tuple(m.content for m in replaced)))
    return learned
