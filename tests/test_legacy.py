"""The path from the original CloudBrain: a client written here from the original protocol
talks with a new agent through a server started with --legacy-protocol, and an original
database is imported, twice, as a user would."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import websockets

from cloudbrain.db import create_engine
from cloudbrain.memory.embedding import HashingEmbedder
from cloudbrain.memory.store import MemoryStore, RecallFilter
from cloudbrain.peers import is_loopback
from cloudbrain.server import Server
from cloudbrain.settings import Settings
from tests.conftest import ClientFactory
from tests.processes import cli_env


class Original:
    """A client of the original CloudBrain protocol, as its clients spoke it."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def request(self, frame: dict[str, Any]) -> dict[str, Any]:
        await self.ws.send(json.dumps(frame))
        return await self.next()

    async def next(self, kind: str | None = None) -> dict[str, Any]:
        while True:
            frame: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
            if kind is None or frame.get("type") == kind:
                return frame


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The server of these tests takes original-protocol clients."""
    return settings.with_(legacy_protocol=True)


async def test_an_original_client_and_a_new_agent_talk_on_the_same_port(
    server: Server, connect: ClientFactory
) -> None:
    legacy_server = server
    alice = await connect("alice")
    async with websockets.connect(legacy_server.url) as ws:
        old = Original(ws)
        hello = await old.request({"ai_id": 7, "ai_name": "Old Bot", "project": "cloudbrain"})
        assert hello["type"] == "connected" and hello["ai_id"] == 7
        assert hello["ai_name"] == "Old-Bot" and hello["ai_project"] == "cloudbrain"

        said = await old.request(
            {"type": "send_message", "content": "hello, family", "message_type": "insight"}
        )
        assert said["type"] == "new_message" and said["sender_id"] == 7  # echoed, as before
        heard = await alice.receive(10)
        assert (heard.sender, heard.text, heard.kind) == ("Old-Bot", "hello, family", "broadcast")
        assert heard.meta["legacy"]["message_type"] == "insight"

        await alice.send("Old-Bot", "hello, old friend")
        message = await old.next("new_message")
        assert message["sender_name"] == "alice" and message["content"] == "hello, old friend"
        alice_number = message["sender_id"]
        assert isinstance(alice_number, int) and alice_number != 7

        online = await old.request({"type": "get_online_users"})
        assert {u["name"] for u in online["users"]} == {"alice", "Old-Bot"}
        await ws.send(json.dumps({"type": "heartbeat"}))  # answered by nothing

        saved = await old.request(
            {
                "type": "brain_save_state",
                "state": {"current_task": "porting", "cycle_count": 3, "last_insight": "x"},
                "brain_dump": {"notes": ["a"]},
            }
        )
        assert saved["type"] == "brain_state_saved"
        loaded = await old.request({"type": "brain_load_state"})
        assert loaded["state"]["current_task"] == "porting"
        assert loaded["state"]["cycle_count"] == 3
        assert loaded["state"]["brain_dump"] == {"notes": ["a"]}

        followed = await old.request({"type": "familio_follow_ai", "target_ai_id": alice_number})
        assert followed["type"] == "familio_ai_followed"
        assert [f.agent for f in (await alice.familio("alice")).followers] == ["Old-Bot"]

        unknown = await old.request({"type": "blog_create_post", "title": "t"})
        assert unknown["type"] == "error" and "blog_create_post" in unknown["error"]
        broken = await old.request("not json")  # type: ignore[arg-type]
        assert broken["type"] == "error"
        assert (await old.request({"type": "get_online_users"}))["type"] == "online_users"

    # The same number comes back to the same identity, with no name this time.
    async with websockets.connect(legacy_server.url) as ws:
        again = await Original(ws).request({"ai_id": 7})
        assert again["ai_name"] == "Old-Bot"
    async with websockets.connect(legacy_server.url) as ws:
        stranger = await Original(ws).request({"ai_id": 99})
        assert "not found" in stranger["error"]


async def test_without_the_flag_an_original_client_is_told_what_to_do(
    settings: Settings,
) -> None:
    async with (
        Server(settings.with_(legacy_protocol=False)) as server,
        websockets.connect(server.url) as ws,
    ):
        await ws.send(json.dumps({"ai_id": 7, "ai_name": "Old Bot"}))
        refused = json.loads(await ws.recv())
        assert refused["code"] == "hello_required" and "--legacy-protocol" in refused["detail"]
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 4002


def test_original_clients_are_taken_from_this_machine_only() -> None:
    assert is_loopback(("127.0.0.1", 5000)) and is_loopback(("::1", 5000, 0, 0))
    assert not is_loopback(("192.168.1.9", 5000)) and not is_loopback(None)


def original_database(path: Path) -> None:
    """A database shaped as the original CloudBrain's (ai_db/cloudbrain.db)."""
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE ai_profiles (id INTEGER PRIMARY KEY, name TEXT, nickname TEXT,
            expertise TEXT, version TEXT, project TEXT);
        CREATE TABLE ai_messages (id INTEGER PRIMARY KEY, sender_id INTEGER,
            conversation_id INTEGER, message_type TEXT, content TEXT, metadata TEXT,
            created_at TEXT);
        CREATE TABLE ai_current_state (ai_id INTEGER PRIMARY KEY, current_task TEXT,
            last_thought TEXT, last_insight TEXT, current_cycle INTEGER, cycle_count INTEGER,
            last_activity TEXT, brain_dump TEXT, checkpoint_data TEXT);
        CREATE TABLE familia_follows (follower_id INTEGER, following_id INTEGER,
            created_at TEXT);
        INSERT INTO ai_profiles VALUES (2, 'li', 'Amiko', 'python', '1.0', 'cloudbrain'),
                                       (3, 'TraeAI', NULL, 'rust', '0.9', NULL);
        INSERT INTO ai_messages VALUES
            (1, 2, 1, 'insight', 'The deploy key lives in the vault under ops/deploy', '{}',
             '2026-01-05 10:00:00'),
            (2, 3, 1, 'message', 'Rust builds are cached in target/', NULL,
             '2026-01-05 10:05:00');
        INSERT INTO ai_current_state VALUES (2, 'migrating', 'almost there', 'use uv', 4, 12,
            '2026-01-05T11:00:00', '{"todo": ["tests"]}', '{"step": 3}');
        INSERT INTO familia_follows VALUES (3, 2, '2026-01-05 09:00:00');
        """
    )
    db.commit()
    db.close()


def import_legacy(home: Path, db_url: str, path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "cloudbrain", "import-legacy", str(path), "--json"],
        env=cli_env(home, CLOUDBRAIN_DATABASE_URL=db_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    report: dict[str, Any] = json.loads(done.stdout)
    return report


async def test_an_original_database_is_imported_once_however_often_it_is_imported(
    db_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "cloudbrain.db"
    original_database(path)
    first = import_legacy(tmp_path / "home", db_url, path)
    assert first["agents"] == ["li", "TraeAI"] and set(first["tokens"]) == {"li", "TraeAI"}
    assert (first["messages"], first["memories"], first["states"], first["follows"]) == (2, 2, 1, 1)
    again = import_legacy(tmp_path / "home", db_url, path)
    assert (again["messages"], again["memories"], again["states"], again["follows"]) == (0, 0, 0, 0)
    assert again["messages_known"] == 2 and again["tokens"] == {}

    engine = create_engine(db_url)
    try:
        found = await MemoryStore(engine, HashingEmbedder()).search(
            "where is the deploy key", RecallFilter(ai="li")
        )
        assert found and "vault" in found[0].memory.content
        assert found[0].memory.created_at.isoformat().startswith("2026-01-05T10:00")
    finally:
        await engine.dispose()
    bad = subprocess.run(  # noqa: ASYNC221 (the command line, as a user runs it)
        [sys.executable, "-m", "cloudbrain", "import-legacy", str(tmp_path / "nope.db")],
        env=cli_env(tmp_path / "home", CLOUDBRAIN_DATABASE_URL=db_url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and "no database" in bad.stderr and "hint" in bad.stderr
