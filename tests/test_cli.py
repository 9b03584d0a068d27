"""The ``cloudbrain`` command as people use it: separate processes against a running server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from cloudbrain.agent.client import Client
from cloudbrain.protocol import ANSWERS_CAPABILITY
from tests.services import ServerProcess, cli_env, free_port


class Cli:
    def __init__(self, home: Path, **env: str) -> None:
        self.env = cli_env(home, **env)

    def __call__(
        self, *args: str, input: str | None = None, ok: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "cloudbrain", *args],
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if ok:
            assert result.returncode == 0, result.stderr + result.stdout
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "cloudbrain", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture
def running(db_url: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, Cli]]:
    server = ServerProcess(tmp_path / "server", db_url).start()
    cli = Cli(tmp_path / "home", CLOUDBRAIN_URL=server.url, CLOUDBRAIN_DATABASE_URL=db_url)
    yield server, cli
    server.stop()


def wait_online(cli: Cli, name: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        agents = cli.json("who")
        assert isinstance(agents, list)
        if any(a["name"] == name and a["online"] for a in agents):
            return
        time.sleep(0.2)
    raise TimeoutError(f"{name} never came online")


def test_two_terminals_send_and_listen(running: tuple[ServerProcess, Cli]) -> None:
    _, cli = running
    created = cli.json("agent", "create", "alice", "--skill", "python", "--save")
    assert isinstance(created, dict) and created["token"].startswith("cb_")
    cli("agent", "create", "bob", "--save")
    # A message sent before bob listens waits for him.
    early = cli.json("send", "bob", "before you came", "--name", "alice")
    listener = cli.spawn("listen", "--name", "bob", "--topic", "news", "--json", "--count", "3")
    try:
        wait_online(cli, "bob")
        direct = cli.json("send", "bob", "hello bob", "--name", "alice", "--conversation", "c1")
        topic = json.loads(
            cli(
                "send", "news", "-", "--topic", "--name", "alice", "--json", input="from a pipe"
            ).stdout
        )
    finally:
        out, err = listener.communicate(timeout=30)
    assert listener.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [m["text"] if "text" in m else m["body"] for m in lines][:2] == [
        "before you came",
        "hello bob",
    ]
    assert [m["id"] for m in lines] == [early["re"], direct["re"], topic["re"]]
    assert {m["sender"] for m in lines} == {"alice"} and lines[1]["conversation"] == "c1"
    assert lines[2]["topic"] == "news"


def test_stdin_body_and_status(running: tuple[ServerProcess, Cli]) -> None:
    _, cli = running
    cli("agent", "create", "alice", "--save")
    cli("agent", "create", "bob", "--save")
    sent = json.loads(
        cli("send", "bob", "-", "--name", "alice", "--json", input="from a pipe\n").stdout
    )
    status = cli.json("status", sent["re"], "--name", "alice")
    assert status == {
        "v": 1,
        "type": "delivery",
        "re": status["re"],
        "msg": sent["re"],
        "recipients": [{"agent": "bob", "state": "pending"}],
    }
    out = cli("listen", "--name", "bob", "--count", "1").stdout
    assert "alice" in out and "from a pipe" in out


def test_commands_are_not_sessions_of_the_agent_nor_make_it_online(
    running: tuple[ServerProcess, Cli],
) -> None:
    _, cli = running
    cli("agent", "create", "alice", "--save")
    cli("agent", "create", "bob", "--save")
    held = cli.json("send", "alice", "for alice herself", "--name", "bob")
    listener = cli.spawn("listen", "--name", "bob", "--json")
    try:
        wait_online(cli, "bob")
        cli("send", "bob", "one command", "--name", "alice")
        cli("memory", "add", "the VPN port is 443", "--name", "alice")
        cli("who", "--name", "alice")
        seen = {a["name"]: a for a in cli.json("who", "--name", "alice")}
    finally:
        listener.terminate()
        listener.communicate(timeout=20)
    # Listening is the agent at work: bob is online. alice is not, though the `who` that
    # asked was itself connected as her at that moment.
    assert seen["bob"]["online"] and len(seen["bob"]["sessions"]) == 1
    assert not seen["alice"]["online"] and seen["alice"]["sessions"] == []
    # Her commands were not handed the message waiting for her: her listener gets it.
    got = json.loads(cli("listen", "--name", "alice", "--json", "--count", "1").stdout)
    assert got["id"] == held["id"] and got["body"] == "for alice herself"


async def test_ctrl_c_finishes_an_ask_with_the_answers_that_are_in(
    running: tuple[ServerProcess, Cli],
) -> None:
    server, cli = running
    cli("agent", "create", "alice", "--save")
    cli("agent", "create", "bob", "--save")
    cli("memory", "add", "The wiki backups run nightly at 02:00", "--name", "bob")
    silent = cli.json("agent", "create", "silent", "--skill", "backups")["token"]
    live = (ANSWERS_CAPABILITY,)
    async with Client(server.url, "silent", silent, capabilities=live) as quiet:
        asking = cli.spawn(
            "ask", "When do the wiki backups run?", "--skill", "backups", "--timeout", "60",
            "--name", "alice",
        )  # fmt: skip
        began = time.monotonic()
        await asyncio.wait_for(quiet.questions.get(), 20)
        assert asking.stdout is not None
        while "Ctrl-C finishes" not in (line := await asyncio.to_thread(asking.stdout.readline)):
            assert line, asking.stderr.read() if asking.stderr else ""
        asking.send_signal(signal.SIGINT)
        out, err = await asyncio.to_thread(asking.communicate, timeout=20)
    assert asking.returncode == 0, err
    assert time.monotonic() - began < 30  # not the 60 s timeout
    assert "finishing with the answers that are in" in out
    assert "02:00" in out and "no live answer in time from: silent" in out


def test_who_list_and_revoke(running: tuple[ServerProcess, Cli]) -> None:
    _, cli = running
    cli("agent", "create", "alice", "--save", "--description", "knows python")
    cli("agent", "create", "bob", "--save")
    listed = cli.json("agent", "list")
    assert [a["name"] for a in listed] == ["alice", "bob"]
    table = cli("who").stdout
    assert "alice" in table and "knows python" in table
    assert cli.json("agent", "revoke", "bob")["changed"] is True
    twice = cli("agent", "revoke", "bob").stdout
    assert "bob was revoked already" in twice
    assert [a["name"] for a in cli.json("agent", "list")] == ["alice"]
    assert len(cli.json("agent", "list", "--all")) == 2
    refused = cli("send", "alice", "hi", "--name", "bob", ok=False)
    assert refused.returncode == 1 and "auth_failed" in refused.stderr and "hint:" in refused.stderr


def test_fresh_identities_are_listed_and_pruned(running: tuple[ServerProcess, Cli]) -> None:
    _, cli = running
    for name in ("nina", "troll1", "troll2"):
        cli("agent", "create", name)
    assert [a["name"] for a in cli.json("agent", "list", "--new", "1")] == [
        "nina",
        "troll1",
        "troll2",
    ]
    # Without --yes nothing is revoked: it says what would be.
    dry = cli("agent", "prune", "--made-within", "1", "--keep", "nina").stdout
    assert "would revoke 2: troll1, troll2" in dry and "--yes" in dry
    # A name to keep that is not there (a typo) revokes nothing and says so.
    typo = cli("agent", "prune", "--made-within", "1", "--keep", "nnia", "--yes", ok=False)
    assert typo.returncode == 1 and "'nnia'" in typo.stderr
    assert len(cli.json("agent", "list")) == 3
    pruned = cli.json("agent", "prune", "--made-within", "1", "--keep", "nina", "--yes")
    assert [a["name"] for a in pruned["revoked"]] == ["troll1", "troll2"]
    assert [a["name"] for a in cli.json("agent", "list")] == ["nina"]
    assert cli("agent", "list", "--new", "0", ok=False).returncode == 2  # not "everyone"
    refused = cli("agent", "prune", "--made-within", "0", ok=False)
    assert refused.returncode == 2 and "--made-within" in refused.stderr


def test_errors_say_what_to_do(running: tuple[ServerProcess, Cli], tmp_path: Path) -> None:
    _, cli = running
    cli("agent", "create", "alice", "--save")
    unknown = cli("send", "nobody", "hi", ok=False)
    assert (
        unknown.returncode == 1
        and "unknown_recipient" in unknown.stderr
        and "cloudbrain who" in unknown.stderr
    )
    as_json = cli("send", "nobody", "hi", "--json", ok=False)
    error = json.loads(as_json.stdout)["error"]
    assert error["type"] == "ServerError" and error["hint"]
    again = cli("agent", "create", "alice", ok=False)
    assert again.returncode == 1 and "already exists" in again.stderr
    # Values the protocol refuses are one line each, never a traceback; a UUID pasted in
    # capitals or without its dashes is the same id.
    sent = cli.json("send", "alice", "to myself")["id"]
    for pasted in (sent.upper(), sent.replace("-", "")):
        assert cli.json("status", pasted)["msg"] == sent
    no_such_ai = cli("ask", "anything?", "--agent", "nobody", ok=False)
    assert no_such_ai.returncode == 1 and "no AI named 'nobody'" in no_such_ai.stderr
    for bad in (("ask", ""), ("status", sent[:8]), ("rate", "x", "y", "up")):
        refused = cli(*bad, ok=False)
        assert refused.returncode == 1 and "Traceback" not in refused.stderr, bad
        assert refused.stderr.startswith("error: ") and "hint: " in refused.stderr, bad

    no_server = Cli(tmp_path / "home", CLOUDBRAIN_URL=f"ws://127.0.0.1:{free_port()}")
    down = no_server("send", "bob", "hi", "--name", "alice", "--token", "cb_x", ok=False)
    assert (
        down.returncode == 1
        and "cannot reach" in down.stderr
        and "cloudbrain server" in down.stderr
    )

    nobody = Cli(tmp_path / "empty-home", CLOUDBRAIN_URL=cli.env["CLOUDBRAIN_URL"])
    missing = nobody("send", "bob", "hi", ok=False)
    assert missing.returncode == 1 and "agent create" in missing.stderr


def test_credentials_file_is_private(running: tuple[ServerProcess, Cli]) -> None:
    server, cli = running
    created = cli.json("agent", "create", "alice", "--save")
    path = Path(created["saved_to"])
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700  # the home it made on the way
    saved = json.loads(path.read_text())  # kept for the server CLOUDBRAIN_URL names
    assert saved["current"] == server.url
    assert saved["servers"][server.url]["default"] == "alice"


def test_a_home_open_to_others_is_closed_and_its_database_made_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    database = home / "cloudbrain.db"
    database.touch(mode=0o644)  # an empty file: a new database to SQLite
    os.chmod(database, 0o644)
    upgraded = Cli(home)("db", "upgrade")
    assert f"{home} was open to other users (mode 755); made it 700" in upgraded.stderr
    assert home.stat().st_mode & 0o777 == 0o700
    assert database.stat().st_mode & 0o777 == 0o600
    again = Cli(home)("db", "current")
    assert "open to other users" not in again.stderr  # said once, when it was done

    fresh = tmp_path / "new" / "home"
    Cli(fresh)("db", "upgrade")
    assert fresh.stat().st_mode & 0o777 == 0o700
    assert (fresh / "cloudbrain.db").stat().st_mode & 0o777 == 0o600


def test_db_commands(tmp_path: Path) -> None:
    from cloudbrain.db.migrate import head

    cli = Cli(tmp_path)
    newest = head()
    assert cli.json("db", "current") == {"revision": None, "head": newest, "up_to_date": False}
    assert cli.json("db", "upgrade") == {"revision": newest}
    assert cli.json("db", "current")["up_to_date"] is True


def test_help_teaches() -> None:
    top = Cli(Path("/nonexistent"))("--help").stdout
    assert "Start here" in top and "agent create" in top
    for command in ("server", "send", "listen", "who", "status", "agent", "agent create", "db"):
        text = Cli(Path("/nonexistent"))(*command.split(), "--help").stdout
        assert "Usage" in text
    # Every command's summary is one sentence on one line, however wide the terminal.
    wide = Cli(Path("/nonexistent"), COLUMNS="300")("--help").stdout
    assert "with which skills (declared, and learned: marked *" in wide


def test_version_is_the_installed_packages_and_completion_is_offered() -> None:
    cli = Cli(Path("/nonexistent"))
    assert cli("--version").stdout == f"cloudbrain {version('cloudbrain')}\n"
    assert "--install-completion" in cli("--help").stdout


def test_server_refuses_a_busy_port_clearly(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "a", f"sqlite+aiosqlite:///{tmp_path / 'a.db'}").start()
    try:
        busy = Cli(tmp_path / "b")("server", "--port", str(server.port), ok=False)
        assert busy.returncode == 1 and "another --port" in busy.stderr
    finally:
        server.stop()


def test_memory_add_search_export_import(
    running: tuple[ServerProcess, Cli], tmp_path: Path
) -> None:
    _, cli = running
    cli("agent", "create", "alice", "--save")
    added = cli.json(
        "memory", "add", "The release train leaves every second Tuesday", "--kind", "fact"
    )
    [memory_id] = added["stored"]
    cli("memory", "add", "Lunch is at noon")
    found = cli.json(
        "memory", "search", "when does the release train leave", "--agent", "alice", "--since", "1h"
    )
    assert [r["memory"]["id"] for r in found][:1] == [memory_id]
    assert found[0]["memory"]["device"] and found[0]["memory"]["session"]
    # A session as lists show it (its end), in any case, picks out its memories.
    short = found[0]["memory"]["session"][-8:].upper()
    by_session = cli.json("memory", "search", "release train", "--session", short)
    assert [r["memory"]["id"] for r in by_session] == [memory_id]
    unknown = cli("memory", "search", "x", "--session", "abcdef12", ok=False)
    assert unknown.returncode == 1 and "no session has an id like 'abcdef12'" in unknown.stderr
    text = cli("memory", "search", "release train").stdout
    assert "alice" in text and "second Tuesday" in text
    assert cli.json("memory", "search", "release train", "--until", "2000-01-01") == []

    # Export, then import on another server: one's own memories round-trip.
    dump = tmp_path / "memories.jsonl"
    cli("memory", "export", "--out", str(dump))
    assert len(dump.read_text().splitlines()) == 2
    assert cli.json("memory", "import", str(dump)) == {"stored": 0, "duplicates": 2}
    with ServerProcess(tmp_path / "elsewhere", "") as elsewhere:
        other = Cli(tmp_path / "elsewhere", CLOUDBRAIN_URL=elsewhere.url)  # its database
        token = other.json("agent", "create", "alice")["token"]
        moved = other.json("memory", "import", str(dump), "--name", "alice", "--token", token)
        assert moved == {"stored": 2, "duplicates": 0}
    bad = cli("memory", "search", "x", "--since", "last tuesday-ish", ok=False)
    assert bad.returncode == 1 and "2d" in bad.stderr


def test_follow_endorse_trust_and_show_a_social_profile(running: tuple[ServerProcess, Cli]) -> None:
    _, cli = running
    cli("agent", "create", "alice", "--save")
    cli("agent", "create", "bob", "--save")
    assert cli.json("follow", "bob", "--name", "alice") == {"changed": True}
    assert cli.json("follow", "bob", "--name", "alice") == {"changed": False}
    endorsed = cli.json("endorse", "bob", "python", "--note", "clear answers", "--name", "alice")
    assert endorsed == {"changed": True}
    refused = cli("endorse", "alice", "python", "--name", "alice", ok=False)
    assert refused.returncode == 1 and "forbidden" in refused.stderr
    assert cli.json("familio", "trust", "alice") == {"changed": True}
    assert cli.json("familio", "trusted") == {"alice": 1.0}

    deadline = time.monotonic() + 20
    while True:  # reputation is worked out by the server in the background
        shown = cli.json("familio", "show", "bob", "--name", "alice")
        if any(r["skill"] == "python" for r in shown["reputation"]):
            break
        assert time.monotonic() < deadline, shown
        time.sleep(0.2)
    assert [f["agent"] for f in shown["followers"]] == ["alice"]
    assert [(e["endorser"], e["skill"]) for e in shown["endorsements"]] == [("alice", "python")]
    python = next(r for r in shown["reputation"] if r["skill"] == "python")
    assert python["parts"] == [{"source": "alice", "kinds": ["endorse"], "share": 1.0}]
    text = cli("familio", "show", "bob", "--name", "alice").stdout
    assert "followers: alice" in text and "reputation for python" in text
    assert cli.json("withdraw", "bob", "python", "--name", "alice") == {"changed": True}
    assert cli.json("unfollow", "bob", "--name", "alice") == {"changed": True}


def test_commands_make_a_new_database_but_leave_upgrades_to_db_upgrade(tmp_path: Path) -> None:
    from cloudbrain.db import upgrade

    old = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    upgrade(old, "0010_legacy_open")
    cli = Cli(tmp_path / "home", CLOUDBRAIN_DATABASE_URL=old)
    behind = cli("agent", "list", ok=False)
    assert behind.returncode == 1 and "cloudbrain db upgrade" in behind.stderr
    cli("db", "upgrade")
    assert cli.json("agent", "list") == []
    # A database that does not exist yet is made by the first command that needs it.
    fresh = Cli(tmp_path / "fresh-home")
    assert fresh.json("agent", "create", "alice")["agent"]["name"] == "alice"


def test_a_database_that_is_missing_or_away_is_one_line_saying_what_to_do(
    postgres_url: str, tmp_path: Path
) -> None:
    from sqlalchemy.engine import make_url

    missing = make_url(postgres_url).set(database="cloudbrain_never_made").render_as_string(False)
    away = make_url(postgres_url).set(port=free_port()).render_as_string(False)
    cli = Cli(tmp_path / "home")
    for url, said, hint in (
        (missing, "does not exist", "createdb"),
        (away, "cannot reach", "--db"),
    ):
        for command in (("agent", "list", "--db", url), ("server", "--db", url, "--no-http")):
            done = cli(*command, ok=False)
            assert done.returncode == 1, done.stderr
            assert said in done.stderr and hint in done.stderr and "Traceback" not in done.stderr
