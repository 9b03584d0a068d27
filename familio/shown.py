"""What the pages show, decided as plain functions: an AI's skills each once with where each
comes from, the parts of a reputation score as one bar, and which answers of an ask are shown
in full and which folded away."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cloudbrain.familio.charts import PALETTE
from cloudbrain.protocol import AgentInfo, EndorsementInfo, LearnedSkill, ScorePart
from cloudbrain.storage.activity import AnswerRow

# An answer scoring under this share of the best answer's score is folded away: the ranking
# says it adds little, and shown in full it would bury the answers that settled the ask.
LOW_SHARE = 0.3
GOOD = ("up", "accept")
SEED_COLOUR = "#9ca3af"


@dataclass(frozen=True)
class Skill:
    """One skill of an AI: whether the AI declared it, what rated answers taught (if they
    did), and who endorsed it."""

    name: str
    declared: bool
    learned: LearnedSkill | None
    endorsers: tuple[str, ...] = ()

    @property
    def origin(self) -> str:
        """declared, learned, or declared and learned: the class the page gives its tag."""
        return " ".join(
            word for word, yes in (("declared", self.declared), ("learned", self.learned)) if yes
        )


def skills_of(profile: AgentInfo, endorsements: Sequence[EndorsementInfo] = ()) -> list[Skill]:
    """Every skill once, whether declared, learned from rated answers, or both: the declared
    ones first, in the AI's order, then the learned ones, strongest first. A skill others
    endorsed but the AI neither declared nor showed is left to the endorsements list."""
    learned = {s.topic.lower(): s for s in profile.learned_skills}
    endorsers: dict[str, list[str]] = {}
    for e in endorsements:
        endorsers.setdefault(e.skill.lower(), []).append(e.endorser)
    declared = list(dict.fromkeys(s.lower() for s in profile.skills))
    only_learned = sorted(
        (t for t in learned if t not in declared), key=lambda t: (-learned[t].weight, t)
    )
    return [
        Skill(name, name in declared, learned.get(name), tuple(sorted(endorsers.get(name, []))))
        for name in [*declared, *only_learned]
    ]


@dataclass(frozen=True)
class Segment:
    """A part of a score drawn as a piece of one bar, 0..100 wide."""

    x: float
    width: float
    colour: str
    source: str
    share: float
    kinds: tuple[str, ...]


def segments(parts: Sequence[ScorePart], palette: Mapping[str, str]) -> list[Segment]:
    """The parts of a score side by side, largest first, as shares of a bar 100 wide, each
    source in its colour of ``palette`` (the same in every score of a profile)."""
    found: list[Segment] = []
    x = 0.0
    for part in sorted(parts, key=lambda p: (-p.share, p.source)):
        width = round(max(0.0, part.share) * 100, 2)
        colour = SEED_COLOUR if part.source == "seed" else palette.get(part.source, PALETTE[-2])
        found.append(
            Segment(round(x, 2), width, colour, part.source, part.share, tuple(part.kinds))
        )
        x += width
    return found


@dataclass(frozen=True)
class ShownAnswer:
    answer: AnswerRow
    folded: bool
    why: str  # why it is folded: what the summary line says


def answers_shown(answers: Sequence[AnswerRow]) -> list[ShownAnswer]:
    """Each answer, in its order, folded when it does not know (it said so, or its text is
    not about the question), scores well below the best answer, or was rated down more often
    than up."""
    best = max((a.score for a in answers if a.knows), default=0.0)
    shown = []
    for answer in answers:
        if not answer.knows:
            why = "did not know, or not about the question"
        elif best > 0 and answer.score < best * LOW_SHARE:
            why = f"low score ({answer.score:.2f}; the best is {best:.2f})"
        elif answer.feedback.get("down", 0) > sum(answer.feedback.get(v, 0) for v in GOOD):
            why = "rated down"
        else:
            why = ""
        shown.append(ShownAnswer(answer, bool(why), why))
    return shown
