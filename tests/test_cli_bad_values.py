"""Every command of ``cloudbrain``, fed values it cannot take, as separate processes against a
running server: each says what is wrong in a line or two (JSON with ``--json``), exits non-zero,
never shows a traceback, and the server goes on.

The table below names every command; a new command fails :func:`test_every_command_is_covered`
until its bad values are added.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer.main

from cloudbrain.cli import app
from tests.services import ServerProcess, cli_env

LONG = "x" * 5000
NOWHERE = "{missing}/file"  # in a folder that is not there
BAD_DB = "nosuch://nowhere"
RUNS_AT_MOST = 30  # seconds: a command still running then took its bad value
STILL_RUNNING = -1

# Command -> invocations with a bad value each. "{garbage}" is a file of random bytes, "{folder}"
# a folder, both made by the test, and "{missing}" a folder that is not there.
BAD: dict[str, list[list[str]]] = {
    "server": [["--port", "70000"], ["--db", BAD_DB], ["--log-level", "LOUD"]],
    "demo": [["--brain", "telepathy"], ["--port", "-1"]],
    "send": [["", "hi"], ["bob\nBcc: eve", "hi"], ["bob", "hi", "--ttl", "-1"], ["nobody", "hi"]],
    "listen": [["--count", "-1"], ["--topic", "bad topic!"]],
    "who": [["--skill", LONG], ["--online", "--text", LONG]],
    "status": [["nope"], ["0" * 40]],
    "ask": [
        [""],
        ["q", "--timeout", "0"],
        ["q", "--complexity", "huge"],
        ["q", "--since", "the other day"],
        ["q", "--agent", "../etc"],
        ["q", "--enough", "0"],
    ],
    "asks": [["--limit", "0"], ["--limit", "some"]],
    "rate": [["zz", "yy", "up"], ["abc", "def", "meh"]],
    "card": [["no body"], [""]],
    "follow": [["nobody"], ["a/b"]],
    "unfollow": [["nobody"]],
    "endorse": [["bob", ""], ["nobody", "python"], ["bob", LONG]],
    "withdraw": [["nobody", "python"]],
    "import-legacy": [[NOWHERE], ["{garbage}"]],
    "login": [["ftp://example.org"], ["ws://127.0.0.1:9", "--name", "alice", "--token", "cb_x"]],
    "logout": [["ws://nowhere.example:1"]],
    "logins": [["--bogus"]],
    "agent create": [[""], ["bad name!"], ["x" * 200], ["carol", "--skill", ""]],
    "agent list": [["--new", "0"], ["--new", "soon"]],
    "agent revoke": [["nobody"]],
    "agent prune": [["--made-within", "forever"], ["--keep", "nobody"]],
    "agent run": [["bad name!"], ["alice", "--brain", "telepathy"], ["alice", "--gpu", "lots"]],
    "memory add": [[""], ["x", "--importance", "2"], ["x", "--kind", "bad kind!"]],
    "memory search": [[""], ["q", "--limit", "0"], ["q", "--since", "someday"]],
    "memory export": [["--agent", "nobody"], ["--out", NOWHERE], ["--since", "x"]],
    "memory import": [[NOWHERE], ["{garbage}"], ["{folder}"]],
    "brain show": [["nobody"], ["alice", "--version", "-3"]],
    "brain history": [["alice", "--limit", "0"], ["nobody"]],
    "maildir status": [["--bogus"]],
    "maildir read": [["--bogus"]],
    "maildir flush": [["--max-wait", "-1"]],
    "maildir dedupe": [[NOWHERE], ["{garbage}"]],
    "familio show": [["nobody"]],
    "familio trust": [["alice", "101"], ["nobody", "0.5"], ["alice", "lots"]],
    "familio trusted": [["--db", BAD_DB]],
    "db upgrade": [["--db", BAD_DB], ["--db", "postgresql+asyncpg://postgres@127.0.0.1:1/x"]],
    "db current": [["--db", BAD_DB], ["--db", "sqlite:///a-driver-that-blocks.db"]],
    "tls init": [["--name", "not a host!"], ["--port", "70000"]],
    "tls show": [["--bogus"]],
}


def commands() -> Iterator[str]:
    """Every command a person can run, as typed after ``cloudbrain``."""

    def walk(command: Any, path: tuple[str, ...]) -> Iterator[str]:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                yield from walk(sub, (*path, name))
        else:
            yield " ".join(path)

    yield from walk(typer.main.get_command(app), ())


def takes(command: str, flag: str) -> bool:
    """Whether ``command`` has the option ``flag``."""
    found: Any = typer.main.get_command(app)
    for word in command.split():
        found = found.commands[word]
    return any(flag in getattr(p, "opts", ()) for p in found.params)


@dataclass
class Outcome:
    argv: list[str]
    code: int
    out: str
    err: str


def test_every_command_is_covered() -> None:
    assert sorted(commands()) == sorted(BAD)


def test_every_command_refuses_bad_values_in_a_line_and_the_server_goes_on(
    tmp_path: Path,
) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'cloudbrain.db'}"
    garbage, folder = tmp_path / "garbage", tmp_path / "folder"
    garbage.write_bytes(bytes(range(256)) * 8)
    folder.mkdir()
    home = tmp_path / "home"
    with ServerProcess(tmp_path / "server", db_url) as server:
        env = cli_env(home, CLOUDBRAIN_URL=server.url, CLOUDBRAIN_DATABASE_URL=db_url)
        # `tls init` (when it takes a value) makes a CA that later commands would trust.
        tls_env = cli_env(tmp_path / "tls-home")

        def cloudbrain(argv: list[str]) -> Outcome:
            try:
                done = subprocess.run(
                    [sys.executable, "-m", "cloudbrain", *argv],
                    env=tls_env if argv[0] == "tls" else env,
                    capture_output=True,
                    text=True,
                    timeout=RUNS_AT_MOST,
                )
            except subprocess.TimeoutExpired as running:  # took the bad value, and went on
                return Outcome(argv, STILL_RUNNING, str(running.stdout), str(running.stderr))
            return Outcome(argv, done.returncode, done.stdout, done.stderr)

        for name in ("alice", "bob"):
            assert cloudbrain(["agent", "create", name, "--save"]).code == 0
        runs = []
        for command, cases in BAD.items():
            # As alice where a command acts as an agent, so the server sees the value too.
            as_alice = ["--name", "alice"] if takes(command, "--token") else []
            for case in cases:
                args = [
                    a.format(garbage=garbage, folder=folder, missing=tmp_path / "missing")
                    for a in case
                ]
                if "--name" not in args:
                    args += as_alice
                runs.append([*command.split(), *args])
                if takes(command, "--json"):
                    runs.append([*command.split(), *args, "--json"])
        with ThreadPoolExecutor(4) as pool:
            outcomes = list(pool.map(cloudbrain, runs))
        still = cloudbrain(["who", "--json"])
        assert server.process is not None and server.process.poll() is None

    wrong = [f"{o.argv}: {why}" for o in outcomes if (why := fault(o))]
    assert not wrong, "\n".join(wrong)
    assert still.code == 0 and {a["name"] for a in json.loads(still.out)} == {"alice", "bob"}


def fault(outcome: Outcome) -> str:
    """What is wrong with how a command refused a bad value ('' when nothing is)."""
    said = outcome.out + outcome.err
    if "Traceback" in said:
        return f"a traceback:\n{said}"
    if "a bug in CloudBrain" in said:
        return f"reported as a bug:\n{said}"
    if outcome.code == STILL_RUNNING:
        return f"still running after {RUNS_AT_MOST} s: the value was taken"
    if outcome.code not in (1, 2):
        return f"exit status {outcome.code} (1: refused, 2: usage), said:\n{said}"
    if outcome.code == 2:  # a usage error: the flag or value the parser refused, and --help
        return "" if "Try" in outcome.err or "--help" in outcome.err else f"no usage hint:\n{said}"
    if "--json" in outcome.argv:
        try:
            error = json.loads(outcome.out)["error"]
        except (ValueError, KeyError, TypeError):
            return f"--json, yet no JSON error on stdout:\n{said}"
        return "" if error.get("message") else f"a JSON error without a message: {error}"
    # The error and its hint, wrapped by the terminal's width; a server says it after its log.
    error = outcome.err[outcome.err.find("error:") :] if "error:" in outcome.err else ""
    if not error:
        return f"no 'error:' on stderr:\n{said}"
    return "" if len(error) < 600 and error.count("error:") == 1 else f"a long error:\n{error}"
