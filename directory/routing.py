"""Routing work by weight: heavy questions to capable devices first, light ones to anyone.

A question's weight (complexity, 0 to 1) comes with the ask or is estimated here from its
length and content. A device's capacity comes from the profile its agent announces (GPU memory,
models) and from measured speed (tokens per second). For a heavy question the live specialists
are asked in order of capacity, the most capable first; the others wait as fallbacks and are
asked only if no one ahead of them has answered after a share of the deadline (failover). A
light question goes to every live specialist at once, so the edge device may answer it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cloudbrain.memory.text import words
from cloudbrain.protocol import DeviceProfile

HEAVY = 0.6  # complexity from which a question is heavy work
LONG_QUESTION_WORDS = 80  # a question this long is about as heavy as length alone makes it
HEAVY_WORDS = frozenset(
    [
        "analyse",
        "analyze",
        "architecture",
        "compare",
        "debug",
        "derive",
        "design",
        "evaluate",
        "explain",
        "implement",
        "optimise",
        "optimize",
        "plan",
        "proof",
        "prove",
        "refactor",
        "review",
        "summarise",
        "summarize",
        "translate",
        "write",
        "why",
        "tradeoffs",
    ]
)
_CODE = re.compile(r"```|\bdef |\bclass |\breturn\b|[{};]\s*$|=>|::", re.MULTILINE)


def estimate_complexity(question: str) -> float:
    """0 (a lookup: "what port does the hub use?") to 1 (writing, designing, reasoning over a
    long text or code). Length, the verbs that ask for work, code and several questions in one
    each add to it."""
    found = words(question)
    length = min(1.0, len(question.split()) / LONG_QUESTION_WORDS)
    asks_for_work = min(1.0, 0.35 * sum(w in HEAVY_WORDS for w in found))
    code = 0.3 if _CODE.search(question) else 0.0
    several = 0.1 * max(0, question.count("?") - 1)
    return round(min(1.0, 0.5 * length + asks_for_work + code + several), 3)


def capacity(profile: DeviceProfile | None, measured_tokens_per_second: float | None) -> float:
    """How much work a device can take: measured speed when there is one, else announced;
    GPU memory as the tie-breaker (a bigger GPU runs bigger models)."""
    if profile is None:
        return measured_tokens_per_second or 0.0
    speed = measured_tokens_per_second or profile.tokens_per_second or 0.0
    return round(speed + 0.1 * (profile.gpu_memory_gb or 0.0), 3)


@dataclass(frozen=True)
class Route:
    heavy: bool
    first: list[str]  # asked at once
    fallback: list[str]  # asked one by one, in order, when no answer came in time


def route(complexity: float, live: Sequence[str], capacities: Mapping[str, float]) -> Route:
    """Who is asked first. ``live``: the live specialists, best match first."""
    if complexity < HEAVY or len(live) < 2:
        return Route(False, list(live), [])
    by_capacity = sorted(live, key=lambda name: -capacities.get(name, 0.0))
    return Route(True, by_capacity[:1], by_capacity[1:])
