"""Fields that could break what they end up in: a mail header (CR, LF), PostgreSQL (NUL), a log
line. Each is refused where it enters, with a typed error; and what was stored before such
checks existed can still be read back, mailed and restarted from."""

from __future__ import annotations

import asyncio
import json
import mailbox
from email import policy
from email.parser import BytesParser
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from cloudbrain.agent.client import Client
from cloudbrain.agent.errors import ServerError
from cloudbrain.db import create_engine
from cloudbrain.db.models import messages, sessions
from cloudbrain.db.types import utcnow
from cloudbrain.envelope import Envelope, Stored
from cloudbrain.errors import ErrorCode
from cloudbrain.identity import create_agent
from cloudbrain.ids import new_id
from cloudbrain.maildir.gateway import INCOMING
from cloudbrain.maildir.mapping import delivered_mail
from cloudbrain.memory.records import MemoryRecord
from cloudbrain.protocol import Deliver
from cloudbrain.server import Server
from cloudbrain.server.writer import BatchWriter, Outgoing
from cloudbrain.settings import Settings
from cloudbrain.storage.messages import MessageStore
from tests.conftest import AgentFactory, ClientFactory
from tests.test_bad_input import others_still_fine
from tests.test_smtp_gateway import carol_knows, files, submit, wait_for_answers
from tests.wire import closed_with, hello, raw, recv_json

BREAKS = "line one\r\nBcc: everyone@example.com\nthree"


def spooled(settings: Settings, agent: str) -> list[Any]:
    folder = settings.home / "spool" / agent
    box = mailbox.Maildir(folder, factory=None, create=False)
    return [
        BytesParser(policy=policy.default).parsebytes(box.get_bytes(key)) for key in box.iterkeys()
    ]


async def until(condition: Any, what: str, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"waited {seconds:g}s for {what}")


# --- refused where they enter -------------------------------------------------------------------


def frame(kind: str, **fields: Any) -> str:
    return json.dumps({"v": 1, "type": kind, "id": new_id(), **fields})


@pytest.mark.parametrize(
    "data",
    [
        frame("send", to="dave", body="x", conversation=BREAKS),
        frame("send", to="dave", body="a\x00b"),
        frame("send", to="dave", body={"deep": ["fine", {"k": "nul \x00 here"}]}),
        frame("send", to="dave", body="x", meta={"subject\x00": "key with NUL"}),
        frame("publish", topic="news\x00", body="x"),
        frame("broadcast", body="x", meta={"subject": "fine"}, conversation="tab\there"),
        frame("remember", memories=[{"ai": "eve", "content": "a\x00b"}]),
        json.dumps({"v": 1, "type": "ping", "id": "two\nlines"}),
        frame("endorse", agent="dave", skill="sql", note="nul \x00"),
        frame("subscribe", topic="esc\x1b[31m"),
        # Numbers past a BIGINT, and times without a zone, which cannot be compared.
        frame("memories", after=2**63),
        frame("brain_save", state={}, base=2**63),
        frame("brain_load", version=2**64),
        frame("remember", memories=[{"ai": "eve", "content": "x", "count": 2**63}]),
        frame("recall", query="x", since="2026-01-01T00:00:00"),
        frame("memories", until="2026-01-01T00:00:00"),
    ],
)
async def test_nul_and_line_breaks_are_refused_with_a_typed_error(
    server: Server, make_agent: AgentFactory, connect: ClientFactory, data: str
) -> None:
    await make_agent("dave")
    _, token = await make_agent("eve")
    async with raw(server.url) as ws:
        await hello(ws, "eve", token)
        await ws.send(data)
        error = await recv_json(ws)
        assert (error["type"], error["code"]) == ("error", "invalid_frame"), error
        assert error.get("re") == json.loads(data)["id"] or "\n" in json.loads(data)["id"]
        await ws.send(json.dumps({"v": 1, "type": "ping", "id": "still-open"}))
        assert (await recv_json(ws))["re"] == "still-open"
    await others_still_fine(connect)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ("[" * 5000 + "]" * 5000, "invalid_json"),
        (frame("send", to="dave", body=json.loads("[" * 500 + "]" * 500)), "invalid_frame"),
        ('{"v": 1, "type": "ping", "id": "\\ud800"}', "invalid_frame"),
    ],
)
async def test_deep_nesting_and_lone_surrogates_get_an_error_frame_not_a_close(
    server: Server, make_agent: AgentFactory, data: str, code: str
) -> None:
    await make_agent("dave")
    _, token = await make_agent("eve")
    async with raw(server.url, max_size=None) as ws:
        await hello(ws, "eve", token)
        await ws.send(data)
        error = await recv_json(ws)
        assert (error["type"], error["code"]) == ("error", code), error
        await ws.send(json.dumps({"v": 1, "type": "ping", "id": "still-open"}))
        assert (await recv_json(ws))["re"] == "still-open"


async def test_a_json_escaped_backslash_before_u0000_is_only_text(connect: ClientFactory) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    receipt = await alice.send("bob", "a path: C:\\u0000\\temp")
    assert (await bob.receive(5)).id == receipt.re


async def test_a_device_with_a_line_break_is_refused_at_hello(
    server: Server, make_agent: AgentFactory
) -> None:
    _, token = await make_agent("eve")
    async with raw(server.url) as ws:
        refused = await hello(ws, "eve", token, device="laptop\r\nX-Injected: 1")
        assert (refused["type"], refused["code"]) == ("error", "invalid_frame")
        assert "one line" in refused["detail"]
        assert await closed_with(ws) == 4002


async def test_an_ask_mailed_with_a_subject_that_decodes_to_line_breaks_is_answered(
    server: Server, settings: Settings, make_agent: AgentFactory, connect: ClientFactory
) -> None:
    await make_agent("alice")
    await carol_knows(connect)
    # An encoded word may carry any byte, CR and LF too: RFC 2047 does not forbid them.
    question = (
        b"From: alice@cloudbrain.local\r\nTo: ask@cloudbrain.local\r\n"
        b"Subject: =?utf-8?q?asyncio=0D=0ABcc=3A_everyone=40example.com?=\r\n"
        b"Message-ID: <breaks@example.com>\r\n\r\n"
        b"How do I keep python asyncio tasks alive?\r\n"
    )
    assert (await submit(server, question))[0] == 250
    [answer] = await wait_for_answers(settings, "alice")
    assert answer["Subject"] == "Re: asyncio Bcc: everyone@example.com"
    assert answer["Bcc"] is None
    incoming = settings.home / "spool" / INCOMING
    await until(lambda: not files(incoming / "new"), "the ask to be filed as answered")


# --- what was stored before: mailed and restarted from ------------------------------------------


def test_every_header_of_a_delivered_mail_is_one_line_whatever_the_message_holds() -> None:
    message = Deliver.model_validate(
        {
            "id": new_id(),
            "kind": "direct",
            "from": "alice",
            "to": "bob",
            "session": "s\r\nX-Session: forged",
            "device": "laptop\nX-Device: forged",
            "at": "2026-12-03T10:00:00+00:00",
            "body": "hello",
            "meta": {"subject": "hi\r\nBcc: everyone@example.com"},
            "conversation": "c\x00\r\nX-Conversation: forged",
        }
    )
    data = delivered_mail(message, "bob", "cloudbrain.local").as_bytes()
    parsed = BytesParser(policy=policy.default).parsebytes(data)
    assert parsed["Bcc"] is None and parsed["X-Session"] is None
    assert parsed["Subject"] == "hi Bcc: everyone@example.com"
    assert parsed["X-CloudBrain-Device"] == "laptop X-Device: forged"
    assert parsed["X-CloudBrain-Conversation"] == "c X-Conversation: forged"


async def test_a_server_restarts_over_stored_messages_with_line_breaks_in_their_fields(
    settings: Settings, make_agent: AgentFactory
) -> None:
    """As stored before the fields were checked where they enter: the spool is rebuilt at
    start, and neither that message nor the others waiting with it stop the server."""
    _, alice_token = await make_agent("alice")
    await make_agent("bob")
    await make_agent("carol")
    async with Server(settings) as server, Client(server.url, "alice", alice_token) as alice:
        # meta is free-form: a subject with line breaks is accepted, and mailed as one line.
        first = (await alice.send("bob", "one", meta={"subject": BREAKS})).re
        second = (await alice.send("bob", "two", conversation="fine")).re
        third = (await alice.send("carol", "three")).re
    engine = create_engine(settings.db_url)
    async with engine.begin() as conn:
        await conn.execute(
            update(messages).where(messages.c.id == second).values(conversation=BREAKS)
        )
        await conn.execute(update(sessions).values(device="laptop\r\nX-Injected: 1"))
    await engine.dispose()
    for copy in (settings.home / "spool").rglob("new/*"):
        copy.unlink()  # as after a crash before the copies were written: start rebuilds them

    async with Server(settings):
        by_id = {
            str(m["Message-ID"]).strip("<>").split("@")[0]: m for m in spooled(settings, "bob")
        }
        assert set(by_id) == {first, second}
        assert [str(m["Message-ID"]).split("@")[0] for m in spooled(settings, "carol")] == [
            f"<{third}"
        ]
    assert by_id[first]["Subject"] == "line one Bcc: everyone@example.com three"
    assert by_id[second]["X-CloudBrain-Conversation"] == "line one Bcc: everyone@example.com three"
    assert all(m["Bcc"] is None and m["X-Injected"] is None for m in by_id.values())


# --- the database refusing what a message holds ------------------------------------------------


class _Sender:
    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    def send(self, text: str) -> None:
        self.frames.append(json.loads(text))


@pytest.mark.postgres
async def test_a_message_postgresql_refuses_costs_only_that_message_and_no_retries(
    postgres_url: str,
) -> None:
    """Should a NUL get past the protocol (from any way in), PostgreSQL refuses it: its sender
    is told ``invalid_frame`` at once, and the others of its batch are stored, not retried for
    seconds while every other sender waits."""
    engine = create_engine(postgres_url)
    store = MessageStore(engine)
    alice, _ = await create_agent(engine, "alice")
    bob, _ = await create_agent(engine, "bob")
    session = await store.open_session(alice.id, node="n", device="d", client="c", capabilities=[])
    tries = 0
    write_batch = store.write_batch

    async def counted(*args: Any, **kwargs: Any) -> list[Stored]:
        nonlocal tries
        tries += 1
        return await write_batch(*args, **kwargs)

    store.write_batch = counted  # type: ignore[method-assign]
    stored: list[str] = []
    failed: list[tuple[str, ErrorCode]] = []
    writer = BatchWriter(
        store,
        lambda results: stored.extend(o.envelope.id for o, _ in results),
        lambda outgoing, code: failed.extend((o.envelope.id, code) for o in outgoing),
    )

    def outgoing(body: str) -> Outgoing:
        envelope = Envelope(
            id=new_id(),
            kind="direct",
            sender_id=alice.id,
            sender_name="alice",
            session_id=session,
            device="d",
            body=body,
            meta={},
            created_at=utcnow(),
            to_id=bob.id,
            to_name="bob",
        )
        return Outgoing(envelope, _Sender())

    batch = [outgoing("before"), outgoing("a\x00b"), outgoing("after")]
    for item in batch:
        await writer.submit(item)
    writer.start()
    await writer.stop()
    store.close()
    await engine.dispose()
    assert stored == [batch[0].envelope.id, batch[2].envelope.id]
    assert failed == [(batch[1].envelope.id, ErrorCode.INVALID_FRAME)]
    assert tries == 4  # the batch once, then each message on its own once


@pytest.mark.parametrize(
    "query",
    [
        {"since": "2026-01-01T00:00:00"},
        {"until": "2026-01-01T00:00:00"},
        {"page": "99999999999999999999"},
        {"page": str(2**63)},
        {"agent": "nul\x00here"},
    ],
)
async def test_rest_reads_refuse_times_without_a_zone_and_pages_past_the_end(
    server: Server, make_agent: AgentFactory, query: dict[str, str]
) -> None:
    await make_agent("alice")
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        refused = await http.get("/api/memories", params={"agent": "alice", **query})
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "invalid_frame"
        assert (await http.get("/api/memories", params={"agent": "alice"})).status_code == 200


# --- floods -------------------------------------------------------------------------------------


async def test_an_ask_flood_from_one_connection_is_capped_and_others_go_on(
    server: Server, settings: Settings, make_agent: AgentFactory, connect: ClientFactory
) -> None:
    """A specialist that never answers keeps every ask open until its deadline: past the cap,
    asks are refused with ``busy`` at once instead of piling up on the event loop."""
    _, expert_token = await make_agent("expert", skills=["python"])
    _, eve_token = await make_agent("eve")
    flood = 300
    async with raw(server.url) as expert, raw(server.url) as eve:
        await hello(expert, "expert", expert_token, capabilities=["answers"])
        await hello(eve, "eve", eve_token)
        for _ in range(flood):
            await eve.send(frame("ask", question="how do python tasks stay alive?", timeout=60))
        verdicts: dict[str, int] = {}
        while sum(verdicts.values()) < flood:
            reply = await recv_json(eve, timeout=30)
            kind = reply.get("code") or reply["type"]
            if kind in ("ask_started", "busy"):
                verdicts[kind] = verdicts.get(kind, 0) + 1
        cap = settings.max_asks_per_session
        assert verdicts == {"ask_started": cap, "busy": flood - cap}
        await others_still_fine(connect)


# --- identity ------------------------------------------------------------------------------------


async def test_a_memory_cannot_be_stored_under_another_agents_session(
    server: Server, connect: ClientFactory
) -> None:
    alice = await connect("alice")
    eve = await connect("eve")
    assert alice.session is not None and eve.session is not None

    def note(session: str) -> MemoryRecord:
        return MemoryRecord(ai="eve", content="I was in alice's session", session=session)

    with pytest.raises(ServerError) as refused:
        await eve.remember(note(alice.session))
    assert refused.value.code == "forbidden" and alice.session in refused.value.detail
    await eve.remember(note(eve.session), note("a label of eve's own"))
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        page = await http.get(f"/sessions/{alice.session}")
    assert page.status_code == 200 and "I was in alice" not in page.text
