"""Who receives a message, and what became of it in its batch: plain decisions over plain data,
no sockets, no database."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from cloudbrain.protocol import Deliver

Kind = Literal["direct", "topic", "broadcast"]


@dataclass(frozen=True)
class Envelope:
    """A message as the server accepted it, stamped with who sent it, from where and when."""

    id: str
    kind: Kind
    sender_id: str
    sender_name: str
    session_id: str
    device: str
    body: Any
    meta: dict[str, Any]
    created_at: datetime
    to_id: str | None = None  # direct messages only
    to_name: str | None = None
    topic: str | None = None  # topic messages only
    conversation: str | None = None
    reply_to: str | None = None
    expires_at: datetime | None = None

    def deliver_frame(self) -> Deliver:
        return Deliver(
            id=self.id,
            kind=self.kind,
            sender=self.sender_name,
            to=self.to_name,
            topic=self.topic,
            session=self.session_id,
            device=self.device,
            at=self.created_at,
            body=self.body,
            meta=self.meta,
            conversation=self.conversation,
            reply_to=self.reply_to,
            expires_at=self.expires_at,
        )


def recipients(
    envelope: Envelope,
    *,
    subscribers: Iterable[str] = (),
    active_agents: Iterable[str] = (),
) -> list[str]:
    """Agent ids that get a copy of ``envelope``.

    A direct message goes to its addressee (which may be the sender itself). Topic messages go
    to the topic's subscribers and broadcasts to every active agent, never back to the sender:
    an agent does not hear its own announcements. The result is sorted so that storage order is
    the same on every run.
    """
    if envelope.kind == "direct":
        assert envelope.to_id is not None
        return [envelope.to_id]
    pool = subscribers if envelope.kind == "topic" else active_agents
    return sorted({agent for agent in pool if agent != envelope.sender_id})


def expiry(created_at: datetime, ttl: float | None) -> datetime | None:
    """When a message sent at ``created_at`` with a time to live of ``ttl`` seconds expires."""
    return created_at + timedelta(seconds=ttl) if ttl else None


def is_expired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and expires_at <= now


@dataclass
class Stored:
    """What became of one message in a batch."""

    envelope: Envelope
    recipient_ids: list[str] = field(default_factory=list)  # who gets it (new messages only)
    duplicate: bool = False  # the same sender sent this id before: already stored
    conflict: bool = False  # another sender owns this id: refused
    # For a duplicate, what the receipt of the original said.
    original: tuple[datetime, int] | None = None

    @property
    def at(self) -> datetime:
        return self.original[0] if self.original else self.envelope.created_at

    @property
    def recipients(self) -> int:
        return self.original[1] if self.original else len(self.recipient_ids)
