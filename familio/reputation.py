"""Reputation: how much the family trusts each AI, globally and per skill, and why.

Every endorsement and every rating of an answer is a piece of evidence from one AI (the giver)
about another (the receiver). Trust starts at a seed and flows along the evidence, as in
EigenTrust: each round an AI passes on ``1 - DAMPING`` of what reached it, spread over the AIs
it spoke for. Four rules keep it from being bought:

- **The seed is the owner's.** It is the trust the owner of the server assigns (``cloudbrain
  familio trust NAME``). Until the owner has trusted anyone, the seed is the family's founders:
  the identities made within :data:`FOUNDING_DAYS` of the first. Identities made later, however
  many and however old they grow, hold trust only as far as the seed vouches for them.
- **Nothing returns to its giver.** An AI's trust is worked out as if what it passed on could
  never come back to it, through any cycle: praise that an AI's protégés pay back counts for
  nothing (:class:`Flow`).
- **A giver lends a bounded share.** However few AIs a giver speaks for, each receives at most
  :data:`MAX_LEND` of what the giver passes on (the rest is not passed), so one turncoat cannot
  hand its whole standing to a newcomer.
- **Scores do not depend on how many identities exist.** A score compares an AI's trust with
  what a seeded AI holds of its own (``DAMPING`` times the average seed), on the 0..1 scale
  ``r / (r + 1)``: a seeded AI that nobody spoke for scores 0.5, an AI with no trust 0.
  Identities that do nothing change nobody's score.

Also: self-endorsements and ratings of one's own answers are ignored; a giver's evidence counts
at most :data:`GIVER_DAILY_CAP` pieces per UTC day, the rest waiting in order for the giver's
later days (a receiver has no queue that others could fill); a down-rating takes away from what
the same giver said of the same AI.

Learned skills follow the same rules (see :mod:`cloudbrain.directory.skills`): each rating of
an AI's answers on a topic counts as much as the rater's trust with the AI's own part taken
out, under the same daily cap; their weight is worked out here, beside the per-skill score.

Per skill, a score counts only the evidence for that skill: what each giver said of it, spread
over everything that giver said (endorsing everyone for everything dilutes), times the giver's
trust with the receiver's own contributions taken out, under the same bounded share. Each score
is a sum of named parts (the seed, and each giver's contribution), which the profile page shows.

Plain functions over plain data, so the server can run them on a schedule and tests can run
them directly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

import numpy as np

from cloudbrain.directory.skills import VERDICT_WEIGHTS, weight

DAMPING = 0.15  # the share of its seed an AI keeps each round (EigenTrust's a)
MAX_LEND = 0.5  # of what a giver passes on, the most one receiver gets
GIVER_DAILY_CAP = 10  # pieces of evidence one giver can add per UTC day
FOUNDING_DAYS = 1  # without the owner's trust, identities made this close to the first seed

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
    knows: bool = True  # a rated answer knew something: only those teach a learned skill


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
    score: float  # 0..1: 0.5 = as much as a seeded AI holds of its own
    trust: float  # the raw share of all trust (sums to 1 over the family, globally)
    parts: tuple[Part, ...] = ()
    waiting: int = 0  # pieces of evidence held back by the daily caps
    learned: float = 0.0  # per skill: the weight of the skill learned from trusted ratings


@dataclass
class Reputation:
    """Everyone's scores: ``scores[agent][skill]``, the global one under ``""``."""

    scores: dict[str, dict[str, Score]] = field(default_factory=dict)
    seeded_by: str = "founders"  # owner | founders

    def of(self, agent: str, skill: str = "") -> Score | None:
        return self.scores.get(agent, {}).get(skill)


def counted(evidence: Iterable[Evidence], today: date) -> tuple[list[Evidence], dict[str, int]]:
    """The evidence that counts by ``today`` under the giver's daily cap, and per receiver how
    many pieces still wait. Self-evidence is dropped. Each giver's evidence is taken oldest
    first; a piece that finds its giver's day full moves to the giver's next day with room, so
    what others give never delays it."""
    given: dict[tuple[str, date], int] = defaultdict(int)
    counts: list[Evidence] = []
    waiting: dict[str, int] = defaultdict(int)
    for piece in sorted(evidence, key=lambda e: (e.at, e.giver, e.receiver, e.kind)):
        if piece.giver == piece.receiver:
            continue
        day = piece.at.date()
        while given[(piece.giver, day)] >= GIVER_DAILY_CAP:
            day += timedelta(days=1)
        given[(piece.giver, day)] += 1
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


def lent(
    said: Mapping[tuple[str, str], float], spoken: Mapping[str, float] | None = None
) -> dict[tuple[str, str], float]:
    """Per (giver, receiver): the share of what the giver passes on that the receiver gets, in
    proportion to what the giver said of it among all it said (``spoken``, by default the sum
    of ``said``), and never more than :data:`MAX_LEND`."""
    if spoken is None:
        totals: dict[str, float] = defaultdict(float)
        for (giver, _), amount in said.items():
            totals[giver] += amount
        spoken = totals
    return {
        (giver, receiver): min(MAX_LEND, amount / spoken[giver])
        for (giver, receiver), amount in said.items()
    }


def seed(
    agents: Sequence[str], owner_trust: Mapping[str, float], created: Mapping[str, datetime]
) -> tuple[dict[str, float], str]:
    """Where trust starts, summing to 1, and who set it: the owner's trust where there is any
    (``"owner"``), else alike for the founders, the identities made within
    :data:`FOUNDING_DAYS` of the first (``"founders"``)."""
    weights = {a: owner_trust[a] for a in agents if owner_trust.get(a, 0.0) > 0}
    seeded_by = "owner"
    if not weights:
        first = min(created[a] for a in agents)
        founding = timedelta(days=FOUNDING_DAYS)
        weights = {a: 1.0 for a in agents if created[a] - first < founding}
        seeded_by = "founders"
    total = sum(weights.values())
    return {a: w / total for a, w in weights.items()}, seeded_by


class Flow:
    """Trust flowing from the seed along the lent shares, solved exactly.

    With ``L[r, g]`` the share giver ``g`` lends receiver ``r``, trust ``t`` is the fixed point
    of ``t = d s + (1 - d) L t``, so ``t = d Q s`` with ``Q = (I - (1 - d) L)^-1``. ``Q[x, x]``
    is how much of a unit starting at ``x`` comes back to it through every cycle, so
    ``t[x] / Q[x, x]`` is x's trust had nothing it passed on returned (Sherman-Morrison on
    the row of x's lending), and the same gives every giver's trust without x's part in it.
    Only AIs with evidence are in the matrix (its size is theirs, squared): the others hold
    their seed's ``d s`` alone.
    """

    def __init__(self, shares: Mapping[tuple[str, str], float], seeds: Mapping[str, float]) -> None:
        names = sorted({agent for pair in shares for agent in pair})
        self._index = {agent: i for i, agent in enumerate(names)}
        self._seeds = seeds
        size = len(names)
        lending = np.zeros((size, size))
        for (giver, receiver), share in shares.items():
            lending[self._index[receiver], self._index[giver]] = share
        self._q = np.linalg.inv(np.eye(size) - (1 - DAMPING) * lending)
        start = np.array([seeds.get(agent, 0.0) for agent in names])
        self._trust = DAMPING * (self._q @ start)

    def own(self, agent: str) -> float:
        """``agent``'s trust with nothing it passed on coming back to it."""
        i = self._index.get(agent)
        if i is None:
            return DAMPING * self._seeds.get(agent, 0.0)
        return max(0.0, float(self._trust[i] / self._q[i, i]))

    def without(self, giver: str, receiver: str) -> float:
        """``giver``'s trust had ``receiver`` passed nothing on: what the giver can lend the
        receiver without handing back the receiver's own."""
        g, x = self._index.get(giver), self._index.get(receiver)
        if g is None:
            return DAMPING * self._seeds.get(giver, 0.0)
        if x is None:
            return float(self._trust[g])
        if g == x:
            return self.own(receiver)
        returned = self._q[g, x] * self._trust[x] / self._q[x, x]
        return max(0.0, float(self._trust[g] - returned))


def published(trust: float, reference: float) -> float:
    """Trust on the 0..1 scale: 0.5 for ``reference`` (what a seeded AI holds of its own), 0
    for none."""
    relative = trust / reference if reference > 0 else 0.0
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
    known = (e for e in evidence if e.giver in created and e.receiver in created)
    counts, waiting = counted(known, now.date())
    seeds, seeded_by = seed(agents, owner_trust, created)
    reference = DAMPING / len(seeds)  # a seeded AI's own trust, on average
    shares = lent(opinions(counts))
    flow = Flow(shares, seeds)
    kinds: dict[tuple[str, str, str], set[str]] = defaultdict(set)  # (giver, receiver, skill)
    for piece in counts:
        for skill in ("", *piece.skills):
            kinds[(piece.giver, piece.receiver, skill)].add(piece.kind)

    def part(giver: str, receiver: str, skill: str, share: float) -> Part:
        amount = (1 - DAMPING) * share * flow.without(giver, receiver)
        return Part(giver, tuple(sorted(kinds[(giver, receiver, skill)])), amount)

    passed: dict[str, list[Part]] = defaultdict(list)
    for (giver, receiver), share in shares.items():
        passed[receiver].append(part(giver, receiver, "", share))
    own = {agent: flow.own(agent) for agent in agents}
    total = sum(own.values())  # > 0: someone holds a seed
    result = Reputation(seeded_by=seeded_by)
    for agent in agents:
        # An AI's own trust is exactly its seed's part plus what each giver lent it out of a
        # trust that holds nothing of the AI's (see :class:`Flow`).
        parts = [Part("seed", (), DAMPING * seeds.get(agent, 0.0)), *passed[agent]]
        # Shares of what the parts add up to: the same as ``own`` but for rounding, which for
        # a trust near zero (1e-240, say) is far from it relative to its size.
        score = Score(
            agent,
            "",
            published(own[agent], reference),
            round(own[agent] / total, 8),
            _shares(parts, sum(p.share for p in parts)),
            waiting.get(agent, 0),
        )
        result.scores[agent] = {"": score}
    skills = sorted({s for piece in counts for s in piece.skills})
    by_skill = {skill: opinions(counts, skill) for skill in skills}
    spoken: dict[str, float] = defaultdict(float)  # all a giver said, about any skill
    for said in by_skill.values():
        for (giver, _), amount in said.items():
            spoken[giver] += amount
    for skill, said in by_skill.items():
        received: dict[str, list[Part]] = defaultdict(list)
        for (giver, receiver), share in lent(said, spoken).items():
            received[receiver].append(part(giver, receiver, skill, share))
        for agent, parts in received.items():
            value = sum(p.share for p in parts)
            result.scores[agent][skill] = Score(
                agent,
                skill,
                published(value, reference),
                round(value / total, 8),
                _shares(parts, value),
            )
    for (agent, skill), by_rater in ratings_by_rater(counts).items():
        trusted = {rater: published(flow.without(rater, agent), reference) for rater in by_rater}
        learned = weight(by_rater, trusted)
        if learned > 0:
            found = result.scores[agent].get(skill) or Score(agent, skill, 0.0, 0.0)
            result.scores[agent][skill] = replace(found, learned=learned)
    return result


def ratings_by_rater(counts: Iterable[Evidence]) -> dict[tuple[str, str], dict[str, float]]:
    """Per (rated AI, topic), each rater's verdicts on its answers that knew something, summed
    as learned skills weigh them."""
    found: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for piece in counts:
        if piece.kind in VERDICT_WEIGHTS and piece.knows:
            for skill in piece.skills:
                found[(piece.receiver, skill)][piece.giver] += VERDICT_WEIGHTS[piece.kind]
    return found


def _shares(parts: Sequence[Part], total: float) -> tuple[Part, ...]:
    """The parts as shares of ``total``, largest first, the nothing-parts left out."""
    if total <= 0:
        return ()
    found = [
        Part(p.source, p.kinds, round(float(p.share / total), 4)) for p in parts if p.share > 0
    ]
    return tuple(sorted(found, key=lambda p: (-p.share, p.source)))
