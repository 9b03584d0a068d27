"""The pieces every frame is built from: the protocol version, the limits, the field types
shared by many frames, and the base classes of client and server frames.
"""

from __future__ import annotations

import inspect
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, JsonValue

from cloudbrain.ids import is_uuid

PROTOCOL_VERSION: Literal[1] = 1
MAX_ACK_IDS = 1000
MAX_TTL_SECONDS = 30 * 24 * 3600
# The largest integer a database column (BIGINT) holds: numbers from clients stay below it.
MAX_INTEGER = 2**63 - 1


def _check_uuid(value: str) -> str:
    if not is_uuid(value):
        raise ValueError(
            "must be a UUID in canonical lower-case form (a UUIDv7, as cloudbrain.ids.new_id makes)"
        )
    return value


# Control characters (C0, DEL and C1): no name or one-line text may hold them, since such
# fields end up in mail headers (where CR or LF would end the header), log lines and pages.
CONTROL = r"\x00-\x1f\x7f-\x9f"

_CONTROL_CHARACTER = re.compile(f"[{CONTROL}]")


def _one_line(value: str) -> str:
    if _CONTROL_CHARACTER.search(value):
        raise ValueError("must be one line of text, without control characters such as CR or LF")
    return value


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("may not contain NUL (\\u0000): the database cannot store it")
    return value


# Agent names are what people type and read: any printable text up to 64 characters, without
# white space, and not starting with '*' (which addresses everyone on the command line).
AgentName = Annotated[
    str, Field(min_length=1, max_length=64, pattern=rf"^[^\s*{CONTROL}][^\s{CONTROL}]*$")
]
TopicName = Annotated[str, Field(min_length=1, max_length=128, pattern=rf"^[^\s{CONTROL}]+$")]
MessageId = Annotated[str, AfterValidator(_check_uuid)]
# One line of text: a device, a conversation, a skill, a model's name.
ShortText = Annotated[str, Field(max_length=128), AfterValidator(_one_line)]
FrameId = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_one_line)]
# Free text, several lines allowed, that is stored as it is.
Text = Annotated[str, AfterValidator(_storable)]
Meta = dict[str, JsonValue]


def _not_bool(value: object) -> object:
    # JSON true equals 1 in Python; a version is a number.
    if isinstance(value, bool):
        raise ValueError("must be the protocol version number")
    return value


class _Frame(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)
    v: Annotated[Literal[1], BeforeValidator(_not_bool)] = PROTOCOL_VERSION
    if TYPE_CHECKING:  # every frame class names its own: type: Literal["ping"] = "ping"
        type: str

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, exclude_none=True)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """A class that names its own ``type`` is a frame of the wire protocol: register it
        (bases such as :class:`Reply` name none)."""
        super().__pydantic_init_subclass__(**kwargs)
        if "type" not in inspect.get_annotations(cls):
            return
        kind = cls.model_fields["type"].default
        known: dict[str, Any] = CLIENT_FRAMES if issubclass(cls, ClientFrame) else SERVER_FRAMES
        if kind in known:
            raise TypeError(f"two frames of type {kind!r}: {known[kind].__name__}, {cls.__name__}")
        known[kind] = cls


# Every frame type of each side, by its ``type``: filled as the frame classes are defined (see
# ``_Frame.__pydantic_init_subclass__``), so a new frame is one class and nothing else. The
# parsers of ``frames`` are built from these.
CLIENT_FRAMES: dict[str, type[ClientFrame]] = {}
SERVER_FRAMES: dict[str, type[ServerFrame]] = {}


class ClientFrame(_Frame):
    # The server reads strictly: no type coercion ("5" is not 5), and unknown top-level fields
    # are refused, so a misspelt field is an error rather than silently lost. ``meta`` is the
    # place for anything a client wants to carry along.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Request(ClientFrame):
    """A client frame the server answers: its reply (or error) carries this ``id`` as ``re``.
    (``ack`` is the one client frame that is not a request.)"""

    id: FrameId


class ServerFrame(_Frame):
    # Clients read leniently: a field added by a newer server must not make an older client
    # drop the frame (a dropped ``deliver`` would never be acked).
    model_config = ConfigDict(extra="ignore")


class Reply(ServerFrame):
    """The one frame that answers a client's request: ``re`` is the request's ``id``. A client
    hands every reply to whoever waits for that id, whatever its type."""

    re: str
