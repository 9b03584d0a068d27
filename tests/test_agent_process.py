"""`cloudbrain agent run` as a real process: taught on one device, remembering on another."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

from cloudbrain.agent.client import Client
from cloudbrain.db import create_engine
from cloudbrain.identity import create_agent
from tests.services import ServerProcess, cli_env


def stop(process: subprocess.Popen[bytes]) -> str:
    """SIGTERM, as a service manager would, then the agent's output; never leaves it running."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.communicate(timeout=20)[0].decode()
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()[0].decode()


def start_agent(
    home: Path, server: ServerProcess, token: str, device: str
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cloudbrain",
            "agent",
            "run",
            "alice",
            "--device",
            device,
            "--brain",
            "recall",
        ],
        env=cli_env(home, CLOUDBRAIN_URL=server.url, CLOUDBRAIN_TOKEN=token),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


async def until_online(client: Client, name: str, device: str) -> None:
    for _ in range(200):
        roster = {a.name: a for a in await client.who()}
        if name in roster and device in [s.device for s in roster[name].sessions]:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{name} never came online on {device}")


async def until_offline(client: Client, name: str) -> None:
    for _ in range(100):
        if not {a.name: a for a in await client.who()}[name].online:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{name} still shows online")


async def test_taught_on_the_laptop_remembered_on_the_jetson(db_url: str, tmp_path: Path) -> None:
    engine = create_engine(db_url)
    tokens = {name: (await create_agent(engine, name))[1] for name in ("alice", "bob")}
    await engine.dispose()
    server = ServerProcess(tmp_path / "server", db_url).start()
    home = tmp_path / "home"
    try:
        async with Client(server.url, "bob", tokens["bob"]) as bob:
            laptop = start_agent(home, server, tokens["alice"], "laptop")
            try:
                await until_online(bob, "alice", "laptop")
                taught = await bob.request(
                    "alice", "Remember that the build machine is called Atlas", timeout=10
                )
                assert taught.text.startswith("Noted")
            finally:
                output = stop(laptop)
            assert laptop.returncode == 0, output
            assert "alice stopped" in output
            await until_offline(bob, "alice")  # the session was closed, not left dangling

            jetson = start_agent(home, server, tokens["alice"], "jetson")
            try:
                await until_online(bob, "alice", "jetson")
                answer = await bob.request("alice", "What is the build machine called?", timeout=10)
                assert "Atlas" in answer.text and "on laptop" in answer.text
            finally:
                stop(jetson)
        found = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-m",
                "cloudbrain",
                "memory",
                "search",
                "build machine",
                "--agent",
                "alice",
                "--json",
            ],
            env=cli_env(
                home,
                CLOUDBRAIN_URL=server.url,
                CLOUDBRAIN_AGENT="bob",
                CLOUDBRAIN_TOKEN=tokens["bob"],
            ),
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        as_bob = cli_env(
            home, CLOUDBRAIN_URL=server.url, CLOUDBRAIN_AGENT="bob", CLOUDBRAIN_TOKEN=tokens["bob"]
        )
        brain = json.loads(
            (
                await asyncio.to_thread(
                    subprocess.run,
                    [sys.executable, "-m", "cloudbrain", "brain", "show", "alice", "--json"],
                    env=as_bob,
                    capture_output=True,
                    text=True,
                    timeout=30,
                    check=True,
                )
            ).stdout
        )
        assert brain["state"]["counters"]["answered"] == 2  # one answer on each device
        assert {key.split("/")[0] for key in brain["state"]["performance"]} == {"laptop", "jetson"}
        history = json.loads(
            (
                await asyncio.to_thread(
                    subprocess.run,
                    [sys.executable, "-m", "cloudbrain", "brain", "history", "alice", "--json"],
                    env=as_bob,
                    capture_output=True,
                    text=True,
                    timeout=30,
                    check=True,
                )
            ).stdout
        )
        assert {v["device"] for v in history["versions"]} == {"laptop", "jetson"}
        [best, *_] = json.loads(found.stdout)
        assert "Atlas" in best["memory"]["content"]
        assert best["memory"]["device"] == "laptop" and best["memory"]["session"]
    finally:
        server.stop()
