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

from tests.processes import ListeningProcess, cli_env

LIVE = {"ada", "linus", "grace"}


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
def running_demo(home: Path, db_url: str) -> Iterator[ListeningProcess]:
    """The demo, once its specialists are online; stopped (SIGTERM) on the way out."""
    with ListeningProcess(
        [sys.executable, "-m", "cloudbrain", "demo", "--brain", "recall"],
        cli_env(home, CLOUDBRAIN_DATABASE_URL=db_url),
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
    with running_demo(home, db_url) as demo:
        # The asker is the default identity: no flags needed, as in the README.
        live = cli(home, demo.url, "ask", "How do I keep asyncio tasks from disappearing?")
        past = cli(home, demo.url, "ask", "How do I roll back a kubernetes deployment?")
        profiles = {a["name"]: a for a in cli(home, demo.url, "who")}
    assert demo.process is not None and demo.process.returncode == 0, demo.log_tail()
    best = live["answers"][0]
    assert (best["agent"], best["source"]) == ("ada", "live") and "reference" in best["text"]
    assert live["asker"] == "you" and "asyncio" in live["topics"]
    [hopper] = [a for a in past["answers"] if a["agent"] == "hopper"]
    assert hopper["source"] == "memory" and "kubectl rollout undo" in hopper["text"]
    assert hopper["device"] == "jetson-orin" and hopper["session"]
    assert not profiles["hopper"]["online"] and profiles["hopper"]["memories"] == 4

    # Again: the same family, nothing stored twice.
    with running_demo(home, db_url) as demo:
        again = {a["name"]: a["memories"] for a in cli(home, demo.url, "who")}
    assert again == {name: p["memories"] for name, p in profiles.items()}
