"""Mail while offline: an ask queued with the server down is answered into the inbox once it is
back; an outbox flush killed half-way sends nothing twice and loses nothing; the server's spool
shows what waits for an offline agent and files it when the agent acks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import mailbox
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cloudbrain.agent.client import Client
from cloudbrain.cli.outbox import ClientOutlet
from cloudbrain.db import create_engine
from cloudbrain.db.models import deliveries, messages
from cloudbrain.envelope import Envelope
from cloudbrain.identity import create_agent
from cloudbrain.ids import new_id
from cloudbrain.maildir.flush import LocalMail, flush
from cloudbrain.maildir.folders import put_once
from cloudbrain.maildir.mapping import outgoing_mail
from cloudbrain.memory.embedding import available_embedder
from cloudbrain.memory.records import MemoryRecord
from cloudbrain.memory.store import MemoryStore
from cloudbrain.server import Server
from cloudbrain.server import spool as spool_module
from cloudbrain.server.spool import Spool
from cloudbrain.settings import Settings
from cloudbrain.storage.messages import MessageStore
from tests.conftest import AgentFactory
from tests.services import ServerProcess, cli_env, free_port

DOMAIN = "cloudbrain.local"


def parsed(path: Path) -> EmailMessage:
    message = BytesParser(policy=default_policy).parsebytes(path.read_bytes())
    assert isinstance(message, EmailMessage)
    return message


def files(folder: Path) -> list[Path]:
    return sorted(folder.iterdir()) if folder.is_dir() else []


async def until(condition, seconds: float = 30.0, what: str = "it") -> None:
    for _ in range(int(seconds * 20)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{what} did not happen within {seconds:g}s")


def cloudbrain(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cloudbrain", *args],
        env=cli_env(home, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_an_ask_queued_offline_is_answered_into_the_inbox_when_the_server_is_back(
    db_url: str, tmp_path: Path
) -> None:
    engine = create_engine(db_url)
    _, token = await create_agent(engine, "you")
    await create_agent(engine, "hopper", skills=["kubernetes"])
    embedder, _ = available_embedder("hashing")
    await MemoryStore(engine, embedder).add(
        [
            MemoryRecord(
                ai="hopper",
                content="kubectl rollout undo deployment/NAME returns a deployment to its "
                "previous revision.",
                created_at=datetime.now(UTC),
            )
        ]
    )
    await engine.dispose()
    home, port = tmp_path / "home", free_port()
    env = {
        "CLOUDBRAIN_URL": f"ws://127.0.0.1:{port}",
        "CLOUDBRAIN_AGENT": "you",
        "CLOUDBRAIN_TOKEN": token,
    }

    # The server is not running: the ask is queued, and says so.
    queued = cloudbrain(
        home, "ask", "--offline", "How do I roll back a kubernetes deployment?", "--json", **env
    )
    assert queued.returncode == 0, queued.stderr
    report = json.loads(queued.stdout)
    mail = home / "agents" / "you" / "mail"
    (question_file,) = files(mail / "outbox" / "new")
    question = parsed(question_file)
    assert question["To"] == f"ask@{DOMAIN}"
    assert question["Message-ID"] == f"<{report['queued']}@{DOMAIN}>"
    assert files(mail / "inbox" / "new") == []
    note = cloudbrain(home, "send", "--offline", "hopper", "thanks, hopper", "--json", **env)
    assert note.returncode == 0, note.stderr
    note_id = json.loads(note.stdout)["queued"]

    with ServerProcess(tmp_path / "server", db_url, port=port):
        await until(lambda: files(mail / "inbox" / "new"), 40, "the answer mail")
        # hopper is offline: the message waits for her, and her spool shows it.
        hopper_spool = tmp_path / "server" / "spool" / "hopper" / "new"
        await until(lambda: files(hopper_spool), 10, "the spooled message")
        assert [p.name for p in files(hopper_spool)] == [note_id]
    with contextlib.suppress(ProcessLookupError):  # it ends by itself; never leave it
        os.kill(report["flusher_pid"], signal.SIGKILL)

    # Any Maildir reader sees the answer, threaded under the question.
    inbox = mailbox.Maildir(mail / "inbox", create=False)
    (answer,) = [inbox.get_message(key) for key in inbox.iterkeys()]
    assert answer["In-Reply-To"] == question["Message-ID"]
    assert answer["Subject"] == "Re: How do I roll back a kubernetes deployment?"
    payload = answer.get_payload(decode=True)
    assert isinstance(payload, bytes)
    text = payload.decode()
    assert "hopper" in text and "rollout undo" in text
    assert files(mail / "outbox" / "new") == []
    assert [p.name.endswith(":2,S") for p in files(mail / "outbox" / "cur")] == [True, True]

    status = cloudbrain(home, "maildir", "status", "--json", **env)
    assert json.loads(status.stdout)["outbox"] == {
        "path": str(mail / "outbox"),
        "waiting": 0,
        "sent": 2,
        "refused": 0,
    }


def start_agent(home: Path, url: str, token: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cloudbrain", "agent", "run", "alice", "--brain", "recall"],
        env=cli_env(home, CLOUDBRAIN_URL=url, CLOUDBRAIN_TOKEN=token),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_a_flush_killed_half_way_sends_nothing_twice_and_loses_nothing(
    db_url: str, tmp_path: Path
) -> None:
    count = 1500
    engine = create_engine(db_url)
    alice, alice_token = await create_agent(engine, "alice")
    bob, _ = await create_agent(engine, "bob")
    home = tmp_path / "home"
    outbox = home / "agents" / "alice" / "mail" / "outbox"
    # Written the way any mail program would: stdlib mailbox, into outbox/new.
    outbox.parent.mkdir(parents=True)
    box = mailbox.Maildir(outbox, create=True)
    ids = [new_id() for _ in range(count)]
    for number, envelope in enumerate(ids):
        box.add(
            outgoing_mail(
                sender="alice",
                to=f"bob@{DOMAIN}",
                body=f"note {number}",
                domain=DOMAIN,
                envelope=envelope,
            )
        )
    with ServerProcess(tmp_path / "server", db_url) as server:
        agent = start_agent(home, server.url, alice_token)
        try:
            await until(lambda: files(outbox / "cur"), 60, "the flush to start")
            agent.send_signal(signal.SIGKILL)
            agent.wait(10)
            sent_before_kill = len(files(outbox / "cur"))
            assert 0 < sent_before_kill < count, "the kill came after the flush ended"

            agent = start_agent(home, server.url, alice_token)
            await until(lambda: not files(outbox / "new"), 60, "the rest of the flush")
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(20)

    async with engine.connect() as conn:
        stored = await conn.scalar(
            select(func.count()).select_from(messages).where(messages.c.sender_id == alice.id)
        )
        copies = await conn.scalar(
            select(func.count()).select_from(deliveries).where(deliveries.c.recipient_id == bob.id)
        )
        stored_ids = set((await conn.execute(select(messages.c.id))).scalars())
    await engine.dispose()
    assert stored == count and copies == count
    assert stored_ids == set(ids)
    assert len(files(outbox / "cur")) == count


async def test_the_spool_shows_what_waits_for_an_offline_agent_and_files_it_when_acked(
    server: Server, settings: Settings, make_agent: AgentFactory
) -> None:
    _, alice_token = await make_agent("alice")
    _, bob_token = await make_agent("bob")
    async with Client(server.url, "alice", alice_token) as alice:
        receipt = await alice.send("bob", "Grüße, bob — ça va?", meta={"subject": "Hallo 👋"})
    spool = settings.home / "spool" / "bob"
    await until(lambda: files(spool / "new"), 10, "the spooled copy")

    (copy,) = [m for m in mailbox.Maildir(spool, create=False)]
    assert copy["From"] == f"alice@{DOMAIN}" and copy["To"] == f"bob@{DOMAIN}"
    assert copy["Message-ID"] == f"<{receipt.re}@{DOMAIN}>"
    mail = parsed(files(spool / "new")[0])
    assert mail["Subject"] == "Hallo 👋"
    assert mail.get_content().rstrip("\n") == "Grüße, bob — ça va?"

    async with Client(server.url, "bob", bob_token) as bob:
        message = await bob.receive(timeout=5)
        assert message.id == receipt.re
        bob.ack(message)
        await until(lambda: not files(spool / "new"), 10, "filing the acked copy")
    (filed,) = files(spool / "cur")
    assert filed.name == f"{receipt.re}:2,S"


async def test_the_spool_is_brought_in_line_with_the_database_at_start(
    settings: Settings, make_agent: AgentFactory
) -> None:
    _, alice_token = await make_agent("alice")
    await make_agent("bob")
    _, carol_token = await make_agent("carol")
    spool = settings.home / "spool"
    async with Server(settings) as server, Client(server.url, "alice", alice_token) as alice:
        for_bob = (await alice.send("bob", "waiting for bob")).re
        for_carol = (await alice.send("carol", "read by carol")).re
        await until(lambda: files(spool / "bob" / "new") and files(spool / "carol" / "new"))
        async with Client(server.url, "carol", carol_token) as carol:
            carol.ack(await carol.receive(timeout=5))
            await until(lambda: files(spool / "carol" / "cur"), 10, "filing carol's copy")

    # As after a crash: bob's copy was never written, carol's was never filed.
    (spool / "bob" / "new" / for_bob).unlink()
    (filed,) = files(spool / "carol" / "cur")
    filed.rename(spool / "carol" / "new" / for_carol)

    async with Server(settings):
        assert [p.name for p in files(spool / "bob" / "new")] == [for_bob]
        assert files(spool / "carol" / "new") == []
        assert [p.name for p in files(spool / "carol" / "cur")] == [f"{for_carol}:2,S"]


async def test_mail_the_server_refuses_is_flagged_and_bounced_to_the_inbox(
    server: Server, settings: Settings, make_agent: AgentFactory
) -> None:
    _, token = await make_agent("alice")
    local = LocalMail.of(settings.home, "alice", DOMAIN)
    unknown = outgoing_mail(sender="alice", to=f"nobody@{DOMAIN}", body="hello?", domain=DOMAIN)
    html_only = EmailMessage()
    html_only["To"], html_only["Message-ID"] = f"bob@{DOMAIN}", f"<{new_id()}@{DOMAIN}>"
    html_only.set_content("<p>hi</p>", subtype="html")
    two = outgoing_mail(
        sender="alice", to=f"bob@{DOMAIN}, carol@{DOMAIN}", body="hi", domain=DOMAIN
    )
    for mail in (unknown, html_only, two):
        put_once(local.outbox, new_id(), mail)

    async with Client(server.url, "alice", token) as alice:
        report = await flush(local, ClientOutlet(alice))

    assert (report.sent, report.refused, report.left) == (0, 3, 0)
    assert [p.name.rpartition(",")[2] for p in files(local.outbox / "cur")] == ["F", "F", "F"]
    bounces = {str(parsed(p)["In-Reply-To"]): parsed(p) for p in files(local.inbox / "new")}
    assert set(bounces) == {str(m["Message-ID"]) for m in (unknown, html_only, two)}
    assert "exactly one address" in bounces[str(two["Message-ID"])].get_content()
    assert "unknown_recipient" in bounces[str(unknown["Message-ID"])].get_content()
    assert "text/plain" in bounces[str(html_only["Message-ID"])].get_content()


async def test_only_acks_that_file_a_spooled_copy_go_to_the_spools_helper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every batch for the helper process is a round trip: acks of messages that went straight
    to a live session have nothing to file there."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'cloudbrain.db'}")
    spool = Spool(tmp_path / "spool", DOMAIN, MessageStore(engine))
    kept = Envelope(new_id(), "direct", "a-id", "alice", "s", "laptop", "hi", {}, datetime.now(UTC))
    live_one, live_two = new_id(), new_id()

    def queued() -> list[object]:
        found: list[object] = []
        while not spool._queue.empty():
            found.append(spool._queue.get_nowait())
        return found

    spool.acked("b-id", [live_one])  # bob never had a copy
    spool.keep(kept, ["b-id"])
    assert [type(item).__name__ for item in queued()] == ["_Keep"]
    spool.acked("b-id", [live_one, kept.id, live_two])
    [filing] = queued()
    assert filing.message_ids == [kept.id]  # type: ignore[attr-defined]
    spool.acked("b-id", [live_two])  # nothing of bob's waits any more
    assert queued() == []

    monkeypatch.setattr(spool_module, "COPIES_REMEMBERED", 1)
    spool.keep(kept, ["c-id"])
    spool.keep(Envelope(**{**kept.__dict__, "id": new_id()}), ["c-id"])  # one too many
    queued()
    spool.acked("c-id", [live_one])  # too many to remember: every ack goes, as before
    assert len(queued()) == 1
    await engine.dispose()
