"""Parsing every frame of each side: a frame in, the frame object out (its class picked by
``type`` from the frames registered in ``base``), or a :class:`ProtocolError` saying what is
wrong.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter, ValidationError

from cloudbrain.errors import ErrorCode, ProtocolError

# Each module that defines frames, imported so that its frames are registered (see ``base``).
from cloudbrain.protocol import asks, brain, connection, directory, familio, memory  # noqa: F401
from cloudbrain.protocol.base import (
    CLIENT_FRAMES,
    PROTOCOL_VERSION,
    SERVER_FRAMES,
    ClientFrame,
    ServerFrame,
)
from cloudbrain.protocol.messages import Broadcast, Publish, Send

MessageFrame = Send | Publish | Broadcast


def _parser(frames: dict[str, type[Any]]) -> TypeAdapter[Any]:
    """One parser for every frame of a side, picked by ``type``."""
    union: Any = Union[tuple(frames.values())]  # noqa: UP007 (a union made at run time)
    return TypeAdapter(Annotated[union, Field(discriminator="type")])


# Every module that defines frames is imported above, so the registries are complete here.
CLIENT_TYPES = frozenset(CLIENT_FRAMES)
SERVER_TYPES = frozenset(SERVER_FRAMES)

_client_adapter: TypeAdapter[ClientFrame] = _parser(CLIENT_FRAMES)
_server_adapter: TypeAdapter[ServerFrame] = _parser(SERVER_FRAMES)


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
