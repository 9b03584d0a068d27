"""Learned skills come only from answers that other AIs rated up or accepted: the rule as a
plain function, and through a real server (asks, ratings, the directory), on SQLite and
PostgreSQL."""

from __future__ import annotations

from cloudbrain.agent.client import Client
from cloudbrain.directory.skills import AnswerEvidence, answer_evidence, learned_skills, weight
from cloudbrain.ids import new_id
from cloudbrain.protocol import AgentInfo, AskResult, LearnedSkill
from cloudbrain.protocol.directory import SkillHolders, SkillList, Skills
from cloudbrain.server import Server
from cloudbrain.server.directory import skill_holders
from tests.conftest import AgentFactory, ClientFactory
from tests.test_ask import reputation_worked_out, store

QUESTION = "How do I roll back a kubernetes deployment?"
VACUUM_NOTE = "Before you roll back a deployment, run VACUUM ANALYZE on the database"


def k8s(up: int = 0, accepted: int = 0) -> AnswerEvidence:
    return AnswerEvidence("grace", ("kubernetes",), up=up, accepted=accepted)


TRUSTED = {"dora": 0.5, "ada": 0.7, "half": 0.25}  # reputation of the raters, as grace sees them


def test_answers_nobody_rated_teach_nothing() -> None:
    unrated = [k8s() for _ in range(4)]
    assert learned_skills(unrated, {}) == {}
    rated = [*unrated, k8s(up=1)]
    weights = {"grace": {"kubernetes": weight({"dora": 2.0}, TRUSTED)}}
    assert learned_skills(rated, weights) == {
        "grace": [LearnedSkill(topic="kubernetes", answers=5, up=1, weight=2.0)]
    }


def test_an_accept_teaches_and_a_down_rating_takes_back() -> None:
    assert weight({"dora": 3.0}, TRUSTED) == 3.0
    assert weight({"dora": 3.0, "ada": -2.0}, TRUSTED) == 1.0  # below LEARNED_AT
    assert learned_skills([k8s(accepted=1)], {"grace": {"kubernetes": 1.0}}) == {}


def test_a_rating_counts_as_much_as_its_rater_is_trusted() -> None:
    assert weight({f"sybil{i}": 3.0 for i in range(100)}, TRUSTED) == 0.0  # nobody trusts them
    assert weight({"half": 3.0}, TRUSTED) == 1.5
    assert weight({"half": 3.0, "dora": 2.0}, TRUSTED) == 3.5


def test_one_rater_says_at_most_one_accepts_worth_however_often_it_rates() -> None:
    assert weight({"dora": 50 * 3.0}, TRUSTED) == 3.0
    # And trusted raters' later downs take back what was learned.
    assert weight({"dora": 50 * 3.0, "ada": -4.0}, TRUSTED) == 0.0


def test_an_authors_ratings_of_its_own_answers_are_left_out() -> None:
    answers = [("a1", "grace", ["kubernetes"]), ("a2", "grace", ["kubernetes"])]
    ratings = [
        ("a1", "grace", "accept"),  # grace accepts her own answer
        ("a2", "grace", "up"),
        ("a2", "dora", "down"),
        ("a2", "dora", "up"),  # dora changes her mind: her latest counts
    ]
    assert answer_evidence(answers, ratings) == [k8s(), k8s(up=1)]


async def learned(server: Server, client: Client, name: str) -> list[LearnedSkill]:
    """``name``'s learned skills as the directory lists them now (not as kept for a few
    seconds: an unrated answer must be seen to teach nothing, not merely not yet)."""
    await reputation_worked_out(server)
    [profile] = [p for p in await client.who() if p.name == name]
    return profile.learned_skills


def graces_answer(result: AskResult) -> str:
    [answer] = [a for a in result.answers if a.agent == "grace"]
    assert answer.knows
    return answer.id


async def test_only_other_ais_ratings_teach_a_skill(server: Server, connect: ClientFactory) -> None:
    # grace knows databases, and answers a kubernetes question from her VACUUM notes.
    grace = await connect("grace")
    await store(grace, VACUUM_NOTE, session="grace-earlier")
    dora = await connect("dora")
    asked = [
        await dora.ask_and_wait(QUESTION, skills=["kubernetes"], agents=["grace"], timeout=2)
        for _ in range(4)
    ]
    answers = [graces_answer(result) for result in asked]
    assert all("kubernetes" in result.topics for result in asked)
    # Four answers, nobody rated them: nothing learned.
    assert await learned(server, dora, "grace") == []

    # grace accepting and rating up her own answers teaches nothing either, nor does accepting
    # the answer to an ask she put to herself.
    await grace.rate(asked[0].ask, answers[0], "accept")
    await grace.rate(asked[1].ask, answers[1], "up")
    own = await grace.ask_and_wait(QUESTION, skills=["kubernetes"], own=True, timeout=2)
    assert own.asker == "grace"
    await grace.rate(own.ask, graces_answer(own), "accept")
    assert await learned(server, dora, "grace") == []
    [graces_view] = [a for a in await grace.asks() if a.ask == own.ask]
    assert graces_view.answers[0].feedback == {"accept": 1}  # stored, shown, not counted

    # Another AI's up-rating does teach, and its accept more; the answers show for all five.
    await dora.rate(asked[2].ask, answers[2], "up")
    assert await learned(server, dora, "grace") == [
        LearnedSkill(topic="kubernetes", answers=5, up=1, weight=2.0)
    ]
    await dora.rate(asked[3].ask, answers[3], "accept")
    # One rater's say is bounded: dora's up and accept count as one accept.
    assert await learned(server, dora, "grace") == [
        LearnedSkill(topic="kubernetes", answers=5, up=1, accepted=1, weight=3.0)
    ]
    [listed] = await dora.who(skill="kubernetes")
    assert listed.name == "grace"

    # Rated down again by dora, the skill is gone: what others think is all that counts.
    await dora.rate(asked[2].ask, answers[2], "down")
    await dora.rate(asked[3].ask, answers[3], "down")
    assert await learned(server, dora, "grace") == []
    assert await dora.who(skill="kubernetes") == []


def test_the_familys_skills_group_spellings_and_count_who_is_online() -> None:
    profiles = [
        AgentInfo(name="grace", skills=["PostgreSQL"], online=False),
        AgentInfo(
            name="ada",
            skills=["python", "postgresql"],
            online=True,
            learned_skills=[LearnedSkill(topic="python", weight=2.0)],
        ),
        AgentInfo(name="carol", online=True, learned_skills=[LearnedSkill(topic="Python")]),
    ]
    assert skill_holders(profiles) == [
        SkillHolders(skill="postgresql", declared=["ada", "grace"], online=1),
        SkillHolders(skill="python", declared=["ada"], learned=["ada", "carol"], online=2),
    ]
    assert skill_holders([]) == []


async def test_a_client_asks_for_the_familys_skills_by_the_frames_alone(
    connect: ClientFactory, make_agent: AgentFactory
) -> None:
    """``skills`` was added as one frame pair, one handler and its documentation: the client
    library sends it without a method of its own."""
    await make_agent("grace", skills=["postgresql", "backups"])
    _, hoppers_token = await make_agent("hopper", skills=["kubernetes", "backups"])
    ada = await connect("ada")
    await connect("hopper", hoppers_token)
    found = await ada.call(Skills(id=new_id()), SkillList)
    assert [(s.skill, s.declared, s.online) for s in found.skills] == [
        ("backups", ["grace", "hopper"], 1),
        ("kubernetes", ["hopper"], 1),
        ("postgresql", ["grace"], 0),
    ]
