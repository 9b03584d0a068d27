"""The family ``bench.ask`` asks: specialists with declared skills, the past AIs known only by
their memories, and who holds which of the synthetic memories, made deterministically.

Skills come from the words of ``bench.recall_corpus`` (its services, data stores and tools),
so the questions made from the same words are about topics some specialists declared. A
memory that mentions a specialist's skill can be that specialist's own; specialists hold
``share`` of all memories between them, evenly, and the past AIs hold the rest. Their vectors,
the ones the server's embedder gives, come from ``bench.embedder``.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bench import recall_corpus
from cloudbrain.memory.records import MemoryRecord
from cloudbrain.memory.text import words

PAST = recall_corpus.AGENTS  # AIs of ended sessions: offline, known by what they stored
SKILLS = sorted(
    {
        name.removeprefix("the ").removesuffix(" bucket")
        for group in ("service", "store", "tool")
        for name in recall_corpus.WORDS[group]
    },
    key=str.lower,
)


@dataclass(frozen=True)
class Specialist:
    name: str
    skills: tuple[str, ...]


def specialists(count: int, skills_each: int, seed: int) -> list[Specialist]:
    """``count`` specialists, ``spec-000`` on, each declaring ``skills_each`` skills drawn
    from :data:`SKILLS`."""
    rng = random.Random(seed)
    return [
        Specialist(f"spec-{i:03d}", tuple(sorted(rng.sample(SKILLS, skills_each), key=str.lower)))
        for i in range(count)
    ]


def memories(
    family: Sequence[Specialist], total: int, share: float, seed: int, anchor: datetime
) -> list[MemoryRecord]:
    """``total`` memories of ``bench.recall_corpus``, each given an owner: a specialist with a
    skill the memory mentions while that specialist holds fewer than its part of ``share``,
    else a past AI. Sessions are renamed after their owner."""
    rng = random.Random(seed)
    each = int(total * share / len(family)) if family else 0
    held = dict.fromkeys((s.name for s in family), 0)
    # First word of a skill -> (all its words, who declared it), to look up only what is there.
    by_word: dict[str, list[tuple[frozenset[str], list[str]]]] = {}
    declared: dict[frozenset[str], list[str]] = {}
    for member in family:
        for skill in member.skills:
            declared.setdefault(frozenset(words(skill)), []).append(member.name)
    for needed, names in declared.items():
        by_word.setdefault(min(needed), []).append((needed, names))
    found = []
    for record in itertools.islice(recall_corpus.memories(seed, anchor), total):
        present = set(words(record.content))
        open_ = [
            name
            for word in present & by_word.keys()
            for needed, names in by_word[word]
            if needed <= present
            for name in names
            if held[name] < each
        ]
        if open_:
            owner = rng.choice(sorted(open_))
            held[owner] += 1
        else:
            owner = rng.choice(PAST)
        session = f"{owner}-{record.device}-{record.session.rsplit('-', 1)[-1]}"
        found.append(record.model_copy(update={"ai": owner, "session": session}))
    return found
