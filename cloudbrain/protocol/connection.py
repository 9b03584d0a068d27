"""Frames of the connection itself: ``hello`` and ``welcome``, ``ping`` and ``pong``, and the
plain replies ``ok`` and ``error``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from cloudbrain.errors import ErrorCode
from cloudbrain.protocol.base import (
    PROTOCOL_VERSION,
    AgentName,
    Reply,
    Request,
    ServerFrame,
    ShortText,
)
from cloudbrain.protocol.directory import DeviceProfile

# Capabilities a session can list in hello that the server acts on.
PRESENCE_CAPABILITY = "presence"  # the session is sent presence events
ANSWERS_CAPABILITY = "answers"  # the session is sent the questions of asks
# The session is one command (a `cloudbrain send`, a mail through the gateway): not announced,
# not shown as the agent being online or as one of its sessions, and not sent stored messages.
ONE_SHOT_CAPABILITY = "one-shot"

# --- frames a client sends -------------------------------------------------------------------


class Hello(Request):
    type: Literal["hello"] = "hello"
    name: AgentName
    token: Annotated[str, Field(min_length=1, max_length=256)]
    device: ShortText = ""
    client: ShortText = ""
    capabilities: Annotated[list[ShortText], Field(max_length=32)] = []
    # Skills this agent declares; added to those it declared before (the directory lists them).
    skills: Annotated[list[ShortText], Field(max_length=32)] = []
    profile: DeviceProfile | None = None


class Ping(Request):
    type: Literal["ping"] = "ping"


# --- frames the server sends -----------------------------------------------------------------


class Limits(BaseModel):
    max_frame_bytes: int
    rate_per_second: float
    rate_burst: int


class Welcome(Reply):
    type: Literal["welcome"] = "welcome"
    agent: str
    session: str
    server: str
    protocol: int = PROTOCOL_VERSION
    limits: Limits


class Ok(Reply):
    type: Literal["ok"] = "ok"
    changed: bool | None = None  # for changes that may already hold (following, endorsing)


class Pong(Reply):
    type: Literal["pong"] = "pong"


class Error(ServerFrame):
    type: Literal["error"] = "error"
    re: str | None = None
    code: ErrorCode
    detail: str
