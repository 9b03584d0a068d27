"""The mail mapping and the Maildir folders, on real mail bytes and real files: addresses,
envelope ids, bodies of every common shape, round trips through bytes, threading of answers,
and mail put in once, read in arrival order and moved to cur."""

from __future__ import annotations

import mailbox
import os
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudbrain.maildir.folders import counts, has_key, mark, put_once, safe_name, waiting
from cloudbrain.maildir.mapping import (
    Address,
    MailError,
    answer_mail,
    delivered_mail,
    envelope_id,
    outgoing_mail,
    parse_address,
    parse_mail,
    request_from_mail,
)
from cloudbrain.protocol import AskAnswer, AskResult, Deliver

DOMAIN = "cloudbrain.local"
ASK_ID = "0b6f2f0e-7a53-4f38-9d8e-3c1f2a5b6c7d"
DIRECT = Address("direct", target="alice")


def mail(body: str = "hello", subject: str = "greeting", **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"bob@{DOMAIN}"
    message["To"] = f"alice@{DOMAIN}"
    message["Subject"] = subject
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


def request(message: EmailMessage, address: Address = DIRECT):
    """What the raw bytes of ``message`` ask for, read the way the gateway reads them."""
    data = message.as_bytes()
    return request_from_mail(parse_mail(data), data, address)


# --- addresses ----------------------------------------------------------------------------------


def test_addresses_point_at_an_agent_a_topic_everyone_or_an_ask() -> None:
    assert parse_address(f"alice@{DOMAIN}", DOMAIN) == Address("direct", target="alice")
    assert parse_address(f"Alice <alice@{DOMAIN}>", DOMAIN) == Address("direct", target="alice")
    assert parse_address(f"ask@{DOMAIN}", DOMAIN) == Address("ask")
    assert parse_address(f"ask+python+sql@{DOMAIN}", DOMAIN) == Address(
        "ask", skills=("python", "sql")
    )
    assert parse_address(f"topic+weather@{DOMAIN}", DOMAIN) == Address("topic", target="weather")
    assert parse_address(f"everyone@{DOMAIN}", DOMAIN) == Address("broadcast")


def test_the_domain_is_compared_without_case() -> None:
    assert parse_address("alice@CloudBrain.LOCAL", DOMAIN) == Address("direct", target="alice")


def test_addresses_of_another_domain_or_without_at_are_refused() -> None:
    with pytest.raises(MailError, match=r"only addresses @cloudbrain\.local"):
        parse_address("alice@example.org", DOMAIN)
    with pytest.raises(MailError, match="not a mail address"):
        parse_address("alice", DOMAIN)


# --- envelope ids -------------------------------------------------------------------------------


def test_a_uuid_message_id_is_the_envelope_id() -> None:
    message = mail(Message_ID=f"<{ASK_ID}@elsewhere.example>")
    assert envelope_id(message, message.as_bytes()) == ASK_ID


def test_another_message_id_becomes_the_same_uuid_every_time() -> None:
    first = mail(Message_ID="<20240101.1234@mail.example>")
    again = mail("another body", Message_ID="<20240101.1234@mail.example>")
    other = mail(Message_ID="<20240101.9999@mail.example>")
    made = envelope_id(first, first.as_bytes())
    assert str(uuid.UUID(made)) == made
    assert envelope_id(again, again.as_bytes()) == made
    assert envelope_id(other, other.as_bytes()) != made


def test_without_a_message_id_the_envelope_id_comes_from_the_content() -> None:
    one, same, other = mail("hello"), mail("hello"), mail("goodbye")
    made = envelope_id(one, one.as_bytes())
    assert str(uuid.UUID(made)) == made
    assert envelope_id(same, same.as_bytes()) == made
    assert envelope_id(other, other.as_bytes()) != made


# --- bodies -------------------------------------------------------------------------------------


def test_a_plain_text_mail_is_its_body_and_subject() -> None:
    read = request(mail("hello alice\nsecond line\n", subject="greeting"))
    assert (read.kind, read.target) == ("direct", "alice")
    assert read.body == "hello alice\nsecond line"
    assert read.subject == "greeting"
    assert read.meta == {"subject": "greeting"}


def test_of_plain_text_and_html_the_plain_text_is_read() -> None:
    message = mail("<p>the <b>html</b> one</p>")
    message.set_content("<p>the <b>html</b> one</p>", subtype="html")
    message.add_alternative("the plain one")  # second, after the html
    assert message.get_content_type() == "multipart/alternative"
    assert request(message).body == "the plain one"


def test_attachments_are_not_the_body() -> None:
    message = mail("the body")
    message.add_attachment("notes, not the body", filename="notes.txt")
    message.add_attachment(b"\x00\x01", maintype="application", subtype="octet-stream")
    assert message.get_content_type() == "multipart/mixed"
    assert request(message).body == "the body"


def test_a_mail_with_only_html_is_refused() -> None:
    message = mail()
    message.set_content("<p>only html</p>", subtype="html")
    with pytest.raises(MailError, match="no text/plain part"):
        request(message)


def test_a_json_body_is_read_back_as_json() -> None:
    body = {"temperature": 21.5, "tags": ["wärme", "zürich"], "ok": True}
    sent = outgoing_mail(sender="bob", to=f"alice@{DOMAIN}", body=body, domain=DOMAIN)
    assert sent["X-CloudBrain-Body"] == "json"
    assert request(sent).body == body


def test_an_ask_without_a_body_asks_its_subject() -> None:
    read = request(mail("", subject="Why is the sky blue?"), Address("ask"))
    assert read.body == ""
    assert read.question == "Why is the sky blue?"


def test_an_ask_without_body_or_subject_is_refused() -> None:
    message = mail("")
    del message["Subject"]
    with pytest.raises(MailError, match="an ask needs a question"):
        request(message, Address("ask"))


def test_in_reply_to_a_uuid_message_id_is_what_it_replies_to() -> None:
    assert request(mail(In_Reply_To=f"<{ASK_ID}@{DOMAIN}>")).reply_to == ASK_ID
    assert request(mail(In_Reply_To="<not-a-uuid@mail.example>")).reply_to is None


# --- round trips through bytes ------------------------------------------------------------------

# Text without control characters (no CR/LF in a header) or lone surrogates (not encodable).
line = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1).map(str.strip)
text = st.text(st.characters(blacklist_categories=("Cs", "Cc"), whitelist_characters="\n"))


@settings(deadline=None, max_examples=200)
@given(subject=line.filter(bool), body=text.map(lambda t: t.rstrip("\n")))
def test_any_subject_and_body_survive_the_trip_through_mail_bytes(subject, body) -> None:
    sent = outgoing_mail(
        sender="bob", to=f"alice@{DOMAIN}", body=body, domain=DOMAIN, subject=subject
    )
    read = request(sent)
    assert read.subject == subject
    assert read.body == body


def test_a_delivered_message_survives_the_trip_through_mail_bytes() -> None:
    stored = Deliver.model_validate(
        {
            "id": str(uuid.uuid4()),
            "kind": "direct",
            "from": "bob",
            "to": "alice",
            "at": datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
            "body": {"reading": [1, 2, 3], "where": "küche"},
            "meta": {"subject": "Sensor"},
            "session": "s-1",
            "device": "d-1",
            "conversation": "c-42",
            "reply_to": ASK_ID,
        }
    )
    written = delivered_mail(stored, "alice", DOMAIN)
    data = written.as_bytes()
    message = parse_mail(data)
    read = request_from_mail(message, data, parse_address(str(message["To"]), DOMAIN))
    assert (read.kind, read.target, read.id) == ("direct", "alice", stored.id)
    assert read.body == stored.body
    assert read.subject == "Sensor"
    assert (read.conversation, read.reply_to) == ("c-42", ASK_ID)
    assert message["X-CloudBrain-Type"] == "direct"


# --- answers ------------------------------------------------------------------------------------


def answer(agent: str, text: str, score: float) -> AskAnswer:
    at = datetime(2024, 5, 1, tzinfo=UTC)
    return AskAnswer(
        id=str(uuid.uuid4()), agent=agent, source="live", text=text, confidence=0.9, at=at,
        score=score,
    )  # fmt: skip


def test_the_answers_are_a_reply_threaded_under_the_question() -> None:
    question = mail(
        "Which database?",
        subject="Which database?",
        Message_ID=f"<{ASK_ID}@{DOMAIN}>",
        References="<earlier@mail.example>",
    )
    result = AskResult(
        ask=ASK_ID,
        question="Which database?",
        answers=[answer("carol", "PostgreSQL, for sure.", 0.9), answer("dave", "SQLite.", 0.4)],
    )
    reply = parse_mail(answer_mail(result, question, f"bob@{DOMAIN}", DOMAIN).as_bytes())
    assert reply["In-Reply-To"] == f"<{ASK_ID}@{DOMAIN}>"
    assert str(reply["References"]).split() == ["<earlier@mail.example>", f"<{ASK_ID}@{DOMAIN}>"]
    assert reply["Subject"] == "Re: Which database?"
    assert reply["X-CloudBrain-Ask"] == ASK_ID
    body = reply.get_body(preferencelist=("plain",))
    assert body is not None
    content = body.get_content()
    assert "1. carol (live, score 0.90):\nPostgreSQL, for sure." in content
    assert "2. dave (live, score 0.40):\nSQLite." in content


# --- folders ------------------------------------------------------------------------------------


def test_put_once_writes_a_mail_once_even_after_it_was_read(tmp_path: Path) -> None:
    box = tmp_path / "inbox"
    assert put_once(box, "answer-1", mail("first"))
    assert not put_once(box, "answer-1", mail("second"))
    assert [p.name for p in (box / "new").iterdir()] == ["answer-1"]
    assert list((box / "tmp").iterdir()) == []  # written there, then renamed into new
    assert mark(box, "answer-1", "S")
    assert has_key(box, "answer-1")
    assert not put_once(box, "answer-1", mail("third"))
    assert list((box / "new").iterdir()) == []
    assert b"first" in (box / "cur" / "answer-1:2,S").read_bytes()


def test_waiting_mail_is_listed_in_the_order_it_arrived(tmp_path: Path) -> None:
    for key in ("c", "a", "b"):  # arrival order is not name order
        put_once(tmp_path, key, mail(key))
    for second, key in enumerate(("c", "a", "b")):  # when each arrived: its file's mtime
        os.utime(tmp_path / "new" / key, ns=(second * 10**9, (1000 + second) * 10**9))
    (tmp_path / "new" / ".hidden").write_bytes(b"not mail")
    assert waiting(tmp_path) == ["c", "a", "b"]


def test_mark_moves_mail_to_cur_with_its_flags_and_counts_count_it(tmp_path: Path) -> None:
    for key in ("sent", "refused", "open"):
        put_once(tmp_path, key, mail(key))
    assert mark(tmp_path, "sent", "S")
    assert mark(tmp_path, "refused", "SF")
    assert not mark(tmp_path, "sent", "S")  # no longer in new
    assert sorted(p.name for p in (tmp_path / "cur").iterdir()) == ["refused:2,FS", "sent:2,S"]
    assert waiting(tmp_path) == ["open"]
    found = counts(tmp_path)
    assert (found.new, found.cur, found.flagged) == (1, 2, 1)


def test_the_standard_library_reads_what_put_once_wrote(tmp_path: Path) -> None:
    put_once(tmp_path, "one", mail("first body", subject="first"))
    put_once(tmp_path, "two", mail("second body", subject="second"), sync=True)
    mark(tmp_path, "two", "S")
    box = mailbox.Maildir(tmp_path, factory=None, create=False)
    assert sorted(box.keys()) == ["one", "two"]
    one, two = box.get_message("one"), box.get_message("two")
    assert (one["Subject"], one.get_subdir(), one.get_flags()) == ("first", "new", "")
    assert (two["Subject"], two.get_subdir(), two.get_flags()) == ("second", "cur", "S")
    assert b"second body" in box.get_bytes("two")


def test_safe_name_escapes_what_a_file_name_must_not_hold(tmp_path: Path) -> None:
    assert safe_name("alice@cloudbrain.local") == "alice@cloudbrain.local"
    assert safe_name("a/b") == "a%2Fb"
    assert safe_name("..") == "%2E."
    assert safe_name("../etc/passwd") == "%2E.%2Fetc%2Fpasswd"
    assert safe_name(".hidden") == "%2Ehidden"
    assert safe_name("50%") == "50%25"
    assert safe_name("é") == "%C3%A9"
    assert put_once(tmp_path / "box", "../escaped", mail())
    assert [p.name for p in (tmp_path / "box" / "new").iterdir()] == ["%2E.%2Fescaped"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["box"]


@given(st.text(min_size=1), st.text(min_size=1))
def test_safe_names_are_plain_file_names_and_never_collide(one, other) -> None:
    name = safe_name(one)
    assert "/" not in name and not name.startswith(".") and name.isascii()
    assert (safe_name(other) == name) == (other == one)
