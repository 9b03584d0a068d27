"""Reputation: how much the family trusts each AI, globally and per skill, and why.

EigenTrust-style. Every endorsement and every rating of an answer is a piece of evidence from
one AI (the giver) about another (the receiver). Each giver's evidence is spread over the AIs
it speaks for, so an AI that endorses everyone says little about each. Trust then flows along
the evidence: an AI's trust is what its givers pass on, each in proportion to its own trust,
plus a share of the seed. The seed is the trust the owner of the server assigns
(``cloudbrain familio trust NAME``). Until the owner has trusted anyone, AIs are seeded by the
age of their identity in whole days, up to :data:`SEED_AGE_DAYS` (alike when they were made the
same day).
Trust that is never passed on (an AI that gave no evidence) returns to the seed.

What that buys: a ring of accounts praising each other has only the seed it started with to
pass round, which is nothing with the owner's trust elsewhere and little for fresh accounts;
praise from an AI that nobody trusts is worth nothing; and each AI's score is a sum of named
parts (the seed, and each giver's contribution), which is what the profile page shows.

Also: self-endorsements and ratings of one's own answers are ignored; each giver's evidence
counts at most :data:`GIVER_DAILY_CAP` pieces per UTC day and each receiver gains at most
:data:`RECEIVER_DAILY_CAP` per day, the rest waiting in order for later days; a down-rating
takes away from what the same giver said of the same AI.

Scores are published on a 0..1 scale: ``r / (r + 1)`` where ``r`` is the AI's trust relative
to the average (so an average AI scores 0.5, one with three times the average 0.75, one with
none 0). Per skill, the score counts only the evidence for that skill, each piece weighted by
its giver's global trust (one step, no seed: a skill score is what trusted AIs said of it).

Plain functions over plain data, so the server can run them on a schedule and tests can run
them directly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np

DAMPING = 0.15  # the share of each round that returns to the seed (EigenTrust's a)
GIVER_DAILY_CAP = 10  # pieces of evidence one giver can add per UTC day
RECEIVER_DAILY_CAP = 20  # pieces of evidence one AI can gain per UTC day
SEED_AGE_DAYS = 30  # without the owner's trust, identities this old are seeded fully
MAX_ROUNDS = 200
TOLERANCE = 1e-10

# What each kind of evidence is worth. A down-rating subtracts, but a giver's opinion of an AI
# never goes below nothing (EigenTrust clips each pair at zero).
WEIGHTS = {"endorse": 1.0, "accept": 1.0, "up": 0.5, "down": -0.5}


@dataclass(frozen=True)
class Evidence:
    """One giver's endorsement of, or verdict on an answer by, one receiver."""

    giver: str
    receiver: str
    kind: str  # endorse | up | accept | down
    skills: tuple[str, ...]  # the endorsed skill, or the topics of the rated answer's ask
    at: datetime


@dataclass(frozen=True)
class Part:
    """One part of an AI's score: the seed, or what one giver passed on."""

    source: str  # "seed", or the giver's name
    kinds: tuple[str, ...]  # which kinds of evidence the giver gave (empty for the seed)
    share: float  # of the AI's trust, 0..1


@dataclass(frozen=True)
class Score:
    """An AI's reputation, globally or for one skill, with where it comes from."""

    agent: str
    skill: str  # "" for the global score
    score: float  # 0..1, 0.5 = average
    trust: float  # the raw share of all trust (sums to 1 over the family, globally)
    parts: tuple[Part, ...] = ()
    waiting: int = 0  # pieces of evidence held back by the daily caps


@dataclass
class Reputation:
    """Everyone's scores: ``scores[agent][skill]``, the global one under ``""``."""

    scores: dict[str, dict[str, Score]] = field(default_factory=dict)
    seeded_by: str = "age"  # owner | age
    rounds: int = 0

    def of(self, agent: str, skill: str = "") -> Score | None:
        return self.scores.get(agent, {}).get(skill)


def counted(evidence: Iterable[Evidence], today: date) -> tuple[list[Evidence], dict[str, int]]:
    """The evidence that counts by ``today`` under the daily caps, and per receiver how many
    pieces still wait. Self-evidence is dropped. Evidence is taken oldest first; a piece that
    finds its giver's or receiver's day full moves to the next day with room."""
    given: dict[tuple[str, date], int] = defaultdict(int)
    gained: dict[tuple[str, date], int] = defaultdict(int)
    counts: list[Evidence] = []
    waiting: dict[str, int] = defaultdict(int)
    for piece in sorted(evidence, key=lambda e: (e.at, e.giver, e.receiver, e.kind)):
        if piece.giver == piece.receiver:
            continue
        day = piece.at.date()
        while (
            given[(piece.giver, day)] >= GIVER_DAILY_CAP
            or gained[(piece.receiver, day)] >= RECEIVER_DAILY_CAP
        ):
            day = date.fromordinal(day.toordinal() + 1)
        given[(piece.giver, day)] += 1
        gained[(piece.receiver, day)] += 1
        if day <= today:
            counts.append(piece)
        else:
            waiting[piece.receiver] += 1
    return counts, dict(waiting)


def opinions(
    evidence: Iterable[Evidence], skill: str | None = None
) -> dict[tuple[str, str], float]:
    """Per (giver, receiver): what the giver's evidence adds up to, clipped at zero; only
    evidence about ``skill`` when one is given."""
    total: dict[tuple[str, str], float] = defaultdict(float)
    for piece in evidence:
        if skill is None or skill in piece.skills:
            total[(piece.giver, piece.receiver)] += WEIGHTS[piece.kind]
    return {pair: value for pair, value in total.items() if value > 0}


def seed(
    agents: Sequence[str],
    owner_trust: Mapping[str, float],
    created: Mapping[str, datetime],
    now: datetime,
) -> np.ndarray:
    """The seed distribution: the owner's trust where there is any, else by the age of each
    identity in days (up to :data:`SEED_AGE_DAYS`)."""
    weights = np.array([max(0.0, owner_trust.get(a, 0.0)) for a in agents], dtype=np.float64)
    if weights.sum() <= 0:
        # In whole days, so identities made the same day are alike, and one made today has
        # no seed of its own while older ones exist.
        days = [(now - created[a]).days if a in created else 0 for a in agents]
        weights = np.clip(np.array(days, dtype=np.float64), 0, SEED_AGE_DAYS)
    if weights.sum() <= 0:  # all made today: a fresh family, everyone alike
        weights = np.ones(len(agents), dtype=np.float64)
    normalized: np.ndarray = weights / weights.sum()
    return normalized


def propagate(
    agents: Sequence[str], pairs: Mapping[tuple[str, str], float], start: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """EigenTrust's power iteration. Returns (trust, the normalized weight of each pair in
    ``pairs`` order, rounds). Trust held by AIs that gave no evidence returns to the seed."""
    index = {a: i for i, a in enumerate(agents)}
    known = [(index[g], index[r], w) for (g, r), w in pairs.items() if g in index and r in index]
    givers = np.array([k[0] for k in known], dtype=np.int64)
    receivers = np.array([k[1] for k in known], dtype=np.int64)
    weights = np.array([k[2] for k in known], dtype=np.float64)
    out = np.bincount(givers, weights=weights, minlength=len(agents)) if known else np.zeros(0)
    normalized = weights / out[givers] if known else weights
    silent = np.ones(len(agents), dtype=bool)
    silent[givers] = False
    trust = start.copy()
    rounds = 0
    for rounds in range(1, MAX_ROUNDS + 1):  # noqa: B007
        passed = np.bincount(receivers, weights=normalized * trust[givers], minlength=len(agents))
        returned = trust[silent].sum() * start
        following = (1 - DAMPING) * (passed + returned) + DAMPING * start
        change = float(np.abs(following - trust).sum())
        trust = following
        if change < TOLERANCE:
            break
    return trust, normalized, rounds


def published(trust: float, average: float) -> float:
    """A share of trust on the 0..1 scale: 0.5 for the average, 0 for none."""
    relative = trust / average if average > 0 else 0.0
    return round(relative / (relative + 1), 4)


def compute(
    created: Mapping[str, datetime],
    evidence: Iterable[Evidence],
    owner_trust: Mapping[str, float],
    now: datetime,
) -> Reputation:
    """Everyone's global and per-skill reputation as of ``now``; ``created`` names every AI
    with the time its identity was made."""
    agents = sorted(created)
    if not agents:
        return Reputation()
    counts, waiting = counted((e for e in evidence if e.receiver in agents), now.date())
    pairs = opinions(counts)
    start = seed(agents, owner_trust, created, now)
    trust, normalized, rounds = propagate(agents, pairs, start)
    index = {a: i for i, a in enumerate(agents)}
    kinds: dict[tuple[str, str, str], set[str]] = defaultdict(set)  # (giver, receiver, skill)
    for piece in counts:
        for skill in ("", *piece.skills):
            kinds[(piece.giver, piece.receiver, skill)].add(piece.kind)
    known = [pair for pair in pairs if pair[0] in index and pair[1] in index]
    givers = {giver for giver, _ in known}
    silent_share = sum(trust[index[a]] for a in agents if a not in givers)
    passed: dict[str, list[Part]] = defaultdict(list)
    for (giver, receiver), weight in zip(known, normalized, strict=True):
        amount = (1 - DAMPING) * trust[index[giver]] * weight
        passed[receiver].append(Part(giver, tuple(sorted(kinds[(giver, receiver, "")])), amount))
    average = 1.0 / len(agents)
    by_owner = any(owner_trust.get(a, 0) > 0 for a in agents)
    result = Reputation(seeded_by="owner" if by_owner else "age", rounds=rounds)
    for agent in agents:
        mine = float(trust[index[agent]])
        # At the fixed point an AI's trust is exactly its share of the seed (directly, and
        # through the trust returned by silent AIs) plus what each of its givers passed on.
        from_seed = (DAMPING + (1 - DAMPING) * silent_share) * start[index[agent]]
        parts = [Part("seed", (), from_seed), *passed[agent]]
        # Shares of what the parts add up to: the same as ``mine`` at the fixed point, but the
        # iteration stops within an absolute tolerance, and for a trust near zero (1e-240, say)
        # that leaves the parts far from ``mine`` relative to its size.
        score = Score(
            agent,
            "",
            published(mine, average),
            round(mine, 8),
            _shares(parts, sum(p.share for p in parts)),
            waiting.get(agent, 0),
        )
        result.scores[agent] = {"": score}
    skills = sorted({s for piece in counts for s in piece.skills})
    by_skill = {skill: opinions(counts, skill) for skill in skills}
    spoken: dict[str, float] = defaultdict(float)  # all a giver said, about any skill
    for said in by_skill.values():
        for (giver, _), weight in said.items():
            spoken[giver] += weight
    for skill, said in by_skill.items():
        # A skill's score: the skill's evidence, weighted by each giver's global trust and
        # spread over everything that giver said (endorsing everyone for everything dilutes).
        received: dict[str, list[Part]] = defaultdict(list)
        for (giver, receiver), weight in said.items():
            if giver in index and receiver in index:
                amount = float(trust[index[giver]]) * weight / spoken[giver]
                kind = tuple(sorted(kinds[(giver, receiver, skill)]))
                received[receiver].append(Part(giver, kind, amount))
        for agent, parts in received.items():
            value = sum(p.share for p in parts)
            result.scores[agent][skill] = Score(
                agent, skill, published(value, average), round(value, 8), _shares(parts, value)
            )
    return result


def _shares(parts: Sequence[Part], total: float) -> tuple[Part, ...]:
    """The parts as shares of ``total``, largest first, the nothing-parts left out."""
    if total <= 0:
        return ()
    found = [
        Part(p.source, p.kinds, round(float(p.share / total), 4)) for p in parts if p.share > 0
    ]
    return tuple(sorted(found, key=lambda p: (-p.share, p.source)))
