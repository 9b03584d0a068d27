"""Every frame of each side as one union discriminated by ``type``, and parsing: a frame in,
the frame object out, or a :class:`ProtocolError` saying what is wrong.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, get_args

from pydantic import Field, TypeAdapter, ValidationError

from cloudbrain.errors import ErrorCode, ProtocolError
from cloudbrain.protocol.asks import (
    Answer,
    Ask,
    AskAnswered,
    AskList,
    AskResult,
    Asks,
    AskStarted,
    Question,
    Rate,
)
from cloudbrain.protocol.base import PROTOCOL_VERSION
from cloudbrain.protocol.brain import (
    BrainHistory,
    BrainLoad,
    BrainSave,
    BrainSaved,
    BrainSnapshot,
    BrainVersions,
)
from cloudbrain.protocol.connection import Error, Hello, Ok, Ping, Pong, Welcome
from cloudbrain.protocol.directory import AgentCard, Card, Roster, Who
from cloudbrain.protocol.familio import Endorse, Familio, FamilioProfile, Follow, Unfollow, Withdraw
from cloudbrain.protocol.memory import (
    Memories,
    MemoryPage,
    Recall,
    Recollection,
    Remember,
    Remembered,
)
from cloudbrain.protocol.messages import (
    Ack,
    Broadcast,
    Deliver,
    DeliveryStatus,
    Presence,
    Publish,
    Receipt,
    Send,
    Status,
    Subscribe,
    Unsubscribe,
)

# --- frames a client sends -------------------------------------------------------------------


ClientFrame = Annotated[
    Hello
    | Send
    | Publish
    | Broadcast
    | Subscribe
    | Unsubscribe
    | Ack
    | Who
    | Status
    | Ping
    | Remember
    | Recall
    | Memories
    | BrainSave
    | BrainLoad
    | BrainHistory
    | Card
    | Ask
    | Answer
    | Rate
    | Asks
    | Follow
    | Unfollow
    | Endorse
    | Withdraw
    | Familio,
    Field(discriminator="type"),
]
MessageFrame = Send | Publish | Broadcast


# --- frames the server sends -----------------------------------------------------------------


ServerFrame = Annotated[
    Welcome
    | Receipt
    | Deliver
    | Presence
    | Roster
    | DeliveryStatus
    | Ok
    | Pong
    | Error
    | Remembered
    | Recollection
    | MemoryPage
    | BrainSaved
    | BrainSnapshot
    | BrainVersions
    | AgentCard
    | Question
    | AskStarted
    | AskAnswered
    | AskResult
    | AskList
    | FamilioProfile,
    Field(discriminator="type"),
]


def _frame_types(frames: object) -> frozenset[str]:
    """The ``type`` values of the frame classes in an ``Annotated[A | B | ..., Field]``."""
    union = get_args(frames)[0]
    return frozenset(member.model_fields["type"].default for member in get_args(union))


CLIENT_TYPES = _frame_types(ClientFrame)
SERVER_TYPES = _frame_types(ServerFrame)

_client_adapter: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)
_server_adapter: TypeAdapter[ServerFrame] = TypeAdapter(ServerFrame)


def parse_client_frame(raw: str | bytes) -> ClientFrame:
    """Parse one frame from a client, or raise :class:`ProtocolError` saying what is wrong."""
    try:
        frame = _client_adapter.validate_json(raw)
    except ValidationError as exc:
        raise _explain(raw, exc, CLIENT_TYPES) from None
    if _NUL_ESCAPE in raw if isinstance(raw, str) else _NUL_ESCAPE.encode() in raw:
        # Rare, so the exact look (is it really a NUL, or an escaped backslash?) is paid for
        # only when the escape shows up at all. (The JSON parser refuses lone surrogates.)
        problem = unstorable(json.loads(raw))
        if problem:
            raise ProtocolError(ErrorCode.INVALID_FRAME, f"bad {frame.type!r} frame: {problem}")
    return frame


_NUL_ESCAPE = "\\u0000"


def unstorable(value: object) -> str | None:
    """Why ``value`` (decoded JSON) cannot be stored, or None. PostgreSQL keeps no NUL in
    text or JSON, and a lone surrogate is no character at all: UTF-8 cannot encode it. Either,
    let through, would fail the whole batch of messages it is written with."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "text may not contain NUL (\\u0000)"
            try:
                item.encode()
            except UnicodeEncodeError:
                return "text may not contain a lone surrogate (\\ud800-\\udfff unpaired)"
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return None


def parse_server_frame(raw: str | bytes) -> ServerFrame:
    """Parse one frame from the server, or raise :class:`ProtocolError`."""
    try:
        return _server_adapter.validate_json(raw)
    except ValidationError as exc:
        raise _explain(raw, exc, SERVER_TYPES) from None


def frame_id(raw: str | bytes) -> str | None:
    """The ``id`` of a frame that failed to parse, if one can be read, for the error's ``re``."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    value = data.get("id") if isinstance(data, dict) else None
    if not isinstance(value, str) or unstorable(value):
        return None  # an id that could not be sent back in the error's ``re``
    return value[:128]


def _explain(raw: str | bytes, exc: ValidationError, known: frozenset[str]) -> ProtocolError:
    """Turn a validation failure into the one error code that best says what went wrong."""
    try:
        data: Any = json.loads(raw)
    except ValueError:
        return ProtocolError(ErrorCode.INVALID_JSON, "the frame is not valid JSON text")
    except RecursionError:
        return ProtocolError(ErrorCode.INVALID_JSON, "the frame's JSON is nested too deeply")
    if not isinstance(data, dict):
        return ProtocolError(ErrorCode.INVALID_FRAME, "a frame must be a JSON object")
    version = data.get("v", PROTOCOL_VERSION)
    if not isinstance(version, int) or isinstance(version, bool):
        return ProtocolError(ErrorCode.INVALID_FRAME, "'v' must be the protocol version number")
    if version != PROTOCOL_VERSION:
        return ProtocolError(
            ErrorCode.UNSUPPORTED_VERSION,
            f"protocol version {version} is not supported; this side speaks v={PROTOCOL_VERSION}",
        )
    kind = data.get("type")
    if not isinstance(kind, str):
        return ProtocolError(ErrorCode.INVALID_FRAME, "the frame has no string field 'type'")
    if kind not in known:
        return ProtocolError(
            ErrorCode.UNKNOWN_TYPE,
            f"unknown frame type {kind[:64]!r}; expected one of {sorted(known)}",
        )
    problems = []
    for error in exc.errors(include_url=False, include_input=False)[:5]:
        # Drop the union branch name pydantic puts first in the location.
        where = ".".join(str(part) for part in error["loc"][1:]) or "frame"
        problems.append(f"{where}: {error['msg']}")
    return ProtocolError(ErrorCode.INVALID_FRAME, f"bad {kind!r} frame: " + "; ".join(problems))
