"""The directory's decisions as plain functions: topics, specialists, learned skills, answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cloudbrain.directory.aggregate import aggregate, relevance, summarize
from cloudbrain.directory.card import agent_card
from cloudbrain.directory.routing import HEAVY, capacity, estimate_complexity, route
from cloudbrain.directory.search import matches
from cloudbrain.directory.selection import select_specialists
from cloudbrain.directory.skills import AnswerEvidence, learned_skills
from cloudbrain.directory.topics import classify
from cloudbrain.protocol import AgentInfo, AskAnswer, DeviceProfile, LearnedSkill
from cloudbrain.ratings import verdict_counts

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def profile(name: str, *skills: str, online: bool = True, **more: object) -> AgentInfo:
    return AgentInfo(name=name, skills=list(skills), online=online, **more)


def answer(agent: str, text: str, **more: object) -> AskAnswer:
    fields: dict[str, object] = {
        "id": f"id-{agent}",
        "source": "live",
        "confidence": 0.6,
        "relevance": 0.5,
        "at": T0,
        **more,
    }
    return AskAnswer(agent=agent, text=text, **fields)


def test_topics_match_whole_skill_names_up_to_word_endings() -> None:
    vocabulary = ["python", "machine-learning", "Kubernetes", "go"]
    assert classify("How do I deploy Python apps on kubernetes?", vocabulary) == [
        "kubernetes",
        "python",
    ]
    assert classify("Which machine learning library?", vocabulary) == ["machine learning"]
    assert classify("Is learning hard?", vocabulary) == []  # "machine learning" needs both
    assert classify("", vocabulary) == []


def test_specialists_are_chosen_by_skills_memories_and_presence() -> None:
    profiles = [
        profile("alice", "python"),
        profile("bob", "kubernetes"),
        profile("carol", online=False),
        profile("dave", "python", online=False),
        profile("eve"),
    ]
    relevance = {"carol": 0.1, "alice": 0.2, "eve": 0.09}  # eve: weak, and no skill to back it
    chosen = select_specialists(profiles, ["python"], relevance, {"alice", "bob"}, limit=5)
    assert [(s.agent, s.live) for s in chosen] == [
        ("alice", True),  # declared + memories + online
        ("dave", False),  # declared
        ("carol", False),  # memories only, half as relevant as alice's
    ]
    assert chosen[0].why["declared_skill"] == 1.0 and chosen[0].why["online"] > 0
    assert [s.agent for s in select_specialists(profiles, ["python"], {}, set(), limit=1)] == [
        "alice"
    ]


def test_nobody_knowing_means_asking_whoever_can_answer_now() -> None:
    profiles = [profile("alice", "python"), profile("bob", online=False)]
    chosen = select_specialists(profiles, ["cooking"], {}, {"alice"}, limit=5)
    assert [(s.agent, s.live) for s in chosen] == [("alice", True)]
    named = select_specialists(profiles, ["cooking"], {}, {"alice"}, limit=5, named=True)
    assert {s.agent for s in named} == {"alice", "bob"}


def test_a_learned_skill_wins_a_tie_of_declared_ones() -> None:
    learned = [LearnedSkill(topic="python", answers=3, up=2, weight=7.0)]
    profiles = [profile("alice", "python"), profile("bob", "python", learned_skills=learned)]
    chosen = select_specialists(profiles, ["python"], {}, {"alice", "bob"}, limit=1)
    assert chosen[0].agent == "bob" and chosen[0].why["learned_skill"] > 0


def test_learned_skills_weigh_feedback_not_answers() -> None:
    evidence = [
        AnswerEvidence("alice", ("python",)),
        AnswerEvidence("alice", ("python", "asyncio"), up=1),
        AnswerEvidence("alice", ("python",), accepted=1),
        AnswerEvidence("bob", ("python",), down=1),
        AnswerEvidence("bob", ("rust",), accepted=1),
        AnswerEvidence("carol", ("go",)),
        AnswerEvidence("carol", ("go",)),
    ]
    weights = {"alice": {"python": 5.0, "asyncio": 2.0}, "bob": {"rust": 3.0}}
    found = learned_skills(evidence, weights)
    # Every answer is counted for show; the weight is what the ratings taught.
    assert [(s.topic, s.answers, s.up, s.accepted, s.weight) for s in found["alice"]] == [
        ("python", 3, 1, 1, 5.0),
        ("asyncio", 1, 1, 0, 2.0),
    ]
    assert [(s.topic, s.accepted) for s in found["bob"]] == [("rust", 1)]
    assert "carol" not in found  # answers nobody rated teach nothing


def test_near_duplicates_merge_and_the_best_comes_first() -> None:
    ranked = aggregate(
        [
            answer("alice", "Tasks need a strong reference or they are garbage collected."),
            answer(
                "bob",
                "Tasks need a strong reference, or they are garbage collected!",
                confidence=0.9,
            ),
            answer("carol", "Use asyncio.TaskGroup to keep tasks alive.", relevance=0.3),
            answer("dave", "I don't know anything about that yet.", knows=False),
        ]
    )
    assert [(a.agent, a.also) for a in ranked] == [
        ("bob", ["alice"]),
        ("carol", []),
        ("dave", []),
    ]
    assert ranked[0].score > ranked[1].score > 0 and ranked[2].score == 0


def test_summary_takes_one_new_sentence_per_answer() -> None:
    ranked = aggregate(
        [
            answer("alice", "Here is what I remember:\n- Backups run at 02:00. They take an hour."),
            answer("bob", "Backups run at 02:00.", relevance=0.4),
            answer("carol", "Restores are tested weekly.", relevance=0.3),
        ]
    )
    assert summarize(ranked) == "Backups run at 02:00. (alice) Restores are tested weekly. (carol)"


def test_relevance_uses_words_and_meaning() -> None:
    assert relevance("backup schedule", "The backup runs nightly", None) == 0.5
    assert relevance("backup schedule", "The backup runs nightly", 0.8) == 0.65
    assert relevance("backup", "unrelated", -0.2) == 0.0


def test_directory_search_and_card() -> None:
    learned = [LearnedSkill(topic="asyncio", answers=4, up=1, weight=6.0)]
    alice = profile("alice", "python", description="Backend helper", learned_skills=learned)
    assert matches(alice, skill="asyncio") and matches(alice, skill="Python")
    assert matches(alice, text="backend") and not matches(alice, text="frontend")
    assert not matches(alice, online=False) and not matches(alice, skill="rust")
    card = agent_card(
        alice,
        server_url="ws://127.0.0.1:8766",
        version="1.0",
        examples={"asyncio": ["Why did my task vanish?"]},
    )
    assert card["name"] == "alice" and card["version"] == "1.0"
    skills = card["skills"]
    assert isinstance(skills, list)
    assert [(s["id"], s["tags"]) for s in skills] == [  # type: ignore[index,call-overload]
        ("python", ["python", "declared"]),
        ("asyncio", ["asyncio", "learned"]),
    ]
    assert skills[1]["examples"] == ["Why did my task vanish?"]  # type: ignore[index,call-overload]


def test_answers_that_do_not_know_are_kept_last() -> None:
    late = answer("zed", "I don't know.", knows=False, at=T0 - timedelta(days=1))
    ranked = aggregate([late, answer("amy", "Yes: port 8766.")])
    assert [a.agent for a in ranked] == ["amy", "zed"]


def test_complexity_grows_with_length_work_and_code() -> None:
    assert estimate_complexity("What port does the hub use?") < HEAVY
    assert estimate_complexity("Design and compare two caching strategies for the hub") >= HEAVY
    code = "Why does this fail?\n```\ndef f(x):\n    return x[0]\n```"
    assert estimate_complexity(code) > estimate_complexity("Why does this fail?")
    assert estimate_complexity("word " * 500) <= 1.0


def test_heavy_work_is_routed_by_capacity_light_work_to_everyone() -> None:
    capacities = {
        "jetson": capacity(DeviceProfile(gpu_memory_gb=8, tokens_per_second=12), None),
        "laptop": capacity(DeviceProfile(gpu_memory_gb=24), 85.0),  # measured beats announced
    }
    assert capacities["laptop"] > capacities["jetson"]
    heavy = route(0.8, ["jetson", "laptop"], capacities)
    assert (heavy.heavy, heavy.first, heavy.fallback) == (True, ["laptop"], ["jetson"])
    light = route(0.2, ["jetson", "laptop"], capacities)
    assert (light.heavy, light.first, light.fallback) == (False, ["jetson", "laptop"], [])
    assert route(0.9, ["jetson"], capacities).first == ["jetson"]


def test_a_raters_latest_verdict_is_the_one_that_counts() -> None:
    ratings = [
        ("a1", "dora", "up"),
        ("a1", "eve", "up"),
        ("a1", "dora", "down"),
        ("a2", "eve", "accept"),
    ]
    assert verdict_counts(ratings) == {"a1": {"down": 1, "up": 1}, "a2": {"accept": 1}}
