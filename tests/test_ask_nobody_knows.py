"""Asks that nobody can answer say so, on a real server with the shipped embedder: the demo
family's knowledge, a live specialist whose skill shares a word with the question, and the
command line's exit status."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from cloudbrain.cli.asking import NOBODY_KNOWS
from cloudbrain.cli.demo_family import FAMILY, seed_memories
from cloudbrain.db.types import utcnow
from cloudbrain.directory.knowing import floor_for
from cloudbrain.memory.records import MemoryRecord
from cloudbrain.server import Server
from tests.conftest import AgentFactory, ClientFactory
from tests.services import cli_env
from tests.test_ask import answering_sessions, specialist


async def family(connect: ClientFactory) -> None:
    """The demo family's knowledge, stored by sessions that have ended."""
    memories = seed_memories(utcnow())
    for member in FAMILY:
        past = await connect(member.name, skills=list(member.skills))
        await past.remember(*(m for m in memories if m.ai == member.name))
        await past.close()


async def test_an_off_topic_ask_is_answered_nobody_knows(
    server: Server, make_agent: AgentFactory, connect: ClientFactory, tmp_path: Path
) -> None:
    assert server.hub is not None and server.hub.asks.memory.embedder is not None
    assert floor_for(server.hub.asks.memory.embedder.name) > 0  # the shipped model's floor
    await family(connect)
    # ada is live, and "python" is her skill: the word reaches her, the meaning does not.
    ada = await specialist(server, make_agent, tmp_path, "ada-live", "python")
    assert ada.runtime.local.store is not None
    [ada_knows] = [m for m in FAMILY if m.name == "ada"]
    await ada.runtime.local.store.add(
        [MemoryRecord(ai="ada-live", kind="note", content=text) for text in ada_knows.knowledge]
    )
    asker = await connect("you")
    await answering_sessions(asker, "ada-live")
    try:
        for question in (
            "How do I bake banana bread?",
            "What is the best way to back up my holiday photos?",
            "My ball python won't eat. What should I do?",
        ):
            result = await asker.ask_and_wait(question, timeout=3)
            assert result.nobody_knows, (question, result.answers)
            assert not any(a.knows for a in result.answers)
            assert result.shortfalls, question  # whom it considered, and why they fell short
            for why in result.shortfalls.values():
                assert any(
                    reason in why
                    for reason in ("close enough", "not about", "matches", "does not know")
                ), why

        python = await asker.ask_and_wait("My ball python won't eat. What should I do?", timeout=3)
        assert "ada-live" in {s.agent for s in python.specialists}
        assert "not about the question" in python.shortfalls["ada-live"]

        # A question the family can answer is answered, by the one who knows.
        known = await asker.ask_and_wait("How do I go back to the previous deployment?", timeout=3)
        assert not known.nobody_knows
        assert known.answers[0].agent == "hopper" and known.answers[0].knows
        assert "rollout undo" in known.answers[0].text
    finally:
        await ada.end()


async def test_the_command_line_says_nobody_knows_and_exits_3(
    server: Server, make_agent: AgentFactory, connect: ClientFactory, tmp_path: Path
) -> None:
    await family(connect)
    _, token = await make_agent("you")
    env = cli_env(tmp_path, CLOUDBRAIN_URL=server.url, CLOUDBRAIN_TOKEN=token)

    def ask(question: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "cloudbrain", "ask", "--name", "you", "-t", "1", question]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    off = await asyncio.to_thread(ask, "What is the best way to back up my holiday photos?")
    assert off.returncode == NOBODY_KNOWS == 3, off.stderr
    assert "Nobody knows" in off.stdout
    assert "grace: nothing it stored is close enough" in off.stdout  # considered, and why not
    on = await asyncio.to_thread(ask, "How do I roll back a kubernetes deployment?")
    assert on.returncode == 0, on.stderr
    assert "rollout undo" in on.stdout
