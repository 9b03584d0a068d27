"""What an ask decides around its waiting, as plain functions over plain data: the question's
topics, how much each AI knows from the memories recalled, how live specialists are routed,
whether a live answer knows, and why each AI considered fell short.

The server's ask service (``cloudbrain.server.ask``) fetches what these need and carries out
what they decide; the waiting itself is :mod:`ask_machine`'s.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from cloudbrain.directory.knowing import SAID_NO, knows, not_about, nothing_close
from cloudbrain.directory.routing import capacity, estimate_complexity, route
from cloudbrain.directory.topics import classify
from cloudbrain.protocol import AgentInfo, DeviceProfile, Routing

CONSIDERED = 3  # AIs named in a "nobody knows" beside those asked: the closest by memories

# One recalled memory, as the plan sees it: whose it is, its similarity to the question (None
# without an embedder) and its recall score.
Recall = tuple[str, float | None, float]


def question_topics(
    question: str, skills: Sequence[str], profiles: Iterable[AgentInfo]
) -> list[str]:
    """The topics of the family's vocabulary (declared and learned skills) the question is
    about, then the skills the asker named that the question's words did not."""
    vocabulary = {*skills}
    for profile in profiles:
        vocabulary.update(profile.skills)
        vocabulary.update(s.topic for s in profile.learned_skills)
    topics = classify(question, vocabulary)
    return topics + [t for t in classify(" ".join(skills), skills) if t not in topics]


def knowledge(recalled: Iterable[Recall], floor: float) -> dict[str, float]:
    """Per AI, how close its memories close enough to answer are (see :mod:`knowing`): their
    similarities added up, or their recall scores when there is no similarity (no embedder).
    Not the scores themselves: recall takes crowding off those to order memories among each
    other, and an AI with many notes on a subject knows it no less for that."""
    weight: dict[str, float] = defaultdict(float)
    for ai, similarity, score in recalled:
        if knows(similarity, floor):
            weight[ai] += similarity if similarity is not None else score
    return dict(weight)


def plan_routing(
    question: str,
    complexity: float | None,
    live: Mapping[str, tuple[DeviceProfile | None, str]],
    measured: Mapping[tuple[str, str], float | None],
) -> Routing:
    """Heavy work to the most capable device first (see :mod:`routing`). ``live`` gives each
    live specialist's device profile and device name; ``measured``, tokens per second by
    (AI, device) as the directory last saw them; ``complexity`` None means estimate it."""
    capacities = {
        name: capacity(profile, measured.get((name, device)))
        for name, (profile, device) in live.items()
    }
    chosen_complexity = complexity if complexity is not None else estimate_complexity(question)
    chosen = route(chosen_complexity, list(live), capacities)
    return Routing(
        complexity=chosen_complexity,
        estimated=complexity is None,
        heavy=chosen.heavy,
        capacity=capacities,
        first=chosen.first,
        fallback=chosen.fallback,
    )


def live_shortfall(said_it_knows: bool, similarity: float | None, floor: float) -> str | None:
    """Why a live answer does not count as knowing (None: it does). An answer counts when its
    author says it knows and its closest passage is close enough to the question."""
    if not said_it_knows:
        return SAID_NO
    if not knows(similarity, floor):
        return not_about(similarity or 0.0, floor)
    return None


def shortfalls(
    fell_short: Mapping[str, str],
    knowing: set[str],
    recalled: Iterable[Recall],
    floor: float,
) -> dict[str, str]:
    """Why each AI considered did not answer with knowledge. When nobody knew, the AIs whose
    recalled memories came closest are named too, so "nobody knows" says who came near."""
    found = dict(fell_short)
    if not knowing:
        for name, best in closest(recalled, CONSIDERED):
            found.setdefault(name, nothing_close(best, floor))
    return {name: why for name, why in found.items() if name not in knowing}


def closest(recalled: Iterable[Recall], count: int) -> list[tuple[str, float]]:
    """The ``count`` AIs whose recalled memories came closest in meaning, with how close."""
    best: dict[str, float] = {}
    for ai, similarity, _ in recalled:
        if similarity is not None:
            best[ai] = max(similarity, best.get(ai, -1.0))
    return sorted(best.items(), key=lambda item: -item[1])[:count]
