"""Frames of messaging: sending (to an agent, a topic or everyone), subscriptions, acks and
delivery status; and what the server sends back: receipts, deliveries and presence.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, JsonValue

from cloudbrain.protocol.base import (
    MAX_ACK_IDS,
    MAX_TTL_SECONDS,
    AgentName,
    ClientFrame,
    MessageId,
    Meta,
    Reply,
    Request,
    ServerFrame,
    ShortText,
    TopicName,
)

# --- frames a client sends -------------------------------------------------------------------


class _Message(Request):
    """Fields shared by the three ways of sending a message. ``id`` becomes the message id."""

    id: MessageId
    body: JsonValue = None  # omitted and null are the same (serialization drops nulls)
    meta: Meta = {}
    conversation: ShortText | None = None
    reply_to: MessageId | None = None
    ttl: Annotated[float, Field(gt=0, le=MAX_TTL_SECONDS)] | None = None


class Send(_Message):
    type: Literal["send"] = "send"
    to: AgentName


class Publish(_Message):
    type: Literal["publish"] = "publish"
    topic: TopicName


class Broadcast(_Message):
    type: Literal["broadcast"] = "broadcast"


class Subscribe(Request):
    type: Literal["subscribe"] = "subscribe"
    topic: TopicName


class Unsubscribe(Request):
    type: Literal["unsubscribe"] = "unsubscribe"
    topic: TopicName


class Ack(ClientFrame):
    """Confirms ``deliver`` frames by their message ids; unknown ids are ignored."""

    type: Literal["ack"] = "ack"
    ids: Annotated[list[MessageId], Field(min_length=1, max_length=MAX_ACK_IDS)]


class Status(Request):
    """Asks where a message the sender sent stands, per recipient."""

    type: Literal["status"] = "status"
    msg: MessageId


# --- frames the server sends -----------------------------------------------------------------


class Receipt(Reply):
    """The server has stored the message: from here on it will not be lost."""

    type: Literal["receipt"] = "receipt"
    recipients: int
    at: datetime
    duplicate: bool = False


class Deliver(ServerFrame):
    """A message for the receiving agent; answer with ``ack``. ``id`` is the message id."""

    type: Literal["deliver"] = "deliver"
    id: str
    kind: Literal["direct", "topic", "broadcast"]
    sender: str = Field(alias="from")
    to: str | None = None
    topic: str | None = None
    session: str
    device: str
    at: datetime
    body: JsonValue = None  # omitted and null are the same (serialization drops nulls)
    meta: Meta = {}
    conversation: str | None = None
    reply_to: str | None = None
    expires_at: datetime | None = None


class Presence(ServerFrame):
    type: Literal["presence"] = "presence"
    agent: str
    session: str
    device: str
    online: bool
    at: datetime


class RecipientState(BaseModel):
    agent: str
    state: Literal["pending", "delivered", "expired"]
    delivered_at: datetime | None = None


class DeliveryStatus(Reply):
    type: Literal["delivery"] = "delivery"
    msg: str
    expires_at: datetime | None = None
    recipients: list[RecipientState]
