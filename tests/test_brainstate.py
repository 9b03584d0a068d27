"""Brain states: saved as versions, merged when two sessions save over each other."""

from __future__ import annotations

import asyncio

from cloudbrain.brainstate import BrainState, Conversation, Performance, merge
from tests.conftest import ClientFactory


def test_merge_adds_what_each_side_added_and_unites_conversations() -> None:
    base = BrainState(counters={"answered": 10, "facts": 2}, topics={"python": 3})
    laptop = BrainState(
        counters={"answered": 12, "facts": 2},
        topics={"python": 4},
        conversations={"c1": Conversation(turns=[("q1", "a1"), ("q2", "a2")])},
        performance={"laptop/llama3.2": Performance(answers=2, tokens=100, seconds=2.0)},
        last_thought="from the laptop",
    )
    jetson = BrainState(
        counters={"answered": 11, "facts": 3, "new": 1},
        topics={"python": 3, "cuda": 1},
        conversations={
            "c1": Conversation(turns=[("q1", "a1")]),
            "c2": Conversation(turns=[("x", "y")]),
        },
        performance={"jetson/recall": Performance(answers=1, seconds=0.1)},
        last_thought="from the jetson",
    )
    merged = merge(base, laptop, jetson)
    assert merged.counters == {"answered": 13, "facts": 3, "new": 1}
    assert merged.topics == {"cuda": 1, "python": 4}
    assert len(merged.conversations["c1"].turns) == 2 and "c2" in merged.conversations
    assert set(merged.performance) == {"laptop/llama3.2", "jetson/recall"}
    assert merged.last_thought == "from the jetson"  # the incoming save is the newest thought
    assert merged.performance["laptop/llama3.2"].tokens_per_second == 50.0


def test_merging_with_nothing_new_changes_nothing() -> None:
    state = BrainState(
        counters={"answered": 4}, conversations={"c": Conversation(turns=[("q", "a")])}
    )
    assert merge(state, state, state) == state


async def test_two_sessions_saving_over_each_other_lose_nothing(connect: ClientFactory) -> None:
    laptop = await connect("alice", device="laptop")
    jetson = await connect("alice", device="jetson")
    first = await laptop.save_brain(BrainState(counters={"answered": 1}), None)
    assert (first.version, first.merged) == (1, False)

    # Both start from version 1 and save at the same moment.
    from_laptop, from_jetson = await asyncio.gather(
        laptop.save_brain(BrainState(counters={"answered": 3}, last_thought="laptop"), 1),
        jetson.save_brain(BrainState(counters={"answered": 2}, last_thought="jetson"), 1),
    )
    assert {from_laptop.version, from_jetson.version} == {2, 3}
    later = max(from_laptop, from_jetson, key=lambda saved: saved.version)
    assert later.merged and later.state.counters == {"answered": 4}  # 1 + 2 + 1

    newest = await jetson.load_brain()
    assert newest.version == 3 and newest.state.counters == {"answered": 4}
    oldest = await jetson.load_brain(version=1)
    assert oldest.state.counters == {"answered": 1} and oldest.device == "laptop"
    history = await laptop.brain_history()
    assert [v.version for v in history.versions] == [3, 2, 1]
    assert [v.merged for v in history.versions] == [True, False, False]


async def test_any_agent_may_read_another_agents_state(connect: ClientFactory) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    assert (await bob.load_brain("alice")).version is None  # nothing saved yet
    await alice.save_brain(BrainState(current_task="reading logs"), None)
    seen = await bob.load_brain("alice")
    assert seen.ai == "alice" and seen.state.current_task == "reading logs"
