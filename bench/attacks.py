"""Attacks on Familio's reputation and learned skills, simulated day by day.

    python -m bench.attacks                   # the table of attacks and outcomes
    python -m bench.attacks --family 1000     # the same inside a family of 1,000 more AIs
    python -m bench.attacks --write docs/familio.md   # put the table into the docs

A family: the owner trusts ada, bob and carol; ada and bob vouch for erin's postgresql, carol
accepted one of her answers. mallory, a newcomer, wants to be asked about postgresql first: her
memories are worded closer to the question (relevance 1.0 against erin's 0.8), so with equal
standing she would win. Each attack is played out over simulated days with the real rules:
:func:`cloudbrain.familio.reputation.compute` for reputation, :mod:`cloudbrain.directory.skills`
for learned skills, :func:`cloudbrain.directory.selection.select_specialists` for who is asked
first. ``tests/test_attacks.py`` holds the outcomes to what the rules promise, and checks that
docs/familio.md's table is this one.

``--family N`` adds N honest AIs, founders the owner does not know, who endorse one another at
random (three each, seeded): the graph the rules then work over has N + 5 AIs and more.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cloudbrain.directory.selection import reputation_for, select_specialists
from cloudbrain.directory.skills import answer_evidence, learned_skills
from cloudbrain.familio.reputation import Evidence, compute
from cloudbrain.protocol import AgentInfo

DAY0 = datetime(2026, 12, 1, 12, tzinfo=UTC)  # the attack starts
SKILL = "postgresql"
EXPERT, ATTACKER = "erin", "mallory"
RELEVANCE = {EXPERT: 0.8, ATTACKER: 1.0}  # mallory's memories are worded closer
TRUSTED = ("ada", "bob", "carol")
BEGIN, END = "<!-- attacks:begin -->", "<!-- attacks:end -->"


@dataclass
class World:
    """Who exists since when, and every piece of evidence, as the server would store them."""

    created: dict[str, datetime] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    answers: list[tuple[str, str, list[str], datetime]] = field(default_factory=list)
    ratings: list[tuple[str, str, str, datetime]] = field(default_factory=list)
    owner_trust: dict[str, float] = field(default_factory=dict)

    def make(self, name: str, day: float) -> None:
        self.created.setdefault(name, at(day))

    def endorse(self, giver: str, receiver: str, day: float, skill: str = SKILL) -> None:
        self.evidence.append(Evidence(giver, receiver, "endorse", (skill,), at(day)))

    def rate(self, rater: str, author: str, verdict: str, day: float) -> None:
        """``rater`` asked about the skill, ``author`` answered, ``rater`` gave its verdict."""
        answer = f"answer{len(self.answers)}"
        self.answers.append((answer, author, [SKILL], at(day)))
        self.ratings.append((answer, rater, verdict, at(day)))
        self.evidence.append(Evidence(rater, author, verdict, (SKILL,), at(day)))


def at(day: float) -> datetime:
    return DAY0 + timedelta(days=day)


def family(owner: bool = True, age: int = 90, background: int = 0) -> World:
    """The honest family, ``age`` days old, with ``background`` more AIs."""
    world = World()
    for name in (*TRUSTED, "dave", EXPERT):
        world.make(name, -age)
    if owner:
        world.owner_trust = dict.fromkeys(TRUSTED, 1.0)
    world.endorse("ada", EXPERT, -5)
    world.endorse("bob", EXPERT, -5)
    world.endorse("ada", "bob", -20, "python")
    world.endorse("carol", "dave", -20, "linux")
    world.rate("carol", EXPERT, "accept", -3)
    world.make(ATTACKER, 0)
    rng = random.Random(7)
    others = [f"ai{i:04d}" for i in range(background)]
    for name in others:
        world.make(name, -age)
    for name in others:
        for friend in rng.sample(others, min(3, len(others) - 1)):
            if friend != name:
                world.endorse(name, friend, -rng.uniform(1, age), rng.choice(("linux", "go")))
    return world


# --- the attacks: each adds its accounts and evidence to a world ---------------------------


def ring(size: int, days: int = 30) -> Callable[[World], None]:
    """``size`` fresh accounts vouch for mallory and for each other, follow her, and accept an
    answer of hers in an ask of their own every day; mallory accepts her own answers too."""

    def attack(world: World) -> None:
        members = [f"sybil{i:03d}" for i in range(size)]
        for i, member in enumerate(members):
            world.make(member, 0)
            world.endorse(member, ATTACKER, 0)
            world.endorse(ATTACKER, member, 0)
            for mate in members[i + 1 : i + 4]:
                world.endorse(member, mate, 0.01)
                world.endorse(mate, member, 0.01)
        for day in range(days):
            for member in members:
                world.rate(member, ATTACKER, "accept", day + 0.5)
            world.rate(ATTACKER, ATTACKER, "accept", day + 0.6)

    return attack


def turncoats(count: int, extra: int) -> Callable[[World], None]:
    """``count`` of the owner's trusted AIs vouch for mallory too, and mallory and ``extra``
    fresh accounts vouch for each other (the mutual praise feeding the trust back)."""

    def attack(world: World) -> None:
        for name in TRUSTED[:count]:
            world.endorse(name, ATTACKER, 0)
            world.rate(name, ATTACKER, "up", 0.2)
        ring(extra)(world)

    return attack


def idle(count: int) -> Callable[[World], None]:
    """``count`` identities that do nothing at all."""

    def attack(world: World) -> None:
        for i in range(count):
            world.make(f"idle{i:04d}", 0)

    return attack


def collusion(size: int, days: int = 30) -> Callable[[World], None]:
    """A ring that also asks erin and rates her answers down, every day."""

    def attack(world: World) -> None:
        ring(size, days)(world)
        for day in range(days):
            for i in range(size):
                world.rate(f"sybil{i:03d}", EXPERT, "down", day + 0.7)

    return attack


def griefing(junk: int) -> Callable[[World], None]:
    """A new expert, nina, whom two fresh accounts endorse for ``junk`` junk skills just
    before ada and bob vouch for her postgresql, the same day: the real endorsements must not
    wait behind the junk. (nina takes erin's place as the expert.)"""

    def attack(world: World) -> None:
        world.make("nina", -1)
        for i in range(junk):
            troll = f"troll{i % 2}"
            world.make(troll, 0)
            world.endorse(troll, "nina", 0.1 + i / 10_000, f"junk{i}")
        world.endorse("ada", "nina", 0.2)
        world.endorse("bob", "nina", 0.2)

    return attack


@dataclass(frozen=True)
class Scenario:
    name: str
    attack: Callable[[World], None]
    days: int = 30
    owner: bool = True
    age: int = 90  # the honest family's age, days
    expert: str = EXPERT
    promise: bool = True  # the rules promise the expert stays first (else: shown, not promised)


SCENARIOS = [
    *(Scenario(f"a ring of {n}", ring(n)) for n in (1, 10, 30, 100)),
    Scenario("one turncoat and one extra account", turncoats(1, 1)),
    Scenario("one turncoat and a ring of 20", turncoats(1, 20)),
    Scenario("1,000 idle identities", idle(1000)),
    Scenario(
        "collusion through asks: a ring of 20 accepting hers, rating erin's down", collusion(20)
    ),
    Scenario("60 junk endorsements before the real ones", griefing(60), days=1, expert="nina"),
    Scenario(
        "no owner's trust, a family 30 days old, a ring of 20",
        ring(20, 60),
        days=60,
        owner=False,
        age=30,
    ),
    Scenario("two turncoats and a ring of 20", turncoats(2, 20), promise=False),
]


@dataclass(frozen=True)
class Day:
    """One simulated day's outcome."""

    day: int
    expert: float  # the expert's standing for the skill, as the ask ranks it
    attacker: float
    first: str  # who is asked first
    attacker_learned: float  # the attacker's learned weight for the skill


def play(scenario: Scenario, background: int = 0) -> Iterator[Day]:
    """The scenario day by day, from the day the attack starts."""
    world = family(scenario.owner, scenario.age, background)
    scenario.attack(world)
    for day in range(scenario.days + 1):
        yield outcome(world, scenario.expert, at(day + 0.99))


def outcome(world: World, expert: str, now: datetime) -> Day:
    """Reputation, learned skills and the choice of specialists as the server has them at
    ``now``."""
    created = {name: made for name, made in world.created.items() if made <= now}
    evidence = [e for e in world.evidence if e.at <= now]
    reputation = compute(created, evidence, world.owner_trust, now)
    weights = {
        name: {skill: score.learned for skill, score in scores.items() if score.learned}
        for name, scores in reputation.scores.items()
    }
    answers = [(a, author, topics) for a, author, topics, when in world.answers if when <= now]
    ratings = [(a, rater, verdict) for a, rater, verdict, when in world.ratings if when <= now]
    learned = learned_skills(answer_evidence(answers, ratings), weights)
    profiles = []
    for name in (expert, ATTACKER):
        scores = reputation.scores[name]
        profiles.append(
            AgentInfo(
                name=name,
                skills=[SKILL],
                learned_skills=learned.get(name, []),
                online=True,
                reputation=scores[""].score,
                skill_reputation={s: score.score for s, score in scores.items() if s},
            )
        )
    relevance = {expert: RELEVANCE[EXPERT], ATTACKER: RELEVANCE[ATTACKER]}
    chosen = select_specialists(profiles, [SKILL], relevance, {expert, ATTACKER}, limit=2)
    mine = {s.topic: s.weight for s in learned.get(ATTACKER, [])}
    return Day(
        (now - DAY0).days,
        reputation_for(profiles[0], [SKILL]),
        reputation_for(profiles[1], [SKILL]),
        chosen[0].agent,
        mine.get(SKILL, 0.0),
    )


def table(background: int = 0) -> str:
    """The attacks and their outcomes, as docs/familio.md shows them."""
    lines = [
        "| attack | days | expert's standing (last day) | attacker's (best day) | "
        "attacker's learned weight (best) | expert asked first |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for scenario in SCENARIOS:
        days = list(play(scenario, background))
        held = sum(1 for d in days if d.first == scenario.expert)
        first = "every day" if held == len(days) else f"{held} of {len(days)} days"
        lines.append(
            f"| {scenario.name} | {scenario.days} | {days[-1].expert:.2f} | "
            f"{max(d.attacker for d in days):.2f} | "
            f"{max(d.attacker_learned for d in days):.1f} | {first} |"
        )
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> None:
    """Replace the table between the markers in ``path``."""
    found = path.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(found):
        raise SystemExit(f"{path} has no {BEGIN} ... {END} markers to write the table between")
    path.write_text(pattern.sub(lambda _: f"{BEGIN}\n{text}{END}", found))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", type=int, default=0, help="more honest AIs (default 0)")
    parser.add_argument("--write", type=Path, help="put the table into this Markdown file")
    args = parser.parse_args()
    started = time.perf_counter()
    text = table(args.family)
    sys.stdout.write(text)
    print(f"({time.perf_counter() - started:.1f} s)", file=sys.stderr)
    if args.write:
        write(args.write, text)


if __name__ == "__main__":
    main()
