"""`cloudbrain agent run` as a real process: taught on one device, remembering on another."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cloudbrain.agent.client import Client
from cloudbrain.agent.device import BadPlace, device_folder
from cloudbrain.db import create_engine
from cloudbrain.files import private_folder
from cloudbrain.identity import create_agent
from tests.services import ServerProcess, cli_env, free_port


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
    home: Path,
    server: ServerProcess,
    token: str,
    device: str,
    name: str = "alice",
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cloudbrain",
            "agent",
            "run",
            name,
            "--device",
            device,
            "--brain",
            "recall",
        ],
        env=cli_env(home, CLOUDBRAIN_URL=server.url, CLOUDBRAIN_TOKEN=token),
        cwd=cwd,
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


def agent_run(
    home: Path, url: str, name: str, device: str, token: str, cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cloudbrain", "agent", "run", name, "--device", device],
        env=cli_env(home, CLOUDBRAIN_URL=url, CLOUDBRAIN_TOKEN=token),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def everything_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# Names that were joined raw into home/agents/NAME/DEVICE. "/proc/self/cwd/…" is an absolute
# path that leads into the agent process's working folder (the test's tmp_path), so a name or
# device taken as an absolute path shows up there instead of somewhere on this machine.
HOSTILE = [
    ("../../x", "laptop"),
    ("/proc/self/cwd/absolute", "laptop"),
    ("alice", "../../../../x"),
    ("alice", "/proc/self/cwd/absolute-device"),
    ("..", "laptop"),
    ("alice", ".."),
]


async def test_a_refused_token_leaves_nothing_on_disk(db_url: str, tmp_path: Path) -> None:
    """Whatever the name and device, nothing is written anywhere before the server accepts the
    token: not the agent's folder, not memory.db, not the data folder itself."""
    engine = create_engine(db_url)
    await create_agent(engine, "alice")
    await engine.dispose()
    with ServerProcess(tmp_path / "server", db_url) as server:
        # Deep enough that a name joined raw lands inside tmp_path/a, where it is seen.
        work = tmp_path / "a" / "b" / "work"
        work.mkdir(parents=True)
        home = work / "home"
        for name, device in HOSTILE:
            done = await asyncio.to_thread(
                agent_run, home, server.url, name, device, "cb_not-the-token", work
            )
            assert done.returncode == 1, (name, device, done.stderr)
            assert "auth_failed" in done.stderr and "hint:" in done.stderr, done.stderr
            assert "Traceback" not in done.stderr + done.stdout
            assert everything_under(tmp_path / "a") == ["b", "b/work"], (name, device)
        assert everything_under(tmp_path / "server" / "spool") == []


async def test_names_that_cannot_name_a_folder_are_refused_before_connecting(
    tmp_path: Path,
) -> None:
    nobody = f"ws://127.0.0.1:{free_port()}"  # no server: the check comes first
    home = tmp_path / "home"
    for name, device, says in [
        ("a b", "laptop", "'a b' is not a valid agent name"),
        ("*all", "laptop", "'*all' is not a valid agent name"),
        ("alice", "lap\ntop", "is not a valid device name"),
        ("alice", "x" * 129, "is not a valid device name"),
        ("alice", " ", "is not a valid device name"),
    ]:
        done = await asyncio.to_thread(agent_run, home, nobody, name, device, "cb_x", tmp_path)
        assert done.returncode == 1, done.stderr
        assert says in done.stderr and "hint:" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr + done.stdout
        assert not home.exists()


async def test_hostile_names_are_escaped_into_the_data_folder(db_url: str, tmp_path: Path) -> None:
    """An agent really called ``../../x`` (a valid name) on a device called ``../../../../y``
    keeps its memory under home/agents, in one escaped folder each, readable by it only."""
    engine = create_engine(db_url)
    _, token = await create_agent(engine, "../../x")
    _, bob_token = await create_agent(engine, "bob")
    await engine.dispose()
    with ServerProcess(tmp_path / "server", db_url) as server:
        work = tmp_path / "a" / "b" / "work"
        work.mkdir(parents=True)
        home = work / "home"
        agent = start_agent(home, server, token, "../../../../y", name="../../x", cwd=work)
        try:
            async with Client(server.url, "bob", bob_token) as bob:
                await until_online(bob, "../../x", "../../../../y")
                taught = await bob.request(
                    "../../x", "Remember that the gate code is 4711", timeout=10
                )
                assert taught.text.startswith("Noted")
        finally:
            output = stop(agent)
        assert agent.returncode == 0, output
    folder = home / "agents" / "%2E.%2F..%2Fx" / "%2E.%2F..%2F..%2F..%2Fy"
    assert (folder / "memory.db").is_file()
    # Joined raw, the device's folder would have been tmp_path/y.
    assert all(p.is_relative_to(home) for p in work.rglob("*"))
    assert [p for p in everything_under(tmp_path / "a") if not p.startswith("b/work")] == ["b"]
    assert not (tmp_path / "y").exists()
    for path in (home, home / "agents", folder.parent, folder):
        assert path.stat().st_mode & 0o777 == 0o700, path
    for path in folder.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_a_symlink_out_of_the_data_folder_is_refused(tmp_path: Path) -> None:
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    (home / "agents").mkdir(parents=True)
    elsewhere.mkdir()
    (home / "agents" / "alice").symlink_to(elsewhere)
    with pytest.raises(BadPlace, match="leads outside"):
        device_folder(home, "alice", "laptop")
    assert device_folder(home, "bob", "..") == home.resolve() / "agents" / "bob" / "%2E."


def test_a_long_device_name_is_still_one_folder(tmp_path: Path) -> None:
    """128 characters of three UTF-8 bytes each, %-escaped, are over a thousand: cut to one
    file name that the file system takes, and still told apart from a near twin."""
    long, twin = "設備" * 64, "設備" * 63 + "設x"
    folder = device_folder(tmp_path, "alice", long)
    assert folder.parent == tmp_path.resolve() / "agents" / "alice"
    assert len(folder.name.encode()) <= 255 and "/" not in folder.name
    assert device_folder(tmp_path, "alice", twin) != folder
    private_folder(folder)
    assert folder.is_dir()


def test_an_agent_waiting_for_a_server_stops_when_told(tmp_path: Path) -> None:
    """With no server to be reached, `agent run` keeps trying, and says so; a SIGTERM then
    ends it at once, as a service manager expects."""
    process = subprocess.Popen(
        [sys.executable, "-m", "cloudbrain", "agent", "run", "alice", "--brain", "recall"],
        env=cli_env(
            tmp_path / "home",
            CLOUDBRAIN_URL=f"ws://127.0.0.1:{free_port()}",
            CLOUDBRAIN_TOKEN="cb_nothing_listens",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    for line in process.stdout:  # the first line it logs: what it is waiting for
        if b"connecting to" in line:
            break
    process.send_signal(signal.SIGTERM)
    try:
        rest = process.communicate(timeout=15)[0].decode()
    finally:
        process.kill()
    assert process.returncode == 0, rest
    assert "alice stopped before a server answered" in rest
