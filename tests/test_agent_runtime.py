"""The agent runtime against a real server: answers from memory, learns, syncs, survives."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pytest

from cloudbrain.agent.brains import RecallBrain
from cloudbrain.agent.cache import LocalMemory
from cloudbrain.agent.client import Client
from cloudbrain.agent.runtime import AgentConfig, AgentRuntime, report_if_stuck
from cloudbrain.agent.sync import sync
from cloudbrain.memory.records import MemoryRecord
from cloudbrain.server import Server
from cloudbrain.settings import Settings
from tests.conftest import AgentFactory


def conversation_calls(fake: Any) -> list[dict[str, Any]]:
    """The chat requests that answered questions (not the ones asking for facts)."""
    from cloudbrain.agent.brains.judging import FACTS_PROMPT

    return [b for b in fake.bodies("/api/chat") if b["messages"][0]["content"] != FACTS_PROMPT]


class Running:
    """An agent runtime in a task, stopped like SIGTERM would."""

    def __init__(self, runtime: AgentRuntime) -> None:
        self.runtime = runtime
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(runtime.run(self.stop))

    async def until_connected(self) -> None:
        for _ in range(100):
            if self.runtime.client.connected and self.runtime.local.store is not None:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError("the agent did not connect")

    async def end(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 20)


RuntimeFactory = Callable[[str], AgentRuntime]


def alice_thinking_with(
    ollama_url: str, api: Literal["chat", "generate"], server: Server, token: str, folder: Path
) -> Callable[[str], Running]:
    """A way to start alice, thinking with Ollama's ``api``, on a named device."""
    from cloudbrain.agent.brains.ollama import OllamaBrain
    from tests.fake_ollama import CHAT_MODEL

    def on(device: str) -> Running:
        config = AgentConfig("alice", token, server.url, device, folder / device)
        return Running(
            AgentRuntime(config, OllamaBrain("alice", url=ollama_url, model=CHAT_MODEL, api=api))
        )

    return on


@pytest.fixture
async def alice_runtime(
    server: Server, make_agent: AgentFactory, tmp_path: Path
) -> tuple[RuntimeFactory, str]:
    """A way to make alice's runtime on a named device, and her token."""
    _, token = await make_agent("alice")

    def make(device: str) -> AgentRuntime:
        config = AgentConfig("alice", token, server.url, device, tmp_path / "alice" / device)
        return AgentRuntime(config, RecallBrain())

    return make, token


async def test_answers_from_memory_with_attribution(
    server: Server, make_agent: AgentFactory, alice_runtime: tuple[RuntimeFactory, str]
) -> None:
    make, token = alice_runtime
    _, bob_token = await make_agent("bob")
    async with Client(server.url, "alice", token, device="laptop") as alice_cli:
        await alice_cli.remember(
            MemoryRecord(
                ai="alice",
                device="laptop",
                session="s-earlier",
                kind="fact",
                content="The staging database is restored every night at 02:00",
            )
        )
    running = Running(make("jetson"))
    await running.until_connected()
    await running.runtime.sync_now()  # a new device starts out knowing what was learned elsewhere
    async with Client(server.url, "bob", bob_token) as bob:
        reply = await bob.request("alice", "When is the staging database restored?", timeout=10)
        assert "02:00" in reply.text and "laptop" in reply.text and "s-earlie" in reply.text
        assert reply.meta["model"] == "recall" and len(reply.meta["memories"]) == 1
        unknown = await bob.request("alice", "What is the capital of Mongolia?", timeout=10)
        assert "don't know" in unknown.text
    await running.end()
    counters = running.runtime.brain_state.state.counters
    assert counters["answered"] == 2
    # Neither answer is stored: one only quoted a memory (stored, it would be quoted again, a
    # quote of a quote), the other was a "don't know".
    assert counters.get("memories", 0) == 0


async def test_offline_learning_syncs_both_ways_without_loss_or_duplicates(
    server: Server, alice_runtime: tuple[RuntimeFactory, str], tmp_path: Path
) -> None:
    _, token = alice_runtime
    laptop = LocalMemory(tmp_path / "laptop")
    store = await laptop.open()
    # Learned while offline, in three rounds with a sync (and a repeated sync) in between.
    for round_ in range(3):
        await store.add(
            [
                MemoryRecord(ai="alice", device="laptop", content=f"offline fact {round_}-{i}")
                for i in range(30)
            ]
        )
        async with Client(server.url, "alice", token, device="laptop") as client:
            await sync(client, laptop)
            await sync(client, laptop)
    jetson = LocalMemory(tmp_path / "jetson")
    jetson_store = await jetson.open()
    await jetson_store.add(
        [MemoryRecord(ai="alice", device="jetson", content="learned on the jetson")]
    )
    async with Client(server.url, "alice", token, device="jetson") as client:
        await sync(client, jetson)
    async with Client(server.url, "alice", token, device="laptop") as client:
        await sync(client, laptop)
        server_ids = [
            m.id for page in [p async for p in client.memory_pages(ai="alice")] for m in page
        ]
    laptop_ids = [m.id async for m in store.export()]
    jetson_ids = [m.id async for m in jetson_store.export()]
    assert len(server_ids) == len(set(server_ids)) == 91
    assert sorted(laptop_ids) == sorted(jetson_ids) == sorted(server_ids)
    await laptop.close()
    await jetson.close()


async def test_teaching_facts_repeats_and_corrections(
    server: Server, make_agent: AgentFactory, alice_runtime: tuple[RuntimeFactory, str]
) -> None:
    make, _ = alice_runtime
    _, bob_token = await make_agent("bob")
    running = Running(make("laptop"))
    await running.until_connected()
    async with Client(server.url, "bob", bob_token) as bob:

        async def ask(text: str) -> str:
            return (await bob.request("alice", text, timeout=10)).text

        assert (await ask("Remember that the deploy window is Friday 10:00")).startswith("Noted")
        assert "Friday 10:00" in await ask("When is the deploy window?")
        await ask("REMEMBER THAT the deploy window is Monday 09:00")  # a correction, shouted
        await ask("remember that the deploy window is monday 09:00")  # and again: a repeat
        answer = await ask("When is the deploy window?")
        assert "Monday 09:00" in answer and "Friday" not in answer
    store = running.runtime.local.store
    assert store is not None
    history = [m async for m in store.export() if m.kind == "fact"]
    [old] = [m for m in history if "Friday" in m.content]
    [new] = [m for m in history if "Monday" in m.content]
    assert old.superseded_by == new.id and new.superseded_by is None and new.count == 2
    await running.end()


async def test_thinking_with_ollama_and_falling_back_when_it_goes_down(
    server: Server, make_agent: AgentFactory, tmp_path: Path
) -> None:
    from cloudbrain.agent.brains.ollama import OllamaBrain
    from tests.fake_ollama import CHAT_MODEL, FakeOllama

    _, token = await make_agent("alice")
    _, bob_token = await make_agent("bob")
    with FakeOllama() as fake:
        brain = OllamaBrain("alice", url=fake.url, model=CHAT_MODEL, timeout=3)
        assert await brain.available() is None
        assert "not in Ollama" in (
            await OllamaBrain("alice", url=fake.url, model="nope").available() or ""
        )
        config = AgentConfig("alice", token, server.url, "laptop", tmp_path / "alice")
        running = Running(AgentRuntime(config, brain))
        await running.until_connected()
        store = running.runtime.local.store
        assert store is not None
        await store.add(
            [
                MemoryRecord(
                    ai="alice", device="laptop", content="The VPN gateway is vpn.example.org"
                )
            ]
        )
        async with Client(server.url, "bob", bob_token) as bob:
            first = await bob.request(
                "alice", "What is the VPN gateway?", conversation="c1", timeout=10
            )
            assert first.text.startswith("You said: What is the VPN gateway?")
            assert first.meta["model"] == CHAT_MODEL and "fallback" not in first.meta
            [chat] = conversation_calls(fake)
            system = chat["messages"][0]
            assert system["role"] == "system" and "vpn.example.org" in system["content"]

            second = await bob.request("alice", "And the port?", conversation="c1", timeout=10)
            history = conversation_calls(fake)[-1]["messages"]
            # The earlier turn of the conversation went along with the new question.
            assert [m["content"] for m in history[1:]] == [
                "What is the VPN gateway?",
                first.text,
                "And the port?",
            ]
            assert second.text.startswith("You said: And the port?")

            fake.down()
            third = await bob.request("alice", "What is the VPN gateway?", timeout=15)
            assert "not reachable" in third.text and "vpn.example.org" in third.text
            assert third.meta["fallback"].startswith("Ollama is not reachable")
            fake.up()
        learned = [m async for m in store.export() if m.kind == "exchange"]
        # The fallback's answer only quoted memory: not stored as knowledge of its own.
        assert [m.model_used for m in learned] == [CHAT_MODEL, CHAT_MODEL]
        assert not [m for m in learned if "reachable" in m.content]  # errors are not knowledge
        await running.end()


async def test_a_conversation_begun_on_the_laptop_continues_on_the_jetson(
    server: Server, make_agent: AgentFactory, tmp_path: Path
) -> None:
    from tests.fake_ollama import CHAT_MODEL, FakeOllama

    _, token = await make_agent("alice")
    _, bob_token = await make_agent("bob")
    with FakeOllama() as fake:
        on = alice_thinking_with(fake.url, "chat", server, token, tmp_path)
        async with Client(server.url, "bob", bob_token) as bob:
            laptop = on("laptop")
            await laptop.until_connected()
            first = await bob.request(
                "alice", "Let's plan the release.", conversation="plan", timeout=10
            )
            await laptop.end()  # brain state saved at shutdown

            jetson = on("jetson")
            await jetson.until_connected()
            await bob.request("alice", "Where were we?", conversation="plan", timeout=10)
            history = conversation_calls(fake)[-1]["messages"]
            assert [m["content"] for m in history[1:]] == [
                "Let's plan the release.",
                first.text,
                "Where were we?",
            ]
            state = jetson.runtime.brain_state.state
            assert state.counters["answered"] == 2  # the laptop's answer counted too
            assert set(state.performance) == {f"laptop/{CHAT_MODEL}", f"jetson/{CHAT_MODEL}"}
            await jetson.end()


async def test_generate_context_is_reused_only_for_the_same_model_digest(
    server: Server, make_agent: AgentFactory, tmp_path: Path
) -> None:
    from tests.fake_ollama import CHAT_MODEL, FakeOllama

    _, token = await make_agent("alice")
    _, bob_token = await make_agent("bob")
    with FakeOllama() as fake:
        on = alice_thinking_with(fake.url, "generate", server, token, tmp_path)
        async with Client(server.url, "bob", bob_token) as bob:
            laptop = on("laptop")
            await laptop.until_connected()
            await bob.request("alice", "Let's plan the release.", conversation="plan", timeout=10)
            await laptop.end()

            jetson = on("jetson")
            await jetson.until_connected()
            resumed = await bob.request("alice", "Where were we?", conversation="plan", timeout=10)
            second = fake.bodies("/api/generate")[-1]
            assert second["context"] and second["prompt"] == "Where were we?"
            assert "context: 0 tokens" not in resumed.text

            # The model is replaced by another build: its context tokens mean nothing now.
            fake.remove_model(CHAT_MODEL)
            fake.add_model(CHAT_MODEL, digest="f" * 64)
            await bob.request("alice", "And then?", conversation="plan", timeout=10)
            third = fake.bodies("/api/generate")[-1]
            assert not third.get("context")
            assert (
                "Let's plan the release." in third["prompt"] and "Where were we?" in third["prompt"]
            )
            await jetson.end()


async def test_the_agent_keeps_answering_across_a_server_restart(
    settings: Settings, make_agent: AgentFactory, tmp_path: Path
) -> None:
    from tests.services import free_port

    settings = settings.with_(port=free_port())
    _, token = await make_agent("alice")
    _, bob_token = await make_agent("bob")
    config = AgentConfig("alice", token, settings.url, "laptop", tmp_path / "alice")
    async with Server(settings):
        running = Running(AgentRuntime(config, RecallBrain()))
        await running.until_connected()
        bob = Client(settings.url, "bob", bob_token, max_backoff=0.3)
        await bob.connect()
        taught = await bob.request("alice", "Remember that the canary runs in eu-west", timeout=10)
        assert taught.text.startswith("Noted")
    async with Server(settings):  # the same server comes back: both clients reconnect by themselves
        answer = await bob.request("alice", "Where does the canary run?", timeout=20)
        assert "eu-west" in answer.text
        await bob.close()
        await running.end()


async def test_the_model_finds_facts_the_rules_miss_and_corrections_supersede_them(
    server: Server, make_agent: AgentFactory, tmp_path: Path
) -> None:
    import json as jsonlib

    from cloudbrain.agent.brains.judging import FACTS_PROMPT
    from cloudbrain.agent.brains.ollama import OllamaBrain
    from tests.fake_ollama import CHAT_MODEL, FakeOllama

    _, token = await make_agent("alice")
    _, bob_token = await make_agent("bob")
    answers = {"first": "teal", "second": "amber"}
    state = {"round": "first"}

    def respond(request: dict[str, Any]) -> str:
        if request["messages"][0]["content"] == FACTS_PROMPT:
            colour = answers[state["round"]]
            return jsonlib.dumps(
                {
                    "facts": [
                        {
                            "subject": "User's Favorite Color",
                            "value": colour,
                            "fact": f"The user's favourite colour is {colour}.",
                        },
                        {"subject": "", "value": "x", "fact": "malformed: no subject"},
                    ]
                }
            )
        return "Nice choice."

    with FakeOllama() as fake:
        fake.script(respond)
        config = AgentConfig("alice", token, server.url, "laptop", tmp_path / "alice")
        running = Running(
            AgentRuntime(config, OllamaBrain("alice", url=fake.url, model=CHAT_MODEL))
        )
        await running.until_connected()
        async with Client(server.url, "bob", bob_token) as bob:
            await bob.request("alice", "Teal makes me happy, I wear it every day", timeout=10)
            state["round"] = "second"
            await bob.request("alice", "These days amber suits me better", timeout=10)
        store = running.runtime.local.store
        assert store is not None
        facts = sorted(
            [m async for m in store.export() if m.kind == "fact"], key=lambda m: m.created_at
        )
        await running.end()
    assert [(f.fact_key, f.content) for f in facts] == [
        ("user favourite colour", "The user's favourite colour is teal."),
        ("user favourite colour", "The user's favourite colour is amber."),
    ]
    assert facts[0].superseded_by == facts[1].id and facts[1].superseded_by is None


async def test_an_agents_own_recall_uses_the_shipped_model(
    server: Server, make_agent: AgentFactory, alice_runtime: tuple[RuntimeFactory, str]
) -> None:
    """The device-local store embeds with the same model as the server, so an agent finds a
    reworded question's memory by its meaning, on its own device."""
    make, _ = alice_runtime
    _, bob_token = await make_agent("bob")
    running = Running(make("jetson"))
    await running.until_connected()
    store = running.runtime.local.store
    assert store is not None and store.embedder is not None
    assert store.embedder.name == "onnx:all-MiniLM-L6-v2-int8"
    await store.add(
        [
            MemoryRecord(ai="alice", kind="note", content=text)
            for text in (
                "Expense reports must be submitted within 30 days of the purchase.",
                "The filing cabinet in room 4 holds the old contracts.",
                "Claims adjusters visit on Mondays.",
            )
        ]
    )
    [found] = await store.search("What is the deadline for reimbursement requests?", limit=1)
    assert "Expense reports" in found.memory.content and found.why["similarity"] > 0.4
    async with Client(server.url, "bob", bob_token) as bob:
        reply = await bob.request("alice", "What is the deadline for reimbursement requests?")
        assert "30 days" in reply.text
    await running.end()


async def test_a_stop_that_hangs_says_what_still_runs(caplog: pytest.LogCaptureFixture) -> None:
    stop = asyncio.Event()

    async def never_ends() -> None:
        await asyncio.Event().wait()

    hanging = asyncio.create_task(never_ends(), name="hanging")
    watchdog = asyncio.create_task(report_if_stuck(stop, 0.01))
    await asyncio.sleep(0.05)
    assert caplog.text == ""  # nothing is reported before a stop is asked for
    stop.set()
    await watchdog
    hanging.cancel()
    assert "still running" in caplog.text and "never_ends" in caplog.text
