"""One mapping between mail and CloudBrain, used by the outbox, the spool and the SMTP gateway.

Where a mail goes is its recipient address, at the family's mail domain:

    NAME@DOMAIN              a direct message to the AI called NAME
    topic+TOPIC@DOMAIN       published on TOPIC
    everyone@DOMAIN          a broadcast
    ask@DOMAIN               an ask; ask+SKILL[+SKILL...]@DOMAIN names the skills it needs

The body is the first text/plain part (decoded from its charset and transfer encoding); the
subject travels in ``meta.subject`` (an ask without a body asks its subject). The Message-ID is
the envelope id: ``<UUID@...>`` is taken as it is, any other Message-ID is turned into a UUID
the same way every time, so a mail sent twice is recognised as one message. docs/maildir.md
documents every header.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any, Literal

from cloudbrain.ids import is_uuid
from cloudbrain.protocol import AskResult, Deliver

DEFAULT_DOMAIN = "cloudbrain.local"
ASK, TOPIC, EVERYONE = "ask", "topic", "everyone"

# Headers of the mapping (docs/maildir.md).
TYPE = "X-CloudBrain-Type"  # direct | topic | broadcast | ask | answer
CONVERSATION = "X-CloudBrain-Conversation"
ASK_ID = "X-CloudBrain-Ask"
BODY_FORMAT = "X-CloudBrain-Body"  # "json": the text is the JSON of a non-text body
SESSION = "X-CloudBrain-Session"
DEVICE = "X-CloudBrain-Device"

# Turns a Message-ID that is not ours into a UUID, always the same for the same Message-ID.
_ID_NAMESPACE = uuid.UUID("5b0f6a44-2f4e-4b55-9a3c-2d8f5f0a9e61")
_MSGID = re.compile(r"<([^<>@\s]+)@[^<>\s]*>")

Kind = Literal["direct", "topic", "broadcast", "ask"]


class _HeaderClasses(HeaderRegistry):
    """The standard header registry, but making each header's class once: the standard one
    makes a new class every time a header is read or set, which was most of the time the
    gateway and the spool spent on a mail."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        made = self._made.get(name.lower())
        if made is None:
            made = self._made[name.lower()] = super().__getitem__(name)
        return made


# The modern (``email.policy.default``) way of reading and writing mail, used for all of it.
POLICY = policy.default.clone(header_factory=_HeaderClasses())


# Characters no header value may carry: CR and LF would end the header (the email package
# refuses them, and a stored message that cannot become mail must not stop the spool), and the
# other control characters have no place in a header either.
_NOT_IN_HEADERS = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def header_text(value: str) -> str:
    """``value`` as one header line: control characters, CR and LF included, become a space."""
    return _NOT_IN_HEADERS.sub(" ", value).strip()


class MailError(ValueError):
    """A mail that cannot become a CloudBrain message; ``reason`` says why, for a bounce."""


@dataclass(frozen=True)
class Address:
    """Where a recipient address points: ``target`` is the agent or topic name."""

    kind: Kind
    target: str = ""
    skills: tuple[str, ...] = ()


@dataclass(frozen=True)
class MailRequest:
    """What a mail asks CloudBrain to do."""

    kind: Kind
    id: str  # the envelope id (for an ask, the ask's id)
    body: Any
    target: str = ""  # agent name (direct) or topic
    skills: tuple[str, ...] = ()
    subject: str = ""
    conversation: str | None = None
    reply_to: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def question(self) -> str:
        text = self.body if isinstance(self.body, str) else json.dumps(self.body)
        return text.strip() or self.subject.strip()


def parse_address(address: str, domain: str) -> Address:
    """Where ``address`` points, or MailError when it is not one of the family's."""
    _, addr = parseaddr(address)
    local, at, host = addr.rpartition("@")
    if not at or not local:
        raise MailError(f"{address!r} is not a mail address")
    if host.lower() != domain.lower():
        raise MailError(f"only addresses @{domain} are delivered here, not {addr!r}")
    head, _, rest = local.partition("+")
    if head.lower() == ASK:
        return Address("ask", skills=tuple(s for s in rest.split("+") if s))
    if head.lower() == TOPIC and rest:
        return Address("topic", target=rest)
    if local.lower() == EVERYONE:
        return Address("broadcast")
    return Address("direct", target=local)


def parse_mail(data: bytes) -> EmailMessage:
    """Parse raw mail; MailError when it is not a message with headers and a body."""
    message = BytesParser(policy=POLICY).parsebytes(data)
    assert isinstance(message, EmailMessage)
    if not message.keys():
        raise MailError("the mail has no headers")
    return message


def envelope_id(message: EmailMessage, data: bytes) -> str:
    """The envelope id of a mail: its Message-ID's UUID, a UUID made from its Message-ID, or,
    with no Message-ID, one made from its content. The same mail always gets the same id."""
    raw = str(message.get("Message-ID", "")).strip()
    found = _MSGID.fullmatch(raw)
    if found and is_uuid(found.group(1)):
        return found.group(1)
    seed = raw or hashlib.sha256(data).hexdigest()
    return str(uuid.uuid5(_ID_NAMESPACE, seed))


def text_body(message: EmailMessage) -> Any:
    """The body: the first text/plain part, as text (or the JSON value it carries)."""
    part = message.get_body(preferencelist=("plain",))
    if part is None:
        raise MailError("the mail has no text/plain part to read")
    try:
        text = part.get_content()
    except (LookupError, ValueError) as error:  # an unknown charset, broken encoding
        raise MailError(f"the text part cannot be decoded: {error}") from None
    if not isinstance(text, str):
        raise MailError("the text part cannot be decoded")
    if str(message.get(BODY_FORMAT, "")).lower() == "json":
        try:
            return json.loads(text)
        except ValueError:
            raise MailError(f"{BODY_FORMAT}: json, but the body is not JSON") from None
    return text.rstrip("\r\n")


def request_from_mail(
    message: EmailMessage, data: bytes, address: Address, *, mail_from: str = ""
) -> MailRequest:
    """What ``message``, sent to ``address``, asks for; MailError when it cannot be read."""
    try:
        # An encoded word may decode to CR or LF; the subject travels on as one line.
        subject = header_text(str(message.get("Subject", "") or ""))
    except (ValueError, TypeError):
        raise MailError("the Subject header is malformed") from None
    body = text_body(message)
    meta: dict[str, Any] = {"subject": subject} if subject else {}
    if mail_from:
        meta["mail_from"] = mail_from
    reply = _MSGID.fullmatch(str(message.get("In-Reply-To", "")).strip())
    request = MailRequest(
        kind=address.kind,
        id=envelope_id(message, data),
        body=body,
        target=address.target,
        skills=address.skills,
        subject=subject,
        conversation=header_text(str(message.get(CONVERSATION, "")))[:128] or None,
        reply_to=reply.group(1) if reply and is_uuid(reply.group(1)) else None,
        meta=meta,
    )
    if request.kind == "ask" and not request.question:
        raise MailError("an ask needs a question: in the body, or at least the subject")
    return request


def address_of(kind: str, target: str | None, domain: str, skills: Sequence[str] = ()) -> str:
    """The mail address of an AI, a topic, everyone or an ask (for ``skills``)."""
    if kind == "ask":
        return "+".join([ASK, *skills]) + f"@{domain}"
    if kind == "topic":
        return f"{TOPIC}+{target}@{domain}"
    if kind == "broadcast":
        return f"{EVERYONE}@{domain}"
    return f"{target}@{domain}"


def message_id(envelope: str, domain: str) -> str:
    return f"<{envelope}@{domain}>"


def _set_body(mail: EmailMessage, body: Any) -> None:
    if isinstance(body, str):
        mail.set_content(body)
    else:
        mail[BODY_FORMAT] = "json"
        mail.set_content(json.dumps(body, ensure_ascii=False, indent=2))


def outgoing_mail(
    *,
    sender: str,
    to: str,
    body: Any,
    domain: str,
    subject: str = "",
    conversation: str | None = None,
    reply_to: str | None = None,
    envelope: str | None = None,
) -> EmailMessage:
    """A mail that, put in an outbox, sends ``body`` to the address ``to``."""
    mail = EmailMessage(policy=POLICY)
    mail["From"] = f"{sender}@{domain}"
    mail["To"] = to
    mail["Subject"] = header_text(subject) or _first_line(body)
    mail["Date"] = format_datetime(datetime.now().astimezone())
    mail["Message-ID"] = message_id(envelope, domain) if envelope else make_msgid(domain=domain)
    if conversation := header_text(conversation or ""):
        mail[CONVERSATION] = conversation
    if reply_to:
        mail["In-Reply-To"] = message_id(reply_to, domain)
        mail["References"] = message_id(reply_to, domain)
    _set_body(mail, body)
    return mail


def delivered_mail(message: Deliver, recipient: str, domain: str) -> EmailMessage:
    """A stored message as mail, for the Maildir spool of ``recipient``."""
    mail = EmailMessage(policy=POLICY)
    mail["From"] = header_text(address_of("direct", message.sender, domain))
    mail["To"] = header_text(
        address_of(message.kind, message.topic or message.to or recipient, domain)
    )
    # Fields stored before they were checked where they entered may hold anything: every one
    # is made a header line here, so no stored message can stop the spool.
    subject = message.meta.get("subject")
    subject = header_text(subject) if isinstance(subject, str) else ""
    mail["Subject"] = subject or _first_line(message.body)
    mail["Date"] = format_datetime(message.at)
    mail["Message-ID"] = message_id(message.id, domain)
    mail[TYPE] = message.kind
    mail[SESSION] = header_text(message.session)
    mail[DEVICE] = header_text(message.device)
    if conversation := header_text(message.conversation or ""):
        mail[CONVERSATION] = conversation
    if message.reply_to:
        mail["In-Reply-To"] = message_id(message.reply_to, domain)
        mail["References"] = message_id(message.reply_to, domain)
    _set_body(mail, message.body)
    return mail


def answer_mail(
    result: AskResult, question: EmailMessage | None, to: str, domain: str
) -> EmailMessage:
    """The ranked answers of an ask as a reply to the mail that asked it, threaded under it."""
    mail = EmailMessage(policy=POLICY)
    mail["From"] = f"{ASK}@{domain}"
    mail["To"] = to
    asked = header_text(str(question.get("Subject", ""))) if question is not None else ""
    mail["Subject"] = "Re: " + (asked or _first_line(result.question))
    mail["Date"] = format_datetime((result.at or datetime.now()).astimezone())
    mail["Message-ID"] = f"<answer-{result.ask}@{domain}>"
    mail[TYPE] = "answer"
    mail[ASK_ID] = result.ask
    if question is not None and (asked_id := str(question.get("Message-ID", "")).strip()):
        references = str(question.get("References", "")).split()
        mail["In-Reply-To"] = asked_id
        mail["References"] = " ".join([*references, asked_id])
    mail.set_content(render_answers(result))
    return mail


def render_answers(result: AskResult) -> str:
    """An ask's result as plain text: the summary, then each answer with who gave it."""
    lines = [f"Question: {result.question}", ""]
    if result.summary:
        lines += ["Summary:", result.summary, ""]
    if not result.answers:
        lines.append("Nobody in the family knew an answer.")
    for rank, answer in enumerate(result.answers, 1):
        source = "live" if answer.source == "live" else "from memory"
        lines += [
            f"{rank}. {answer.agent} ({source}, score {answer.score:.2f}):",
            answer.text,
            f"   rate it: cloudbrain rate {result.ask} {answer.id} up|down|accept",
            "",
        ]
    if result.missing:
        lines.append("Did not answer in time: " + ", ".join(result.missing))
    return "\n".join(lines).rstrip() + "\n"


def _first_line(body: Any, most: int = 72) -> str:
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    first = header_text(text.strip().split("\n", 1)[0])
    return first if len(first) <= most else first[: most - 1] + "…"
