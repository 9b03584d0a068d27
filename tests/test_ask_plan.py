"""What an ask decides around its waiting, as plain functions: no server, no database."""

from __future__ import annotations

from cloudbrain.directory.ask_plan import (
    closest,
    knowledge,
    live_shortfall,
    plan_routing,
    question_topics,
    shortfalls,
)
from cloudbrain.directory.knowing import SAID_NO
from cloudbrain.memory.ranking import beside_the_best, closest_together
from cloudbrain.protocol import AgentInfo, DeviceProfile, LearnedSkill

FLOOR = 0.31


def test_topics_come_from_the_familys_skills_then_from_those_the_asker_named() -> None:
    profiles = [
        AgentInfo(name="ada", skills=["postgresql"], online=True),
        AgentInfo(name="grace", online=True, learned_skills=[LearnedSkill(topic="kubernetes")]),
    ]
    question = "Why does kubernetes restart my postgresql pod?"
    assert question_topics(question, [], profiles) == ["kubernetes", "postgresql"]
    assert question_topics(question, ["backups"], profiles)[-1] == "backups"
    assert question_topics("How do I bake bread?", [], profiles) == []


def test_only_memories_close_enough_count_as_knowledge() -> None:
    recalled = [("ada", 0.6, 0.1), ("ada", 0.4, -0.2), ("grace", 0.2, 0.8), ("hopper", None, 0.7)]
    # Their closeness counts, not their recall scores (which crowding lowers, even below 0).
    assert knowledge(recalled, FLOOR) == {"ada": 1.0}
    # Without an embedder (no similarity) there is no floor: every memory recalled counts, by
    # its recall score.
    assert knowledge(recalled, 0.0) == {"ada": 1.0, "grace": 0.2, "hopper": 0.7}


def test_heavy_work_goes_to_the_most_capable_device_first() -> None:
    live = {
        "jetson": (DeviceProfile(gpu_memory_gb=8, tokens_per_second=12), "orin"),
        "laptop": (DeviceProfile(gpu_memory_gb=24, tokens_per_second=90), "rtx"),
    }
    heavy = plan_routing("Design and compare three backup architectures", 0.9, live, {})
    assert heavy.heavy and heavy.first == ["laptop"] and heavy.fallback == ["jetson"]
    assert not heavy.estimated and heavy.complexity == 0.9
    measured = {("jetson", "orin"): 500.0}  # measured speed beats what was announced
    assert plan_routing("x", 0.9, live, measured).first == ["jetson"]
    light = plan_routing("What port does the VPN use?", None, live, {})
    assert light.estimated and not light.heavy
    assert sorted(light.first) == ["jetson", "laptop"] and light.fallback == []


def test_a_live_answer_knows_only_when_it_says_so_and_is_about_the_question() -> None:
    assert live_shortfall(True, 0.5, FLOOR) is None
    assert live_shortfall(False, 0.9, FLOOR) == SAID_NO
    off_topic = live_shortfall(True, 0.1, FLOOR)
    assert off_topic is not None and "not about the question" in off_topic
    assert live_shortfall(True, None, 0.0) is None  # no embedder: no floor either


def test_nobody_knowing_names_those_whose_memories_came_closest() -> None:
    recalled = [("ada", 0.25, 1.0), ("grace", 0.28, 0.9), ("grace", 0.1, 0.3), ("erin", 0.05, 0.2)]
    assert closest(recalled, 2) == [("grace", 0.28), ("ada", 0.25)]
    why = shortfalls({"hopper": SAID_NO}, set(), recalled, FLOOR)
    assert set(why) == {"hopper", "grace", "ada", "erin"}
    assert why["hopper"] == SAID_NO and "best 0.28" in why["grace"]


def test_once_someone_knows_only_those_asked_are_explained() -> None:
    recalled = [("ada", 0.25, 1.0), ("grace", 0.6, 0.9)]
    why = shortfalls({"hopper": SAID_NO, "grace": SAID_NO}, {"grace"}, recalled, FLOOR)
    assert why == {"hopper": SAID_NO}  # grace knew after all; ada was not asked


def test_an_answer_from_memories_quotes_only_those_nearly_as_close_as_the_best() -> None:
    # Similarities of a rollback question's memories with the shipped model: "kubectl rollout
    # undo" 0.74, a note on liveness probes 0.32 (above the floor, yet no answer to it).
    assert beside_the_best(0.74, 0.74) and beside_the_best(0.65, 0.74)
    assert not beside_the_best(0.32, 0.74)
    assert beside_the_best(None, 0.74) and beside_the_best(0.32, None)  # nothing to compare
    found = [("rollout undo", 0.74), ("helm charts", 0.46), ("liveness probes", 0.32)]
    assert closest_together(found, lambda m: m[1]) == [("rollout undo", 0.74)]
    assert closest_together([("no vectors", None)], lambda m: m[1]) == [("no vectors", None)]
