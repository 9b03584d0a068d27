"""The path from the original CloudBrain: a client written here from the original protocol
talks with a new agent through a server started with --legacy-protocol, and an original
database is imported, twice, as a user would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import websockets
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudbrain.db import create_engine, upgrade
from cloudbrain.db.migrate import alembic_config
from cloudbrain.db.models import reputation
from cloudbrain.identity import create_agent, get_agent, revoke_agent
from cloudbrain.memory.embedding import HashingEmbedder
from cloudbrain.memory.store import MemoryStore, RecallFilter
from cloudbrain.peers import is_loopback
from cloudbrain.server import Server, legacy
from cloudbrain.server.legacy_ids import LegacyIds, next_number
from cloudbrain.settings import Settings
from cloudbrain.storage.brains import BrainStore
from cloudbrain.storage.social import SocialStore
from tests.conftest import AgentFactory, ClientFactory
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


async def test_an_original_client_hears_its_answer_before_what_waited_for_it(
    server: Server, connect: ClientFactory
) -> None:
    assert (await opened(server.url, {"ai_id": 7, "ai_name": "Old Bot"}))["ai_name"] == "Old-Bot"
    alice = await connect("alice")
    await alice.send("Old-Bot", "while you were away")  # stored, waiting for Old-Bot

    async with websockets.connect(server.url) as ws:
        old = Original(ws)
        await old.request({"ai_id": 7})
        # As the original CloudBrainClient.get_online_users reads its answer: it sends, and
        # takes the next frame that comes for it.
        online = await old.request({"type": "get_online_users"})
        assert online["type"] == "online_users", online
        assert {u["name"] for u in online["users"]} == {"alice", "Old-Bot"}
        waited = await old.next()  # and then what waited for it, not lost
        assert (waited["type"], waited["content"]) == ("new_message", "while you were away")


async def test_an_original_client_that_leaves_at_once_gets_its_messages_again(
    server: Server, connect: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(legacy, "REPLAY_AFTER", 0.2)
    monkeypatch.setattr(legacy, "ACK_AFTER", 0.5)
    await opened(server.url, {"ai_id": 7, "ai_name": "Old Bot"})
    alice = await connect("alice")
    await alice.send("Old-Bot", "one")

    async def heard_once_connected(*, stay: float) -> list[str]:
        """What a client that says nothing hears, staying ``stay`` seconds after it."""
        async with websockets.connect(server.url) as ws:
            old = Original(ws)
            await old.request({"ai_id": 7})
            heard = [(await old.next("new_message"))["content"]]
            with contextlib.suppress(TimeoutError):
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), stay))
                    heard.append(frame["content"])
        # Time for an ack, had the server made one, to be written before the next look.
        await asyncio.sleep(0.5)
        return heard

    # Written to it, and the connection closed right after: it may not have read it.
    assert await heard_once_connected(stay=0.0) == ["one"]
    assert await heard_once_connected(stay=0.0) == ["one"]
    # Kept open long enough after it was written: it was heard, and is not replayed again.
    assert await heard_once_connected(stay=1.5) == ["one"]
    await alice.send("Old-Bot", "two")
    assert await heard_once_connected(stay=1.5) == ["two"]


async def test_a_state_saved_by_cloudbrain_client_3_updates_the_imported_one(
    server: Server, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "original" / "cloudbrain.db"
    path.parent.mkdir()
    original_database(path)
    await asyncio.to_thread(import_legacy, tmp_path / "home", settings.db_url, path)
    async with websockets.connect(server.url) as ws:
        old = Original(ws)
        assert (await old.request({"ai_id": 2}))["ai_name"] == "li"
        imported = (await old.request({"type": "brain_load_state"}))["state"]
        assert imported["current_task"] == "migrating" and imported["last_thought"]
        # What cloudbrain-client 3.9.1 (AIWebSocketClient.update_brain_state) sends after each
        # message it sends: a task and its git status at the top level, no "state".
        saved = await old.request(
            {
                "type": "brain_save_state",
                "session_identifier": "1a2b3c4",
                "project_id": "cloudbrain",
                "git_hash": "9f8e7d6",
                "modified_files": ["server.py"],
                "added_files": [],
                "deleted_files": [],
                "git_status": " M server.py",
                "task": "Sent message message",
            }
        )
        assert saved["type"] == "brain_state_saved"
        loaded = (await old.request({"type": "brain_load_state"}))["state"]
        assert loaded == {**imported, "current_task": "Sent message message"}
        # Saves of nothing, in either shape, take nothing away.
        for empty in (
            {"type": "brain_save_state"},
            {"type": "brain_save_state", "state": {}, "brain_dump": {}},
            {"type": "brain_save_state", "state": {"current_task": None, "last_thought": ""}},
        ):
            assert (await old.request(empty))["type"] == "brain_state_saved"
            assert (await old.request({"type": "brain_load_state"}))["state"] == loaded
    engine = create_engine(settings.db_url)
    try:
        latest = await BrainStore(engine).load("li")
        assert latest is not None
        extra = latest.state.extra
        assert extra["git_hash"] == "9f8e7d6" and extra["modified_files"] == ["server.py"]
        assert extra["session_identifier"] == "1a2b3c4" and extra["added_files"] == []
    finally:
        await engine.dispose()


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


# The original's own tables, as its schema files create them (the project-aware ai_profiles,
# ai_messages, the brain state's ai_current_state, and Familio's ai_follows).
ORIGINAL_SCHEMA = """
    CREATE TABLE ai_profiles (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,
        nickname TEXT, project TEXT, expertise TEXT, version TEXT,
        created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
        updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, is_active BOOLEAN DEFAULT 1);
    CREATE TABLE ai_messages (id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id INTEGER,
        sender_id INTEGER NOT NULL, message_type TEXT NOT NULL, content TEXT NOT NULL,
        metadata TEXT, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
        FOREIGN KEY (sender_id) REFERENCES ai_profiles(id));
    CREATE TABLE ai_current_state (ai_id INTEGER PRIMARY KEY, current_task TEXT,
        last_thought TEXT, last_insight TEXT, current_cycle INTEGER,
        cycle_count INTEGER DEFAULT 0, last_activity TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
        session_id INTEGER, brain_dump TEXT, checkpoint_data TEXT,
        FOREIGN KEY (ai_id) REFERENCES ai_profiles(id));
    CREATE TABLE ai_follows (id INTEGER PRIMARY KEY AUTOINCREMENT,
        follower_id INTEGER NOT NULL, following_id INTEGER NOT NULL,
        created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
        FOREIGN KEY (follower_id) REFERENCES ai_profiles(id) ON DELETE CASCADE,
        FOREIGN KEY (following_id) REFERENCES ai_profiles(id) ON DELETE CASCADE,
        UNIQUE(follower_id, following_id));
"""


def schema_database(path: Path, rows: str) -> None:
    """A database made by the original's schema, holding ``rows`` (SQL inserts)."""
    db = sqlite3.connect(path)
    db.executescript(ORIGINAL_SCHEMA + rows)
    db.commit()
    db.close()


def import_legacy_for_people(home: Path, db_url: str, path: Path) -> str:
    """What ``import-legacy`` shows a person (no --json)."""
    done = subprocess.run(
        [sys.executable, "-m", "cloudbrain", "import-legacy", str(path)],
        env=cli_env(home, CLOUDBRAIN_DATABASE_URL=db_url, COLUMNS="300"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


async def test_follows_are_imported_from_ai_follows_with_their_dates(
    db_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "cloudbrain.db"
    schema_database(
        path,
        """
        INSERT INTO ai_profiles (id, name, project, expertise, version) VALUES
            (2, 'li', 'cloudbrain', 'python', '1.0'), (3, 'TraeAI', NULL, 'rust', '0.9');
        INSERT INTO ai_follows (follower_id, following_id, created_at) VALUES
            (3, 2, '2026-01-04 08:30:00'), (2, 3, '2026-01-06 17:45:10');
        """,
    )
    first = import_legacy(tmp_path / "home", db_url, path)
    assert first["follows"] == 2
    assert import_legacy(tmp_path / "home", db_url, path)["follows"] == 0
    engine = create_engine(db_url)
    try:
        social = SocialStore(engine)
        [li_follower] = await social.followers("li")
        assert (li_follower.agent, li_follower.since) == (
            "TraeAI",
            datetime(2026, 1, 4, 8, 30, tzinfo=UTC),
        )
        [trae_follower] = await social.followers("TraeAI")
        assert trae_follower.since == datetime(2026, 1, 6, 17, 45, 10, tzinfo=UTC)
        events = {(e.actor, e.subject): e for e in await social.history() if e.kind == "follow"}
        assert events[("TraeAI", "li")].at == datetime(2026, 1, 4, 8, 30, tzinfo=UTC)
        assert len(events) == 2
    finally:
        await engine.dispose()


async def test_messages_of_senders_not_in_ai_profiles_are_counted_as_skipped(
    db_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "cloudbrain.db"
    schema_database(
        path,
        """
        INSERT INTO ai_profiles (id, name) VALUES (2, 'li');
        INSERT INTO ai_messages (sender_id, message_type, content, created_at) VALUES
            (2, 'message', 'kept', '2026-01-05 10:00:00'),
            (9, 'insight', 'from a profile deleted since', '2026-01-05 10:01:00'),
            (9, 'message', 'and again', '2026-01-05 10:02:00'),
            (11, 'message', 'and another', '2026-01-05 10:03:00');
        """,
    )
    report = import_legacy(tmp_path / "home", db_url, path)
    assert (report["messages"], report["messages_skipped"]) == (1, 3)
    assert report["skipped_senders"] == [9, 11]
    shown = import_legacy_for_people(tmp_path / "home", db_url, path)
    assert "3 messages skipped" in shown and "AI 9, AI 11" in shown, shown
    assert "not in ai_profiles" in shown, shown


async def test_two_profiles_that_would_be_one_name_stay_two_identities(
    server: Server, db_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "original" / "cloudbrain.db"  # not the server's own database file
    path.parent.mkdir()
    schema_database(
        path,
        """
        INSERT INTO ai_profiles (id, name) VALUES
            (2, 'Li Ming'), (5, 'Li-Ming'), (6, 'Li Ming'), (7, 'Li-Ming-5'), (8, 'TraeAI');
        INSERT INTO ai_messages (sender_id, message_type, content, created_at) VALUES
            (2, 'message', 'I am two', '2026-01-05 10:00:00'),
            (5, 'message', 'I am five', '2026-01-05 10:01:00');
        """,
    )
    report = await asyncio.to_thread(import_legacy, tmp_path / "home", db_url, path)
    assert report["agents"] == ["Li-Ming", "Li-Ming-5", "Li-Ming-6", "Li-Ming-5-7", "TraeAI"]
    assert report["renamed"] == [
        {"ai_id": 5, "name": "Li-Ming", "agent": "Li-Ming-5", "reason": "AI 2 is Li-Ming"},
        {"ai_id": 6, "name": "Li Ming", "agent": "Li-Ming-6", "reason": "AI 2 is Li-Ming"},
        {"ai_id": 7, "name": "Li-Ming-5", "agent": "Li-Ming-5-7", "reason": "AI 5 is Li-Ming-5"},
    ]
    assert set(report["tokens"]) == set(report["agents"]) and report["messages"] == 2
    # Each number is its own identity, to original clients too.
    for number, name in ((2, "Li-Ming"), (5, "Li-Ming-5"), (7, "Li-Ming-5-7")):
        assert (await opened(server.url, {"ai_id": number}))["ai_name"] == name
    engine = create_engine(db_url)
    try:
        memories = MemoryStore(engine, HashingEmbedder())
        [five] = await memories.search("I am five", RecallFilter(ai="Li-Ming-5"))
        assert five.memory.content == "I am five"
    finally:
        await engine.dispose()
    # Imported again: the same names, nothing renamed or made anew.
    again = await asyncio.to_thread(import_legacy, tmp_path / "home", db_url, path)
    assert again["agents"] == report["agents"] and again["renamed"] == []
    assert again["tokens"] == {} and again["messages"] == 0
    # A profile added since under a name imported before is told apart too, and people are
    # told so.
    db = sqlite3.connect(path)
    db.execute("INSERT INTO ai_profiles (id, name) VALUES (12, 'TraeAI')")
    db.commit()
    db.close()
    shown = await asyncio.to_thread(import_legacy_for_people, tmp_path / "home", db_url, path)
    assert "AI 12 ('TraeAI') imported as TraeAI-12: AI 8 is TraeAI" in shown, shown


# --- who an original client may be (it has no token) --------------------------------------------


async def opened(url: str, frame: dict[str, Any]) -> dict[str, Any]:
    """The answer to an original-protocol opening that is taken; the connection is closed."""
    async with websockets.connect(url) as ws:
        answer = await Original(ws).request(frame)
    assert answer["type"] == "connected", answer
    return answer


async def refused(
    url: str, frame: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[str, int | None]:
    """The error an original-protocol opening is refused with, and the close code after it."""
    async with websockets.connect(url, additional_headers=headers) as ws:
        answer = await Original(ws).request(frame)
        assert answer["type"] == "error" and "ai_id" not in answer, answer
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        error: str = answer["error"]
        return error, ws.close_code


async def test_a_web_page_cannot_open_with_the_original_protocol(
    server: Server, settings: Settings
) -> None:
    # A page open in a browser here reaches loopback too; its upgrade request has an Origin.
    error, code = await refused(
        server.url, {"ai_id": 7, "ai_name": "Old Bot"}, {"Origin": "http://127.0.0.1:8000"}
    )
    assert "Origin" in error and code == 1008
    engine = create_engine(settings.db_url)
    try:
        assert await get_agent(engine, "Old-Bot") is None  # nothing was made for it either
    finally:
        await engine.dispose()
    assert (await opened(server.url, {"ai_id": 7, "ai_name": "Old Bot"}))["ai_name"] == "Old-Bot"


async def test_an_original_client_cannot_be_an_agent_that_has_a_token(
    server: Server, connect: ClientFactory, make_agent: AgentFactory
) -> None:
    _, ada_token = await make_agent("ada")
    alice = await connect("alice")
    await alice.send("ada", "for ada only")  # stored, waiting for ada

    # Not by her name, whatever number comes with it, nor by asking for a number.
    for frame in ({"ai_id": 777, "ai_name": "ada"}, {"ai_id": 999, "ai_name": "ada"}):
        error, code = await refused(server.url, frame)
        assert "ada" in error and "CloudBrain protocol" in error and "token" in error
        assert code == 4001

    # Nor by the number alice was given only so that original clients can name her.
    async with websockets.connect(server.url) as ws:
        old = Original(ws)
        await old.request({"ai_id": 7, "ai_name": "Old Bot"})
        online = await old.request({"type": "get_online_users"})
        alice_number = next(u["id"] for u in online["users"] if u["name"] == "alice")
    error, code = await refused(server.url, {"ai_id": alice_number})
    assert "alice" in error and "token" in error and code == 4001
    error, code = await refused(server.url, {"ai_id": alice_number + 100, "ai_name": "alice"})
    assert "token" in error and code == 4001

    # Her message waited for her: nobody else received it, and nothing acked it.
    ada = await connect("ada", ada_token)
    heard = await ada.receive(10)
    assert (heard.sender, heard.text) == ("alice", "for ada only")


async def test_a_revoked_original_identity_is_closed_and_then_refused(
    server: Server, settings: Settings
) -> None:
    engine = create_engine(settings.db_url)
    try:
        async with websockets.connect(server.url) as ws:
            old = Original(ws)
            assert (await old.request({"ai_id": 7, "ai_name": "Old Bot"}))["type"] == "connected"
            await revoke_agent(engine, "Old-Bot")
            told = await old.next("error")
            assert "revoked" in told["error"]
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            assert ws.close_code == 4004
    finally:
        await engine.dispose()
    for frame in (
        {"ai_id": 7},
        {"ai_id": 7, "ai_name": "Old Bot"},
        {"ai_id": 8, "ai_name": "Old Bot"},
        {"ai_id": 999, "ai_name": "Old Bot"},
    ):
        error, code = await refused(server.url, frame)
        assert "revoked" in error and code == 4004


async def test_new_original_identities_are_capped_even_across_restarts(
    settings: Settings,
) -> None:
    capped = settings.with_(legacy_new_per_hour=2)
    async with Server(capped) as server:
        await opened(server.url, {"ai_id": 1, "ai_name": "bot-1"})
        await opened(server.url, {"ai_id": 999, "ai_name": "bot-2"})
        for frame in ({"ai_id": 3, "ai_name": "bot-3"}, {"ai_id": 999, "ai_name": "bot-4"}):
            error, code = await refused(server.url, frame)
            assert "last hour" in error and "legacy_new_per_hour" in error and code == 1013
        # Identities there are still taken, by number or by name.
        assert (await opened(server.url, {"ai_id": 1}))["ai_name"] == "bot-1"
        assert (await opened(server.url, {"ai_id": 999, "ai_name": "bot-2"}))["ai_name"] == "bot-2"
    engine = create_engine(settings.db_url)
    try:
        restarted = datetime.now(UTC)
        async with Server(capped) as server:  # the count is in the database, not in the process
            error, code = await refused(server.url, {"ai_id": 3, "ai_name": "bot-3"})
            assert "last hour" in error and code == 1013
            await reputation_worked_out(engine, restarted)
        assert await get_agent(engine, "bot-3") is None
        assert await get_agent(engine, "bot-4") is None
    finally:
        await engine.dispose()


async def reputation_worked_out(engine: AsyncEngine, since: datetime) -> None:
    """Wait for a server's first reputation run after ``since`` to be stored. (Stopping a
    server on SQLite while that run writes can leave the database locked for the next writer:
    a shutdown race of its own, which this waiting keeps out of tests about other things.)"""
    for _ in range(200):
        async with engine.connect() as conn:
            latest = await conn.scalar(sa.select(sa.func.max(reputation.c.computed_at)))
        if latest is not None and latest >= since:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("reputation was not worked out after the server started")


async def test_ai_id_999_asks_for_a_number(server: Server, connect: ClientFactory) -> None:
    await connect("alice")  # an agent with a token, on a server that has given no numbers yet
    error, code = await refused(server.url, {"ai_id": 999, "ai_name": "alice"})
    assert "token" in error and code == 4001  # refused, where it used to fail with 1011

    async with contextlib.AsyncExitStack() as stack:
        clients, hellos = [], []
        for name in ("auto-a", "auto-b", "auto-c"):
            ws = await stack.enter_async_context(websockets.connect(server.url))
            clients.append(Original(ws))
            hellos.append(await clients[-1].request({"ai_id": 999, "ai_name": name}))
        numbers = [hello["ai_id"] for hello in hellos]
        assert [hello["ai_name"] for hello in hellos] == ["auto-a", "auto-b", "auto-c"]
        assert len(set(numbers)) == 3 and 999 not in numbers
        # Each is itself: what auto-b says reaches auto-a as auto-b's.
        await clients[1].request({"type": "send_message", "content": "b here"})
        heard = await clients[0].next("new_message")
        assert (heard["sender_name"], heard["sender_id"]) == ("auto-b", numbers[1])
        # 999 is nobody's number.
        nobody = await clients[0].request({"type": "familio_follow_ai", "target_ai_id": 999})
        assert nobody["type"] == "familio_error"

    # The same name again is the same identity, under the number it was given.
    again = await opened(server.url, {"ai_id": 999, "ai_name": "auto-a"})
    assert (again["ai_name"], again["ai_id"]) == ("auto-a", numbers[0])
    error, _ = await refused(server.url, {"ai_id": 999})
    assert "ai_name" in error
    error, _ = await refused(server.url, {"ai_id": 2**40, "ai_name": "huge"})
    assert "ai_id must be" in error


def test_no_ai_is_given_999_as_its_number() -> None:
    assert [next_number(n) for n in (None, 1, 997, 998, 999, 1000)] == [1, 2, 998, 1000, 1000, 1001]


async def test_imported_ais_are_open_unless_their_name_has_a_token_already(
    server: Server, make_agent: AgentFactory, db_url: str, tmp_path: Path
) -> None:
    await make_agent("TraeAI")  # made here, with a token, before the import
    path = tmp_path / "original" / "cloudbrain.db"  # not the server's own database file
    path.parent.mkdir()
    original_database(path)
    # In a thread: the server runs on this event loop, and must go on while the import runs.
    report = await asyncio.to_thread(import_legacy, tmp_path / "home", db_url, path)
    assert set(report["tokens"]) == {"li"}
    assert (await opened(server.url, {"ai_id": 2}))["ai_name"] == "li"
    error, code = await refused(server.url, {"ai_id": 3})
    assert "TraeAI" in error and "token" in error and code == 4001


async def test_existing_numbers_are_open_only_for_identities_made_for_the_original(
    db_url: str,
) -> None:
    """Migration 0010: a number made with its identity for the original protocol (by an
    opening or an import) is open; one given to name an agent that has a token is not."""
    from alembic import command

    engine = create_engine(db_url)
    try:
        await create_agent(engine, "li", description="from the original CloudBrain (AI 2)")
        await create_agent(engine, "ada", description="")
    finally:
        await engine.dispose()
    await asyncio.to_thread(command.downgrade, alembic_config(db_url), "0009_legacy_ids")
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            for number, agent in ((2, "li"), (5, "ada")):
                await conn.execute(
                    sa.text(
                        "INSERT INTO legacy_ids (legacy_id, agent, nickname, project, version) "
                        "VALUES (:number, :agent, '', '', '')"
                    ),
                    {"number": number, "agent": agent},
                )
    finally:
        await engine.dispose()
    await asyncio.to_thread(upgrade, db_url)
    engine = create_engine(db_url)
    try:
        ids = LegacyIds(engine)
        li, ada = await ids.by_number(2), await ids.by_number(5)
        assert li is not None and li.open_to_original
        assert ada is not None and not ada.open_to_original
        assert await ids.created_by_openings_since(datetime(2000, 1, 1, tzinfo=UTC)) == 0
    finally:
        await engine.dispose()
