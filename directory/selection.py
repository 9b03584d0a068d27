"""Choosing the specialists for an ask, and saying why.

Each AI gets a score from three kinds of evidence: its skills matching the question's topics
(declared ones count fully, learned ones by the weight of their evidence), how relevant its
stored memories are to the question (recall scores, relative to the best AI's), and whether it
is online to answer now (``answering``: it has a session that takes questions). Reputation
scales the sum: the AI's score for the question's topics, or its global one if that is better. Only AIs with some evidence of knowing are chosen, unless the asker named them;
an AI with no matching skill needs memories at least half as relevant as the best AI's, since
a few shared words make weak evidence on their own;
when nobody has any, the AIs that can answer now are asked, so a question on a new subject
still reaches someone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set

from cloudbrain.directory.topics import normalize_topic
from cloudbrain.protocol import AgentInfo, Specialist

DECLARED_MATCH = 1.0
LEARNED_SATURATION = 5.0  # learned weight at which a learned skill counts half a declared one
MEMORY_WEIGHT = 1.0
ONLINE_BONUS = 0.25
MEMORY_ONLY_SHARE = 0.5  # relative memory relevance that qualifies an AI without the skill


def skill_match(profile: AgentInfo, topics: Sequence[str]) -> tuple[float, float]:
    """(declared, learned) match of the profile's skills with the topics."""
    declared = {normalize_topic(s) for s in profile.skills}
    learned = {normalize_topic(s.topic): s.weight for s in profile.learned_skills}
    by_declaration = sum(DECLARED_MATCH for t in topics if t in declared)
    by_learning = sum(
        learned[t] / (learned[t] + LEARNED_SATURATION) for t in topics if t in learned
    )
    return by_declaration, by_learning


def reputation_for(profile: AgentInfo, topics: Sequence[str]) -> float:
    """An AI's reputation for a question on ``topics``: the best of its global score and its
    scores for those topics (so being endorsed for the subject helps, and never hurts)."""
    by_topic = [profile.skill_reputation[t] for t in topics if t in profile.skill_reputation]
    return max([profile.reputation, *by_topic])


def select_specialists(
    profiles: Sequence[AgentInfo],
    topics: Sequence[str],
    memory_relevance: Mapping[str, float],
    answering: Set[str],
    limit: int,
    *,
    named: bool = False,
) -> list[Specialist]:
    """The best ``limit`` AIs for a question, best first, each with the parts of its score."""
    best_memory = max(memory_relevance.values(), default=0.0)
    chosen = []
    for profile in profiles:
        declared, learned = skill_match(profile, topics)
        memory = memory_relevance.get(profile.name, 0.0) / best_memory if best_memory else 0.0
        evidence = declared + learned + MEMORY_WEIGHT * memory
        live = profile.name in answering
        weak = declared + learned == 0 and memory < MEMORY_ONLY_SHARE
        if weak and not named:
            continue
        online = ONLINE_BONUS if live else 0.0
        reputation = reputation_for(profile, topics)
        why = {
            "declared_skill": declared,
            "learned_skill": round(learned, 4),
            "memory": round(memory, 4),
            "online": online,
            "reputation": reputation,
        }
        # A reputation of 0.5 (a trusted AI on its own) leaves the score as it is.
        score = round((evidence + online) * (0.5 + reputation), 4)
        chosen.append(Specialist(agent=profile.name, live=live, score=score, why=why))
    if not chosen:
        chosen = [
            Specialist(agent=p.name, live=True, score=0.0, why={"online": ONLINE_BONUS})
            for p in profiles
            if p.name in answering
        ]
    chosen.sort(key=lambda s: (-s.score, not s.live, s.agent))
    return chosen[:limit]
