"""`cloudbrain demo` as a user runs it: a real process, asked from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.request import urlopen

from cloudbrain.cli.demo_family import ENDORSEMENTS, QUESTIONS
from tests.processes import ListeningProcess, cli_env, free_port

LIVE = {"ada", "linus", "grace"}
ADA_DEVICES = ("laptop-4090", "jetson-orin")


def familio_pages(base: str) -> dict[str, str]:
    """Familio's pages of the demo, once the demo's own asks are answered (they run when the
    specialists come online)."""
    deadline = time.monotonic() + 30
    while True:
        asks = urlopen(f"{base}/asks", timeout=10).read().decode()
        if all(question in asks for question in QUESTIONS) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    paths = ["/", "/agents/ada", "/memories?agent=ada", "/graph"]
    return {"/asks": asks} | {p: urlopen(base + p, timeout=10).read().decode() for p in paths}


def cli(home: Path, url: str, *args: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "cloudbrain", *args, "--json"],
        env=cli_env(home, CLOUDBRAIN_URL=url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


@contextmanager
def running_demo(home: Path, db_url: str, http_port: int = 0) -> Iterator[ListeningProcess]:
    """The demo, once its specialists are online; stopped (SIGTERM) on the way out."""
    with ListeningProcess(
        [sys.executable, "-m", "cloudbrain", "demo", "--brain", "recall"],
        cli_env(home, CLOUDBRAIN_DATABASE_URL=db_url, CLOUDBRAIN_HTTP_PORT=str(http_port)),
        home.parent / "demo.log",
    ) as demo:
        deadline = time.monotonic() + 30
        while {a["name"] for a in cli(home, demo.url, "who", "--online")} < LIVE:
            assert time.monotonic() < deadline, demo.log_tail()
            time.sleep(0.2)
        yield demo


def test_the_demo_family_answers_asks_from_live_agents_and_past_sessions(
    db_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    web = free_port()
    with running_demo(home, db_url, web) as demo:
        # The asker is the default identity: no flags needed, as in the README.
        live = cli(home, demo.url, "ask", "How do I keep asyncio tasks from disappearing?")
        past = cli(home, demo.url, "ask", "How do I roll back a kubernetes deployment?")
        heavy = cli(home, demo.url, "ask", "Tune this asyncio server", "--complexity", "heavy")
        profiles = {a["name"]: a for a in cli(home, demo.url, "who")}
        pages = familio_pages(f"http://127.0.0.1:{web}")
        # Rated by the ids as the tables show them (their ends), or shorter still.
        [answer] = [a["id"] for a in past["answers"] if a["agent"] == "hopper"]
        rated = cli(home, demo.url, "rate", past["ask"][-8:].upper(), answer[-5:], "up")
        unknown = subprocess.run(
            [sys.executable, "-m", "cloudbrain", "rate", "f00f00f00", answer, "up"],
            env=cli_env(home, CLOUDBRAIN_URL=demo.url),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert (rated["ask"], rated["rated"], rated["verdict"]) == (past["ask"], answer, "up")
    assert heavy["routing"]["complexity"] == 0.9  # as the asker said, not estimated
    assert unknown.returncode == 1 and "no ask has an id like 'f00f00f00'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    assert demo.process is not None and demo.process.returncode == 0, demo.log_tail()
    best = live["answers"][0]
    assert (best["agent"], best["source"]) == ("ada", "live") and "reference" in best["text"]
    assert live["asker"] == "you" and "asyncio" in live["topics"]
    [hopper] = [a for a in past["answers"] if a["agent"] == "hopper"]
    assert hopper["source"] == "memory" and "kubectl rollout undo" in hopper["text"]
    assert hopper["device"] == "jetson-orin" and hopper["session"]
    assert not profiles["hopper"]["online"] and profiles["hopper"]["memories"] == 4
    # Familio shows it all: the family, a profile, memories by device, answered asks, the graph.
    assert all(f'data-agent="{name}"' in pages["/"] for name in [*LIVE, "hopper", "you"])
    assert "kept our asyncio tasks alive" in pages["/agents/ada"]
    assert all(f">{device}</text>" in pages["/memories?agent=ada"] for device in ADA_DEVICES)
    assert all(question in pages["/asks"] for question in QUESTIONS)
    # The graph is drawn twice (for wide screens and for phones), and listed once.
    assert pages["/graph"].count('class="edge endorse"') == 2 * len(ENDORSEMENTS)

    # Again: the same family, nothing stored twice.
    with running_demo(home, db_url) as demo:
        again = {a["name"]: a["memories"] for a in cli(home, demo.url, "who")}
    assert again == {name: p["memories"] for name, p in profiles.items()}
