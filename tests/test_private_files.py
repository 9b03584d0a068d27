"""What a server keeps on disk is its owner's only: the data folder 0700, the SQLite database
and its -wal and -shm files 0600, spool folders 0700 and spool mail 0600, whatever the umask.
Checked with os.stat on the files of a real started server."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cloudbrain.agent.client import Client
from cloudbrain.server import Server
from cloudbrain.settings import Settings
from tests.conftest import AgentFactory


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that takes nothing away (0), so only modes set on purpose are private. The
    spool's helper process, started by the server, inherits it."""
    old = os.umask(0)
    yield
    os.umask(old)


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    for _ in range(int(seconds * 20)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("it did not happen")


@pytest.mark.usefixtures("open_umask")
async def test_a_started_server_keeps_its_home_database_and_spool_private(
    settings: Settings, make_agent: AgentFactory, caplog: pytest.LogCaptureFixture
) -> None:
    home = settings.home
    os.chmod(home, 0o755)  # as an earlier version, or a umask of 022, left it
    database = home / "cloudbrain.db"
    sqlite = settings.db_url.startswith("sqlite")
    if sqlite:
        os.chmod(database, 0o644)
    _, alice_token = await make_agent("alice")
    await make_agent("bob")
    with caplog.at_level(logging.WARNING, logger="cloudbrain.files"):
        async with Server(settings) as server:
            assert mode(home) == 0o700
            assert f"{home} was open to other users (mode 755); made it 700" in caplog.text
            if sqlite:
                assert {p.name: mode(p) for p in home.glob("cloudbrain.db*")} == {
                    "cloudbrain.db": 0o600,
                    "cloudbrain.db-wal": 0o600,
                    "cloudbrain.db-shm": 0o600,
                }
            async with Client(server.url, "alice", alice_token) as alice:
                receipt = await alice.send("bob", "the gate code is 4711")
            bob = home / "spool" / "bob"
            await until(lambda: (bob / "new" / receipt.re).exists())
            assert mode(bob / "new" / receipt.re) == 0o600
            for folder in (home / "spool", bob, bob / "new", bob / "cur", bob / "tmp"):
                assert mode(folder) == 0o700, folder


@pytest.mark.usefixtures("open_umask")
async def test_a_server_makes_a_missing_home_private(settings: Settings) -> None:
    home = settings.home / "new" / "home"
    async with Server(settings.with_(home=home)):
        assert mode(home) == 0o700
        assert mode(home.parent) == 0o700  # made by us too, on the way
