"""Corrections through a real server and a real agent: the agent learns what it is told before
it answers, acknowledges it instead of quoting what it knew, supersedes the old value with its
history kept, and never stores its own quoting replies. With Ollama, the model's verdict
decides (add, supersede, ignore), the rules being the fallback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cloudbrain.agent.brains import RecallBrain
from cloudbrain.agent.brains.judging import FACTS_PROMPT
from cloudbrain.agent.brains.ollama import OllamaBrain
from cloudbrain.agent.client import Client
from cloudbrain.agent.runtime import AgentConfig, AgentRuntime
from cloudbrain.memory.records import MemoryRecord
from cloudbrain.server import Server
from tests.conftest import AgentFactory
from tests.fake_ollama import CHAT_MODEL, FakeOllama
from tests.test_agent_runtime import Running


async def start_alice(
    server: Server, make_agent: AgentFactory, folder: Path, brain: Any = None
) -> tuple[Running, str]:
    """Alice running on her laptop, and bob's token to talk to her."""
    _, token = await make_agent("alice")
    _, bob_token = await make_agent("bob")
    config = AgentConfig("alice", token, server.url, "laptop", folder / "alice")
    running = Running(AgentRuntime(config, brain or RecallBrain()))
    await running.until_connected()
    return running, bob_token


async def memories_of(running: Running) -> list[MemoryRecord]:
    store = running.runtime.local.store
    assert store is not None
    return sorted([m async for m in store.export()], key=lambda m: m.created_at)


async def test_a_correction_supersedes_the_old_value_and_keeps_it_as_history(
    server: Server, make_agent: AgentFactory, tmp_path: Path
) -> None:
    running, bob_token = await start_alice(server, make_agent, tmp_path)
    async with Client(server.url, "bob", bob_token) as bob:

        async def ask(text: str) -> str:
            return (await bob.request("alice", text, timeout=10)).text

        assert await ask("Remember that the VPN port is 1194.") == "Noted: The VPN port is 1194."
        assert "1194" in await ask("What is the VPN port?")
        # Told the new value, the agent says what it learned; it does not quote the old one.
        assert await ask("Actually, the VPN port moved from 1194 to 443.") == (
            "Updated: The VPN port moved to 443. (It replaces: The VPN port is 1194.)"
        )
        later = await ask("What is the VPN port?")
        assert "443" in later and "1194" not in later
        # A second fact is acknowledged too, not answered with a quote of the first.
        assert await ask("Remember that the VPN gateway is vpn.example.org.") == (
            "Noted: The VPN gateway is vpn.example.org."
        )
        assert await ask("The VPN port is now 443.") == "Already noted: The VPN port is now 443."
        # Told something and asked something: the acknowledgement, then the answer.
        both = await ask("Actually, remember that the VPN port is 8443. What is the VPN port?")
        told, answer = both.split("\n", 1)
        assert told == "Updated: The VPN port is 8443. (It replaces: The VPN port moved to 443.)"
        assert answer.startswith("Here is what I remember:") and "8443" in answer
        assert "443." not in answer.replace("8443", "")
    facts = [m for m in await memories_of(running) if m.kind == "fact"]
    await running.end()
    port = [m for m in facts if m.fact_key == "note vpn port"]
    assert [(m.content, m.count) for m in port] == [
        ("Remember: the VPN port is 1194.", 1),
        ("Remember: the VPN port moved to 443.", 2),
        ("Remember: the VPN port is 8443.", 1),
    ]
    first, second, third = port
    assert first.superseded_by == second.id and second.superseded_by == third.id
    assert third.superseded_by is None
    assert second.provenance["was"] == "1194" and second.provenance["from"] == "bob"
    # Its replies only quoted memory or acknowledged facts: none of them is stored.
    assert not [m for m in await memories_of(running) if m.kind == "exchange"]

    # The server got the history too (synced at shutdown), and recalls the current value only.
    _, alice_token = await make_agent("alice-reader")
    async with Client(server.url, "alice-reader", alice_token) as reader:
        on_server = [m for page in [p async for p in reader.memory_pages(ai="alice")] for m in page]
        recalled = await reader.recall("VPN port", ai="alice")
    by_id = {m.id: m for m in on_server}
    assert by_id[first.id].superseded_by == second.id
    assert by_id[second.id].superseded_by == third.id
    found = [r.memory.content for r in recalled]
    assert "Remember: the VPN port is 8443." in found
    assert not [c for c in found if "1194" in c or "moved to 443" in c]


async def test_corrections_as_people_type_them(
    server: Server, make_agent: AgentFactory, tmp_path: Path
) -> None:
    running, bob_token = await start_alice(server, make_agent, tmp_path)
    said = [
        ("Remember that the standup is at 09:00", "Noted"),
        ("ACTUALLY, THE STANDUP MOVED FROM 09:00 TO 09:30!", "Updated"),
        ("correction: the standup is 10:00", "Updated"),
        ("The standup changed to 10:15.", "Updated"),
        ("the standup is 10:30, not 10:15", "Updated"),
        ("The standup isn't 10:30 anymore.", "Updated"),
    ]
    async with Client(server.url, "bob", bob_token) as bob:
        for text, reply in said:
            got = (await bob.request("alice", text, timeout=10)).text
            assert got.startswith(reply), (text, got)
        final = (await bob.request("alice", "When is the standup?", timeout=10)).text
    assert "no longer 10:30" in final and "09:" not in final and "10:15" not in final
    facts = [m for m in await memories_of(running) if m.fact_key == "note standup"]
    await running.end()
    assert len(facts) == 6 and [m for m in facts if m.superseded_by is None] == [facts[-1]]


async def test_old_quoting_replies_are_never_quoted_again(
    server: Server, make_agent: AgentFactory, tmp_path: Path
) -> None:
    """An agent before this rule stored its quoting replies as exchanges; they are not
    quoted again (a quote of a quote), and no new one is stored."""
    running, bob_token = await start_alice(server, make_agent, tmp_path)
    store = running.runtime.local.store
    assert store is not None
    fact = MemoryRecord(
        ai="alice", kind="fact", content="The backup runs at 02:00.", fact_key="note backup"
    )
    quoting = MemoryRecord(
        ai="alice",
        kind="exchange",
        user_input="When does the backup run?",
        ai_response="Here is what I remember:\n- The backup runs at 02:00. (alice on laptop)",
        model_used="recall",
    )
    acknowledging = MemoryRecord(
        ai="alice",
        kind="exchange",
        user_input="Remember that the backup runs at 02:00",
        ai_response="Noted: The backup runs at 02:00.",
        model_used=CHAT_MODEL,
    )
    await store.add([fact, quoting, acknowledging])
    async with Client(server.url, "bob", bob_token) as bob:
        reply = await bob.request("alice", "When does the backup run?", timeout=10)
    assert reply.meta["memories"] == [fact.id]
    assert reply.text.count("02:00") == 1 and reply.text.count("Here is what I remember") == 1
    exchanges = [m for m in await memories_of(running) if m.kind == "exchange"]
    await running.end()
    assert {m.id for m in exchanges} == {quoting.id, acknowledging.id}


# --- With Ollama: the model's verdict decides ---------------------------------------------


def facts_requests(fake: FakeOllama) -> list[str]:
    """What the model was asked about facts: the known facts and the message, each time."""
    return [
        b["messages"][1]["content"]
        for b in fake.bodies("/api/chat")
        if b["messages"][0]["content"] == FACTS_PROMPT
    ]


def answer_prompts(fake: FakeOllama) -> list[str]:
    """The system prompts of the answers: the memories the model was given."""
    return [
        b["messages"][0]["content"]
        for b in fake.bodies("/api/chat")
        if b["messages"][0]["content"] != FACTS_PROMPT
    ]


async def test_the_models_verdict_adds_supersedes_and_ignores(
    server: Server, make_agent: AgentFactory, tmp_path: Path
) -> None:
    verdicts: dict[str, list[dict[str, Any]]] = {
        # Says nothing: the rules keep the note they found.
        "Remember that the VPN port is 1194.": [],
        # No rule reads this; the model sees it updates K1, in a slot of its own naming.
        "We run the VPN on 443 these days.": [
            {
                "subject": "vpn port",
                "value": "443",
                "fact": "The VPN port is 443.",
                "event": "supersede",
                "known": "K1",
            }
        ],
        # The rules would keep this note; the model, told their subject, says it is not
        # worth keeping.
        "Remember that the coffee machine is broken today.": [
            {
                "subject": "note coffee machine",
                "value": "broken",
                "fact": "The coffee machine is broken.",
                "event": "ignore",
            }
        ],
        # A fact the rules miss, added.
        "Teal makes me happy, I wear it every day.": [
            {
                "subject": "user favourite colour",
                "value": "teal",
                "fact": "The user's favourite colour is teal.",
                "event": "add",
            }
        ],
    }

    def respond(request: dict[str, Any]) -> str:
        if request["messages"][0]["content"] == FACTS_PROMPT:
            message = request["messages"][1]["content"].split("Message:\n", 1)[1]
            return json.dumps({"facts": verdicts[message]})
        return "Understood."

    with FakeOllama() as fake:
        fake.script(respond)
        brain = OllamaBrain("alice", url=fake.url, model=CHAT_MODEL)
        running, bob_token = await start_alice(server, make_agent, tmp_path, brain)
        async with Client(server.url, "bob", bob_token) as bob:
            for message in verdicts:
                reply = await bob.request("alice", message, timeout=10)
                assert reply.text == "Understood."  # the model's own words
            await bob.request("alice", "What is the VPN port?", timeout=10)
        asked = facts_requests(fake)
        prompts = answer_prompts(fake)
        memories = await memories_of(running)
        await running.end()
    assert len(asked) == 4  # the question alone taught nothing: no verdict asked for
    assert asked[0] == (
        "Known facts:\n(none)\n\n"
        "Found by rules in the message:\n"
        "- Remember: the VPN port is 1194. (subject: note vpn port)\n\n"
        "Message:\nRemember that the VPN port is 1194."
    )
    assert asked[1].startswith(
        "Known facts:\nK1: Remember: the VPN port is 1194. (subject: note vpn port)\n"
    )
    # Learned before answering: the answer to the correction was given the new value only.
    assert "The VPN port is 443." in prompts[1] and "1194" not in prompts[1]
    assert "The VPN port is 443." in prompts[-1] and "1194" not in prompts[-1]
    facts = [m for m in memories if m.kind == "fact"]
    assert [(m.fact_key, m.content, m.provenance["source"]) for m in facts] == [
        ("note vpn port", "Remember: the VPN port is 1194.", "user"),
        ("vpn port", "The VPN port is 443.", "ai"),
        ("user favourite colour", "The user's favourite colour is teal.", "ai"),
    ]
    assert facts[0].superseded_by == facts[1].id and facts[1].superseded_by is None
    assert not [m for m in memories if "coffee" in m.content and m.kind == "fact"]
    # The model's own answers are knowledge; a quote of memory never was.
    assert all(m.model_used == CHAT_MODEL for m in memories if m.kind == "exchange")


async def test_the_rules_decide_when_the_model_gives_no_verdict(
    server: Server, make_agent: AgentFactory, tmp_path: Path
) -> None:
    with FakeOllama() as fake:
        fake.script(
            lambda request: (
                "Sure."
                if request["messages"][0]["content"] != FACTS_PROMPT
                else "I think the port changed, probably?"  # a verdict that is no JSON
            )
        )
        brain = OllamaBrain("alice", url=fake.url, model=CHAT_MODEL, timeout=3)
        running, bob_token = await start_alice(server, make_agent, tmp_path, brain)
        async with Client(server.url, "bob", bob_token) as bob:
            await bob.request("alice", "Remember that the VPN port is 1194.", timeout=10)
            fake.fail_next(500)  # the verdict on the correction fails outright
            reply = await bob.request(
                "alice", "Actually, the VPN port moved from 1194 to 443.", timeout=10
            )
            assert reply.text == "Sure."
            fake.down()  # and with Ollama gone, the recall brain acknowledges
            gone = await bob.request("alice", "The VPN port changed to 8443.", timeout=15)
            fake.up()
        memories = await memories_of(running)
        await running.end()
    assert gone.text.startswith("(Ollama is not reachable")
    assert gone.text.endswith(
        "Updated: The VPN port changed to 8443. (It replaces: The VPN port moved to 443.)"
    )
    facts = [m for m in memories if m.kind == "fact"]
    assert [m.content for m in facts] == [
        "Remember: the VPN port is 1194.",
        "Remember: the VPN port moved to 443.",
        "Remember: the VPN port changed to 8443.",
    ]
    assert [m.superseded_by for m in facts] == [facts[1].id, facts[2].id, None]
