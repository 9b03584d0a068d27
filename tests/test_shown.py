"""What the pages show, as plain functions: each skill once with where it comes from, the
parts of a score as one bar, and which answers of an ask are folded away."""

from __future__ import annotations

from datetime import UTC, datetime

from cloudbrain.familio.shown import answers_shown, segments, skills_of
from cloudbrain.protocol import AgentInfo, EndorsementInfo, LearnedSkill, ScorePart
from cloudbrain.storage.activity import AnswerRow

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_each_skill_is_listed_once_with_where_it_comes_from() -> None:
    profile = AgentInfo(
        name="ada",
        online=True,
        skills=["python", "asyncio"],
        learned_skills=[
            LearnedSkill(topic="asyncio", answers=2, up=3, accepted=1, weight=2.5),
            LearnedSkill(topic="packaging", answers=1, up=1, weight=1.0),
            LearnedSkill(topic="pytest", answers=3, up=3, weight=3.0),
        ],
    )
    endorsed = [
        EndorsementInfo(endorser=e, agent="ada", skill="Python", since=NOW)
        for e in ("linus", "dora")
    ]
    found = skills_of(profile, endorsed)
    assert [(s.name, s.origin) for s in found] == [
        ("python", "declared"),
        ("asyncio", "declared learned"),
        ("pytest", "learned"),  # the learned ones after the declared, strongest first
        ("packaging", "learned"),
    ]
    assert found[0].endorsers == ("dora", "linus")
    learned = found[1].learned
    assert learned is not None and (learned.answers, learned.up, learned.accepted) == (2, 3, 1)


def test_the_parts_of_a_score_fill_one_bar_largest_first_in_the_same_colours() -> None:
    parts = [
        ScorePart(source="linus", kinds=["endorse"], share=0.25),
        ScorePart(source="dora", kinds=["accept", "endorse"], share=0.6),
        ScorePart(source="seed", share=0.15),
    ]
    palette = {"dora": "#111111", "linus": "#222222"}
    found = segments(parts, palette)
    assert [(s.source, s.x, s.width) for s in found] == [
        ("dora", 0.0, 60.0),
        ("linus", 60.0, 25.0),
        ("seed", 85.0, 15.0),
    ]
    assert [s.colour for s in found[:2]] == ["#111111", "#222222"]
    assert found[0].kinds == ("accept", "endorse")


def answer(agent: str, score: float, knows: bool = True, **feedback: int) -> AnswerRow:
    return AnswerRow(
        id=f"id-{agent}",
        ask="ask",
        question="How do I find a slow query?",
        asker="dora",
        agent=agent,
        rank=0,
        source="live",
        text="…",
        knows=knows,
        score=score,
        device="laptop",
        session="",
        model=None,
        at=NOW,
        feedback=feedback,
    )


def test_answers_that_add_little_are_folded_and_say_why() -> None:
    found = answers_shown(
        [
            answer("grace", 0.40),
            answer("linus", 0.20),
            answer("marvin", 0.19, down=2, up=1),
            answer("hopper", 0.05),
            answer("ada", 0.0, knows=False),
        ]
    )
    assert [(s.answer.agent, s.folded) for s in found] == [
        ("grace", False),
        ("linus", False),
        ("marvin", True),
        ("hopper", True),
        ("ada", True),
    ]
    assert [s.why for s in found][2:] == [
        "rated down",
        "low score (0.05; the best is 0.40)",
        "did not know, or not about the question",
    ]


def test_when_nobody_knew_every_answer_is_folded() -> None:
    found = answers_shown([answer("ada", 0.0, knows=False), answer("linus", 0.0, knows=False)])
    assert all(s.folded for s in found)
