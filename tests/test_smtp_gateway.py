"""The SMTP gateway against a real server, spoken to with the standard library's smtplib:
who may send, where mail may go, what is refused with which code, and mailed asks answered
into the asker's mailbox on the server — once, even across a restart."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import mailbox
import smtplib
import socket
import ssl
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import make_msgid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cloudbrain import auth_limit
from cloudbrain.agent.client import Client
from cloudbrain.auth_limit import LONGEST_DELAY, AfterFailure, AuthFailures
from cloudbrain.certificates import make_server_files
from cloudbrain.db.models import sessions
from cloudbrain.ids import new_id
from cloudbrain.maildir.gateway import INCOMING
from cloudbrain.server import Server
from cloudbrain.server import mail as mail_side
from cloudbrain.settings import Settings
from cloudbrain.storage.activity import Activity
from cloudbrain.storage.asks import AskStore
from cloudbrain.storage.brains import BrainStore
from cloudbrain.tls import Trust
from tests.conftest import AgentFactory, ClientFactory
from tests.test_ask import ASYNCIO_FACT, store

DOMAIN = "cloudbrain.local"
QUESTION = "How do I keep python asyncio tasks alive?"


def at(name: str) -> str:
    return f"{name}@{DOMAIN}"


def mail(
    sender: str, to: str, body: str = "Hello", subject: str = "Hi", *, msgid: str = ""
) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = at(sender), to, subject
    message["Message-ID"] = msgid or make_msgid(domain=DOMAIN)
    message.set_content(body)
    return message


def sent_by(message: EmailMessage, sender: str) -> EmailMessage:
    """``message`` as ``sender`` would send it: the same mail (and Message-ID), their From."""
    copy = BytesParser(policy=policy.default).parsebytes(message.as_bytes())
    copy.replace_header("From", at(sender))
    return copy


def _converse(
    port: int, data: bytes, mail_from: str, rcpt_to: str, auth: tuple[str, str, str] | None
) -> tuple[int, str]:
    """One SMTP transaction; the reply that ended it (the first refusal, or DATA's)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        smtp.ehlo("tester.example")
        if auth is not None:
            mechanism, smtp.user, smtp.password = auth
            try:
                smtp.auth(mechanism, getattr(smtp, f"auth_{mechanism.lower()}"))
            except smtplib.SMTPAuthenticationError as refused:
                error = refused.smtp_error
                return refused.smtp_code, error.decode() if isinstance(error, bytes) else error
        for command, argument in ((smtp.mail, mail_from), (smtp.rcpt, rcpt_to)):
            code, reply = command(argument)
            if code != 250:
                return code, reply.decode()
        code, reply = smtp.data(data)
        return code, reply.decode()


async def submit(
    server: Server,
    message: EmailMessage | bytes,
    *,
    mail_from: str = "",
    auth: tuple[str, str, str] | None = None,
) -> tuple[int, str]:
    """Mail ``message`` to its To address; MAIL FROM is its From unless given."""
    data = message if isinstance(message, bytes) else message.as_bytes(policy=policy.SMTP)
    parsed = BytesParser(policy=policy.default).parsebytes(data)
    sender = mail_from or str(parsed["From"])
    return await asyncio.to_thread(
        _converse, server.smtp_port, data, sender, str(parsed["To"]), auth
    )


def answers(settings: Settings, agent: str) -> list[EmailMessage]:
    """The answer mails in ``agent``'s mailbox on the server."""
    folder = settings.home / "spool" / agent
    if not folder.is_dir():
        return []
    box = mailbox.Maildir(folder, factory=None, create=False)
    parsed = [
        BytesParser(policy=policy.default).parsebytes(box.get_bytes(k)) for k in box.iterkeys()
    ]
    return [m for m in parsed if m["X-CloudBrain-Type"] == "answer"]


async def wait_for_answers(
    settings: Settings, agent: str, count: int = 1, seconds: float = 30
) -> list[EmailMessage]:
    for _ in range(int(seconds / 0.1)):
        found = answers(settings, agent)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{agent} got {len(answers(settings, agent))} of {count} answer mail(s)")


def text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


async def carol_knows(connect: ClientFactory) -> None:
    """carol stored how asyncio tasks stay alive, then left: an ask is answered from memory."""
    carol = await connect("carol")
    await store(carol, ASYNCIO_FACT, session="carol-earlier")
    await carol.close()


# --- direct messages ---------------------------------------------------------------------------


async def test_mail_from_loopback_becomes_a_message(
    server: Server, make_agent: AgentFactory, connect: ClientFactory
) -> None:
    await make_agent("alice")
    bob = await connect("bob")
    msgid = new_id()
    sent = mail(
        "alice",
        at("bob"),
        "Grüße aus Köln,\nund bis bald — 東京でも会いましょう ☕",
        "Café über alles ✓",
        msgid=f"<{msgid}@laptop.example>",
    )
    assert (await submit(server, sent))[0] == 250
    got = await bob.receive(timeout=5)
    assert got.id == msgid and got.sender == "alice" and got.kind == "direct"
    assert got.body == "Grüße aus Köln,\nund bis bald — 東京でも会いましょう ☕"
    assert got.meta["subject"] == "Café über alles ✓"


async def test_a_mail_never_shows_its_sender_online_and_its_session_ends_when_idle(
    server: Server,
    make_agent: AgentFactory,
    connect: ClientFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mail_side, "IDLE_SECONDS", 0.3)
    await make_agent("alice")
    bob = await connect("bob")
    assert (await submit(server, mail("alice", at("bob"), "one mail")))[0] == 250
    await bob.receive(timeout=5)
    # While the gateway still holds her session, alice is not online: a mail is not an agent
    # running, and the directory must not prefer her for questions because of it.
    assert not {a.name: a for a in await bob.who()}["alice"].online
    assert server.engine is not None
    activity = Activity(server.engine, AskStore(server.engine), BrainStore(server.engine))
    assert await activity.sessions("alice", 10) == ([], 0)
    for _ in range(100):
        async with server.engine.connect() as conn:
            open_now = await conn.scalar(
                select(func.count()).select_from(sessions).where(sessions.c.ended_at.is_(None))
            )
        if open_now == 1:  # bob's
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the gateway kept alice's session open after her mail")


async def test_the_same_mail_twice_is_stored_once(
    server: Server, make_agent: AgentFactory, connect: ClientFactory
) -> None:
    await make_agent("alice")
    bob = await connect("bob")
    sent = mail("alice", at("bob"), "only once", msgid="<not-a-uuid.42@mailer.example>")
    first, again = await submit(server, sent), await submit(server, sent)
    assert (first[0], again[0]) == (250, 250)
    got = await bob.receive(timeout=5)
    assert got.body == "only once"
    bob.ack(got)
    with pytest.raises(TimeoutError):
        await bob.receive(timeout=1)
    # Another sender cannot take that Message-ID.
    await make_agent("carol")
    taken = await submit(server, sent_by(sent, "carol"))
    assert taken[0] == 554 and "5.7.0" in taken[1]


# --- who may send -------------------------------------------------------------------------------


async def test_auth_as_an_agent_when_loopback_is_not_trusted(
    settings: Settings, make_agent: AgentFactory
) -> None:
    _, alice_token = await make_agent("alice")
    _, bob_token = await make_agent("bob")
    async with Server(settings.with_(smtp_trust_loopback=False)) as server:
        # The From header names nobody: who sends is who authenticated.
        signed = mail("someone-else", at("bob"), "signed in")
        plain = await submit(server, signed, auth=("PLAIN", "alice", alice_token))
        login = await submit(
            server, mail("x", at("bob"), "LOGIN"), auth=("LOGIN", "alice", alice_token)
        )
        wrong = await submit(server, mail("alice", at("bob")), auth=("PLAIN", "alice", "nope"))
        anonymous = await submit(server, mail("alice", at("bob")))
        async with Client(server.url, "bob", bob_token) as bob:
            received = [await bob.receive(timeout=5) for _ in range(2)]
    assert (plain[0], login[0]) == (250, 250)
    assert wrong[0] == 535 and "5.7.8" in wrong[1]
    assert anonymous[0] == 530 and "5.7.0" in anonymous[1]
    assert sorted((m.sender, m.body) for m in received) == [
        ("alice", "LOGIN"),
        ("alice", "signed in"),
    ]


async def test_loopback_mail_must_come_from_an_agent(
    server: Server, make_agent: AgentFactory, connect: ClientFactory
) -> None:
    await make_agent("alice")
    bob = await connect("bob")
    stranger = await submit(server, mail("stranger", at("bob")))
    assert stranger[0] == 530 and "5.7.0" in stranger[1]
    # The agent is the local part of MAIL FROM, whatever its domain.
    from_laptop = mail("x", at("bob"), "hi")
    from_laptop.replace_header("From", "Alice <alice@laptop.example>")
    laptop = await submit(server, from_laptop, mail_from="alice@laptop.example")
    assert laptop[0] == 250
    got = await bob.receive(timeout=5)
    assert got.sender == "alice" and got.meta["mail_from"] == "alice@laptop.example"


async def test_loopback_mail_must_say_in_from_who_mail_from_says(
    server: Server, make_agent: AgentFactory, connect: ClientFactory
) -> None:
    # A relay on this machine passes on any MAIL FROM it is given: mail taken without AUTH
    # must show its readers the same sender in its From header.
    await make_agent("alice")
    _, carol_token = await make_agent("carol")
    bob = await connect("bob")
    posing = await submit(server, mail("carol", at("bob"), "it is alice"), mail_from=at("alice"))
    assert posing[0] == 550 and "5.7.1" in posing[1] and "carol@cloudbrain.local" in posing[1]
    two = mail("alice", at("bob"))
    two.replace_header("From", f"{at('alice')}, {at('carol')}")
    nameless = mail("alice", at("bob"))
    del nameless["From"]
    for refused in (two, nameless):
        code, reply = await submit(server, refused, mail_from=at("alice"))
        assert code == 550 and "5.7.1" in reply
    named = mail("alice", at("bob"), "it is me")
    named.replace_header("From", "Alice Liddell <ALICE@cloudbrain.local>")
    assert (await submit(server, named, mail_from=at("alice")))[0] == 250
    # With AUTH, who sends is who authenticated, whatever the From says.
    signed = mail("alice", at("bob"), "signed by carol")
    assert (await submit(server, signed, auth=("PLAIN", "carol", carol_token)))[0] == 250
    got = [await bob.receive(timeout=5) for _ in range(2)]
    assert [(m.sender, m.body) for m in got] == [
        ("alice", "it is me"),
        ("carol", "signed by carol"),
    ]


def outside_address() -> str:
    """An address of this machine that is not loopback: a connection to it comes from there."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe, contextlib.suppress(OSError):
        probe.connect(("198.51.100.1", 9))  # sends nothing: only picks the outgoing address
        address = str(probe.getsockname()[0])
        if not ipaddress.ip_address(address).is_loopback:
            return address
    pytest.skip("this machine has no address but loopback, so nothing can come from elsewhere")


def certificate(folder: Path, address: str) -> tuple[Path, Path, Path]:
    """A CA, and a certificate it signed (with its key) for ``address`` and this machine, made
    as `cloudbrain tls init` makes them."""
    made = make_server_files(folder, ["localhost", "127.0.0.1", address])
    return made.ca, made.cert, made.key


def plain(name: str, token: str) -> str:
    """The initial response of AUTH PLAIN."""
    return base64.b64encode(f"\0{name}\0{token}".encode()).decode()


def _auth_from_the_network(address: str, port: int, cert: Path, token: str) -> None:
    with smtplib.SMTP(address, port, timeout=30) as smtp:
        smtp.ehlo("tester.example")
        assert smtp.has_extn("starttls") and not smtp.has_extn("auth")
        code, reply = smtp.docmd("AUTH", "PLAIN " + plain("alice", token))
        assert code == 538 and b"5.7.11" in reply
        assert smtp.mail(at("alice"))[0] == 530  # nor is it trusted: this is not loopback
        smtp.starttls(context=ssl.create_default_context(cafile=str(cert)))
        smtp.ehlo("tester.example")
        assert smtp.has_extn("auth") and not smtp.has_extn("starttls")
        smtp.login("alice", token)
        sent = mail("alice", at("bob"), "over TLS").as_bytes(policy=policy.SMTP)
        assert smtp.sendmail(at("alice"), [at("bob")], sent) == {}


def _auth_on_loopback(port: int, token: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo("tester.example")
        assert smtp.has_extn("auth")
        smtp.login("alice", token)


async def test_auth_is_offered_only_over_tls_or_on_loopback(
    settings: Settings, make_agent: AgentFactory, tmp_path: Path
) -> None:
    address = outside_address()
    ca, cert, key = certificate(tmp_path, address)
    _, alice_token = await make_agent("alice")
    _, bob_token = await make_agent("bob")
    on_the_network = settings.with_(host="0.0.0.0", tls_cert=str(cert), tls_key=str(key))
    async with Server(on_the_network) as server:
        await asyncio.to_thread(_auth_from_the_network, address, server.smtp_port, ca, alice_token)
        await asyncio.to_thread(_auth_on_loopback, server.smtp_port, alice_token)
        async with Client(server.url, "bob", bob_token, trust=Trust(ca_file=str(ca))) as bob:
            got = await bob.receive(timeout=5)
    assert (got.sender, got.body) == ("alice", "over TLS")


def _guess(port: int, passwords: list[str]) -> list[tuple[int, float]]:
    """AUTH PLAIN as alice with each password in turn on one connection: the reply code and the
    seconds it took, for each, until the server hangs up (code 0)."""
    tried: list[tuple[int, float]] = []
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo("tester.example")
        for password in passwords:
            started = time.monotonic()
            try:
                code, _ = smtp.docmd("AUTH", "PLAIN " + plain("alice", password))
            except (smtplib.SMTPServerDisconnected, OSError):
                tried.append((0, time.monotonic() - started))
                break
            tried.append((code, time.monotonic() - started))
    return tried


async def test_failed_auth_slows_down_then_locks_the_address_out(
    settings: Settings, make_agent: AgentFactory
) -> None:
    _, token = await make_agent("alice")
    slow = settings.with_(smtp_trust_loopback=False, smtp_auth_delay=0.2, smtp_auth_failures=3)
    async with Server(slow) as server:
        first = await asyncio.to_thread(_guess, server.smtp_port, ["a", "b", "c", token])
        # A new connection from the same address, with the right token: still locked out.
        again = await asyncio.to_thread(_guess, server.smtp_port, [token, token])
    assert [code for code, _ in first] == [535, 535, 421, 0]
    waits = (0.2, 0.4, 0.8)
    assert all(seconds >= wait for (_, seconds), wait in zip(first[:3], waits, strict=True))
    assert [code for code, _ in again] == [421, 0] and again[0][1] < 0.2


def test_failed_auth_waits_longer_each_time_then_locks_out_until_forgotten() -> None:
    failures = AuthFailures(delay=1.0, most=4, forget_after=600.0)
    here, there = "192.0.2.7", "198.51.100.9"
    assert [failures.failed(here, now) for now in (0, 1, 2)] == [
        AfterFailure(1.0, close=False),
        AfterFailure(2.0, close=False),
        AfterFailure(4.0, close=False),
    ]
    assert not failures.locked(here, 3)
    assert failures.failed(here, 3) == AfterFailure(8.0, close=True)
    assert failures.locked(here, 3) and failures.locked(here, 602)
    assert not failures.locked(there, 3)  # counted per address
    assert not failures.locked(here, 603)  # 600 s after its last failure: forgiven
    assert failures.failed(here, 604) == AfterFailure(1.0, close=False)
    patient = AuthFailures(delay=1.0, most=100)
    assert max(patient.failed(here, 0).delay for _ in range(20)) == LONGEST_DELAY


def test_failed_auth_remembers_a_bounded_number_of_addresses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(auth_limit, "ADDRESSES", 3)
    failures = AuthFailures(delay=1.0, most=1)
    for now, address in enumerate(["a", "b", "c", "d"]):
        failures.failed(address, now)
    # The longest quiet made room for the newest.
    assert [failures.locked(a, 4) for a in "abcd"] == [False, True, True, True]


# --- where mail may go --------------------------------------------------------------------------


async def test_relaying_and_unknown_agents_are_refused(
    server: Server, make_agent: AgentFactory, connect: ClientFactory
) -> None:
    await make_agent("alice")
    bob = await connect("bob")
    relay = await submit(server, mail("alice", "x@example.com"))
    nobody = await submit(server, mail("alice", at("nobody")))
    assert relay[0] == 550 and "5.7.1" in relay[1]
    assert nobody[0] == 550 and "5.1.1" in nobody[1]
    assert (await submit(server, mail("alice", at("bob"), "still here")))[0] == 250
    assert (await bob.receive(timeout=5)).body == "still here"


# --- what is refused ----------------------------------------------------------------------------


async def test_oversize_mail_is_refused(settings: Settings, make_agent: AgentFactory) -> None:
    await make_agent("alice")
    await make_agent("bob")
    async with Server(settings.with_(smtp_max_bytes=2000)) as server:
        big = await submit(server, mail("alice", at("bob"), "x" * 3000))
        small = await submit(server, mail("alice", at("bob"), "x" * 500))
    assert big[0] == 552
    assert small[0] == 250


async def test_mail_that_cannot_be_read_is_refused(
    server: Server, make_agent: AgentFactory, connect: ClientFactory
) -> None:
    await make_agent("alice")
    bob = await connect("bob")
    html = mail("alice", at("bob"))
    html.set_content("<p>only <b>html</b></p>", subtype="html")
    unknown_charset = raw_mail(b"text/plain; charset=x-no-such-charset", b"hello")
    garbage = raw_mail(b"text/plain; charset=utf-8", b"broken \xff\xfe bytes")
    html_only = await submit(server, html)
    unreadable = await submit(server, unknown_charset)
    undecodable = await submit(server, garbage)
    assert html_only[0] == 554 and "text/plain" in html_only[1]
    assert unreadable[0] == 554 and "5.6.0" in unreadable[1]
    # Bytes the charset cannot decode are replaced, not refused.
    assert undecodable[0] == 250
    assert (await bob.receive(timeout=5)).body == "broken \ufffd\ufffd bytes"


def raw_mail(content_type: bytes, body: bytes) -> bytes:
    return (
        b"From: alice@cloudbrain.local\r\nTo: bob@cloudbrain.local\r\nSubject: raw\r\n"
        b"Message-ID: " + make_msgid(domain=DOMAIN).encode() + b"\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: " + content_type + b"\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body + b"\r\n"
    )


# --- asks ---------------------------------------------------------------------------------------


async def test_a_mailed_ask_is_answered_into_the_askers_mailbox(
    server: Server, settings: Settings, make_agent: AgentFactory, connect: ClientFactory
) -> None:
    await make_agent("alice")
    await carol_knows(connect)
    asked = [
        mail("alice", at("ask"), QUESTION, "asyncio"),
        mail("alice", at("ask+python"), QUESTION, "asyncio, for pythonistas"),
    ]
    asked[1]["X-CloudBrain-Sender"] = "bob"  # changes nothing: the answer goes to who sent it
    for question in asked:
        assert (await submit(server, question))[0] == 250
    got = {str(a["In-Reply-To"]): a for a in await wait_for_answers(settings, "alice", 2)}
    assert set(got) == {str(q["Message-ID"]) for q in asked}
    for question in asked:
        answer = got[str(question["Message-ID"])]
        assert answer["Subject"] == f"Re: {question['Subject']}"
        assert answer["To"] == at("alice") and answer["From"] == at("ask")
        assert f"Question: {QUESTION}" in text(answer)
        assert "carol (from memory" in text(answer) and ASYNCIO_FACT in text(answer)
    assert answers(settings, "bob") == []
    # The same ask mailed again is the same ask; bob cannot take its Message-ID.
    assert (await submit(server, asked[0]))[0] == 250
    await make_agent("bob")
    taken = await submit(server, sent_by(asked[0], "bob"))
    assert taken[0] == 554 and "5.7.0" in taken[1]
    assert len(answers(settings, "alice")) == 2 and answers(settings, "bob") == []


async def test_an_accepted_ask_is_answered_once_after_a_restart(
    settings: Settings,
    make_agent: AgentFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await make_agent("alice")
    _, carol_token = await make_agent("carol")
    incoming = settings.home / "spool" / INCOMING
    question = mail("alice", at("ask"), QUESTION)
    async with Server(settings) as server:
        async with Client(server.url, "carol", carol_token) as carol:
            await store(carol, ASYNCIO_FACT)

        async def never_answered(*args: object) -> None:
            await asyncio.Event().wait()

        assert server.mail_family is not None
        monkeypatch.setattr(server.mail_family, "ask", never_answered)
        assert (await submit(server, question))[0] == 250
        # Kept on disk before the 250.
        [kept] = files(incoming / "new")
        assert QUESTION.encode() in (incoming / "new" / kept).read_bytes()
    assert answers(settings, "alice") == []
    async with Server(settings):
        [answer] = await wait_for_answers(settings, "alice")
        for _ in range(50):  # the ask is marked done right after its answer is written
            if not files(incoming / "new"):
                break
            await asyncio.sleep(0.1)
    assert answer["In-Reply-To"] == question["Message-ID"]
    assert "carol" in text(answer)
    assert files(incoming / "new") == [] and files(incoming / "cur") == [f"{kept}:2,S"]
    async with Server(settings):  # nothing left to answer: still one answer
        await asyncio.sleep(0.5)
    assert len(answers(settings, "alice")) == 1
