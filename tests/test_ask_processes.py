"""Asking a family of real agent processes (`cloudbrain agent run`), some online and some known
only by what their ended sessions stored."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cloudbrain.agent.client import Client
from cloudbrain.db import create_engine
from cloudbrain.identity import create_agent
from cloudbrain.memory.records import MemoryRecord
from cloudbrain.protocol import ANSWERS_CAPABILITY
from tests.services import ServerProcess, cli_env

LAST_WEEK = datetime.now(UTC) - timedelta(days=7)
# name: (skills, live, what it knows)
FAMILY: dict[str, tuple[list[str], bool, list[str]]] = {
    "ada": (["python"], True, ["Python wheels are zip archives that pip unpacks"]),
    "ben": (["python", "asyncio"], True, ["asyncio.gather runs awaitables concurrently"]),
    "cyd": (["rust"], True, ["Cargo workspaces share one lock file"]),
    "dee": (["postgresql"], True, ["VACUUM reclaims space held by dead tuples"]),
    "eli": (["linux"], True, ["journalctl -u unit follows a service log"]),
    "fay": (["networking"], True, ["MTU problems show up as stalled large transfers"]),
    "gus": (["gpu"], True, ["The RTX 4090 has 24 GB of memory"]),
    "hal": (["docker"], True, ["docker compose config validates the compose file"]),
    # Ended sessions only: no process runs for them.
    "ivy": (
        ["kubernetes"],
        False,
        ["kubectl rollout undo returns a deployment to its last revision"],
    ),
    "jon": ([], False, ["The Jetson Orin build of the agent needs JetPack 6 and its L4T base"]),
}


@contextmanager
def family_processes(home: Path, server: ServerProcess, tokens: dict[str, str]) -> Iterator[None]:
    processes = []
    try:
        for name, (skills, live, _) in FAMILY.items():
            if not live:
                continue
            skill_flags = [flag for skill in skills for flag in ("--skill", skill)]
            log = (home / f"{name}.log").open("wb")
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "cloudbrain",
                        "agent",
                        "run",
                        name,
                        "--device",
                        f"{name}-box",
                        "--brain",
                        "recall",
                        *skill_flags,
                    ],
                    env=cli_env(home, CLOUDBRAIN_URL=server.url, CLOUDBRAIN_TOKEN=tokens[name]),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        yield
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


async def online(client: Client, names: set[str]) -> None:
    for _ in range(600):
        if names <= {a.name for a in await client.who(online=True)}:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"not all of {sorted(names)} came online")


async def test_asks_reach_the_right_processes_and_ended_sessions(
    db_url: str, tmp_path: Path
) -> None:
    engine = create_engine(db_url)
    tokens = {
        name: (await create_agent(engine, name, skills=skills))[1]
        for name, (skills, _, _) in {
            **FAMILY,
            "quiet": (["python"], True, []),
            "me": ([], True, []),
        }.items()
    }
    await engine.dispose()
    home = tmp_path / "home"
    home.mkdir()
    with ServerProcess(tmp_path / "server", db_url) as server:
        # Each AI's knowledge, stored last week by a session that has ended.
        for name, (_, _, knowledge) in FAMILY.items():
            async with Client(server.url, name, tokens[name], device=f"{name}-old") as past:
                await past.remember(
                    *(
                        MemoryRecord(
                            ai=name,
                            content=text,
                            session=f"{name}-earlier",
                            device=f"{name}-old",
                            created_at=LAST_WEEK,
                        )
                        for text in knowledge
                    )
                )
        # quiet declares python and takes questions, but never answers.
        async with (
            Client(server.url, "quiet", tokens["quiet"], capabilities=(ANSWERS_CAPABILITY,)),
            Client(server.url, "me", tokens["me"]) as me,
        ):
            with family_processes(home, server, tokens):
                await online(me, {n for n, (_, live, _) in FAMILY.items() if live})
                python = await me.ask_and_wait("How are python wheels installed?", timeout=3)
                kubernetes = await me.ask_and_wait("How do I undo a kubernetes rollout?", timeout=3)
                jetson = await me.ask_and_wait(
                    "Which JetPack does the Jetson Orin build need?", timeout=3
                )

    # The python question reached the python specialists, and only them; quiet missed it.
    assert {s.agent for s in python.specialists} == {"ada", "ben", "quiet"}
    assert python.missing == ["quiet"]
    best = python.answers[0]
    assert (best.agent, best.source, best.device) == ("ada", "live", "ada-box")
    assert "zip archives" in best.text
    # Knowledge from ended sessions: ivy by her declared skill, jon by his memories alone.
    [ivy] = [a for a in kubernetes.answers if a.agent == "ivy"]
    assert (ivy.source, ivy.session, ivy.device) == ("memory", "ivy-earlier", "ivy-old")
    assert kubernetes.answers[0].agent == "ivy"
    assert jetson.answers[0].agent == "jon" and "JetPack 6" in jetson.answers[0].text
    assert jetson.specialists[0].agent == "jon"
