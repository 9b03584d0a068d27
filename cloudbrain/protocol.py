"""The wire protocol, version 1: one JSON envelope per WebSocket text frame.

Every frame has ``v`` (the protocol version) and ``type``. A frame that expects an answer
carries an ``id``; the answer carries ``re`` = that id. ``docs/protocol.md`` describes each
frame with an example exchange. Parsing never raises anything but :class:`ProtocolError`, so a
bad frame costs its sender an error frame, never the server.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    TypeAdapter,
    ValidationError,
)

from cloudbrain.brainstate import BrainState
from cloudbrain.errors import ErrorCode, ProtocolError
from cloudbrain.ids import is_uuid
from cloudbrain.memory.records import Kind, MemoryRecord

PROTOCOL_VERSION: Literal[1] = 1
MAX_ACK_IDS = 1000
MAX_TTL_SECONDS = 30 * 24 * 3600


def _check_uuid(value: str) -> str:
    if not is_uuid(value):
        raise ValueError(
            "must be a UUID in canonical lower-case form (a UUIDv7, as cloudbrain.ids.new_id makes)"
        )
    return value


# Agent names are what people type and read: any printable text up to 64 characters, without
# white space, and not starting with '*' (which addresses everyone on the command line).
AgentName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\s*][^\s]*$")]
TopicName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\s]+$")]
MessageId = Annotated[str, AfterValidator(_check_uuid)]
ShortText = Annotated[str, Field(max_length=128)]
FrameId = Annotated[str, Field(min_length=1, max_length=128)]
Meta = dict[str, JsonValue]


def _not_bool(value: object) -> object:
    # JSON true equals 1 in Python; a version is a number.
    if isinstance(value, bool):
        raise ValueError("must be the protocol version number")
    return value


class _Frame(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)
    v: Annotated[Literal[1], BeforeValidator(_not_bool)] = PROTOCOL_VERSION

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, exclude_none=True)


class _ClientFrame(_Frame):
    # The server reads strictly: no type coercion ("5" is not 5), and unknown top-level fields
    # are refused, so a misspelt field is an error rather than silently lost. ``meta`` is the
    # place for anything a client wants to carry along.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class _ServerFrame(_Frame):
    # Clients read leniently: a field added by a newer server must not make an older client
    # drop the frame (a dropped ``deliver`` would never be acked).
    model_config = ConfigDict(extra="ignore")


# --- frames a client sends -------------------------------------------------------------------


class DeviceProfile(BaseModel):
    """What a device can do, as its agent announces it: asks route heavy work by it."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    gpu: ShortText | None = None  # e.g. "NVIDIA GeForce RTX 4090"
    gpu_memory_gb: Annotated[float, Field(ge=0, le=10_000)] | None = None
    models: Annotated[list[ShortText], Field(max_length=32)] = []
    tokens_per_second: Annotated[float, Field(ge=0, le=1_000_000)] | None = None


class Hello(_ClientFrame):
    type: Literal["hello"] = "hello"
    id: FrameId
    name: AgentName
    token: Annotated[str, Field(min_length=1, max_length=256)]
    device: ShortText = ""
    client: ShortText = ""
    capabilities: Annotated[list[ShortText], Field(max_length=32)] = []
    # Skills this agent declares; added to those it declared before (the directory lists them).
    skills: Annotated[list[ShortText], Field(max_length=32)] = []
    profile: DeviceProfile | None = None


class _Message(_ClientFrame):
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


class Subscribe(_ClientFrame):
    type: Literal["subscribe"] = "subscribe"
    id: FrameId
    topic: TopicName


class Unsubscribe(_ClientFrame):
    type: Literal["unsubscribe"] = "unsubscribe"
    id: FrameId
    topic: TopicName


class Ack(_ClientFrame):
    """Confirms ``deliver`` frames by their message ids; unknown ids are ignored."""

    type: Literal["ack"] = "ack"
    ids: Annotated[list[MessageId], Field(min_length=1, max_length=MAX_ACK_IDS)]


class Who(_ClientFrame):
    """The directory: every AI, or those matching all the filters given."""

    type: Literal["who"] = "who"
    id: FrameId
    skill: ShortText | None = None  # declared or learned
    online: bool | None = None
    text: ShortText | None = None  # in the name, description or skills


class Status(_ClientFrame):
    """Asks where a message the sender sent stands, per recipient."""

    type: Literal["status"] = "status"
    id: FrameId
    msg: MessageId


class Ping(_ClientFrame):
    type: Literal["ping"] = "ping"
    id: FrameId


class Remember(_ClientFrame):
    """Store memories of the sending agent. Ids are global: sending one again stores nothing."""

    type: Literal["remember"] = "remember"
    id: FrameId
    memories: Annotated[list[MemoryRecord], Field(min_length=1, max_length=500)]


class _MemoryQuery(_ClientFrame):
    ai: AgentName | None = None
    since: datetime | None = None
    until: datetime | None = None


class Recall(_MemoryQuery):
    """Search memories: full text and meaning, filtered, ranked."""

    type: Literal["recall"] = "recall"
    id: FrameId
    query: Annotated[str, Field(max_length=4000)]
    session: ShortText | None = None
    device: ShortText | None = None
    kind: Kind | None = None
    conversation: ShortText | None = None
    include_superseded: bool = False
    limit: Annotated[int, Field(ge=1, le=50)] = 5


class Memories(_MemoryQuery):
    """Page through memories in the order the server stored them (for export and sync)."""

    type: Literal["memories"] = "memories"
    id: FrameId
    after: Annotated[int, Field(ge=0)] = 0
    limit: Annotated[int, Field(ge=1, le=500)] = 200


class BrainSave(_ClientFrame):
    """Save the sending agent's brain state, built on version ``base`` (None: on nothing)."""

    type: Literal["brain_save"] = "brain_save"
    id: FrameId
    state: BrainState
    base: Annotated[int, Field(ge=1)] | None = None


class BrainLoad(_ClientFrame):
    """Read a brain state: the newest version, or ``version``; of ``ai``, or of the sender."""

    type: Literal["brain_load"] = "brain_load"
    id: FrameId
    ai: AgentName | None = None
    version: Annotated[int, Field(ge=1)] | None = None


class BrainHistory(_ClientFrame):
    type: Literal["brain_history"] = "brain_history"
    id: FrameId
    ai: AgentName | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 20


class Card(_ClientFrame):
    """The agent card of an AI (in the spirit of the A2A Agent Card)."""

    type: Literal["card"] = "card"
    id: FrameId
    agent: AgentName


class Ask(_ClientFrame):
    """Ask the family: chosen specialists answer live, past sessions from their memories.
    The server answers with ``ask_started``, an ``ask_answer`` per answer as it arrives, and
    ``ask_result`` when every specialist answered or ``timeout`` seconds passed."""

    type: Literal["ask"] = "ask"
    id: FrameId
    question: Annotated[str, Field(min_length=1, max_length=4000)]
    skills: Annotated[list[ShortText], Field(max_length=16)] = []
    agents: Annotated[list[AgentName], Field(max_length=50)] = []  # only these
    own: bool = False  # only the asker's own past sessions (its memories)
    since: datetime | None = None
    until: datetime | None = None
    timeout: Annotated[float, Field(gt=0, le=120)] = 10.0
    max_specialists: Annotated[int, Field(ge=1, le=50)] = 5
    # How heavy the work is, 0 (a lookup) to 1; None: the server estimates it.
    complexity: Annotated[float, Field(ge=0, le=1)] | None = None


class Answer(_ClientFrame):
    """A specialist's answer to a ``question`` frame."""

    type: Literal["answer"] = "answer"
    id: FrameId
    ask: MessageId
    text: Annotated[str, Field(max_length=20_000)]
    knows: bool = True  # False: "I don't know", counted as answered, not ranked
    confidence: Annotated[float, Field(ge=0, le=1)] = 0.5
    memories: Annotated[list[ShortText], Field(max_length=50)] = []  # ids it drew on
    model: ShortText | None = None


class Rate(_ClientFrame):
    """Feedback on one answer of an ask; a later rating by the same AI replaces its earlier."""

    type: Literal["rate"] = "rate"
    id: FrameId
    ask: MessageId
    answer: MessageId
    verdict: Literal["up", "down", "accept"]


class Asks(_ClientFrame):
    """Past asks, newest first: the sender's own (``mine``) or everyone's."""

    type: Literal["asks"] = "asks"
    id: FrameId
    mine: bool = False
    limit: Annotated[int, Field(ge=1, le=200)] = 20


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
    | Asks,
    Field(discriminator="type"),
]
MessageFrame = Send | Publish | Broadcast

# --- frames the server sends -----------------------------------------------------------------


class Limits(BaseModel):
    max_frame_bytes: int
    rate_per_second: float
    rate_burst: int


class Welcome(_ServerFrame):
    type: Literal["welcome"] = "welcome"
    re: str
    agent: str
    session: str
    server: str
    protocol: int = PROTOCOL_VERSION
    limits: Limits


class Receipt(_ServerFrame):
    """The server has stored the message: from here on it will not be lost."""

    type: Literal["receipt"] = "receipt"
    re: str
    recipients: int
    at: datetime
    duplicate: bool = False


class Deliver(_ServerFrame):
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


class Presence(_ServerFrame):
    type: Literal["presence"] = "presence"
    agent: str
    session: str
    device: str
    online: bool
    at: datetime


class SessionInfo(BaseModel):
    session: str
    device: str
    since: datetime


class LearnedSkill(BaseModel):
    """A topic an AI has shown it knows: answers given on it and how they were received."""

    topic: str
    answers: int = 0
    up: int = 0
    down: int = 0
    accepted: int = 0
    weight: float = 0.0


class DeviceInfo(BaseModel):
    """A device an AI ran on, with the models it used there and how fast they were."""

    device: str
    models: list[str] = []
    tokens_per_second: float | None = None
    seconds_per_answer: float | None = None
    answers: int = 0


class AgentInfo(BaseModel):
    """An AI's profile in the directory."""

    name: str
    description: str = ""
    skills: list[str] = []  # declared
    learned_skills: list[LearnedSkill] = []
    online: bool
    sessions: list[SessionInfo] = []  # live now
    last_seen: datetime | None = None
    devices: list[DeviceInfo] = []
    session_count: int = 0  # every session it ever had
    memories: int = 0
    reputation: float = 0.5  # neutral until the social layer rates it


class Roster(_ServerFrame):
    type: Literal["roster"] = "roster"
    re: str
    agents: list[AgentInfo]


class RecipientState(BaseModel):
    agent: str
    state: Literal["pending", "delivered", "expired"]
    delivered_at: datetime | None = None


class DeliveryStatus(_ServerFrame):
    type: Literal["delivery"] = "delivery"
    re: str
    msg: str
    expires_at: datetime | None = None
    recipients: list[RecipientState]


class Remembered(_ServerFrame):
    type: Literal["remembered"] = "remembered"
    re: str
    stored: list[str]
    duplicates: list[str]


class RecallResult(BaseModel):
    memory: MemoryRecord
    score: float
    why: dict[str, float]


class Recollection(_ServerFrame):
    type: Literal["recollection"] = "recollection"
    re: str
    results: list[RecallResult]


class MemoryPage(_ServerFrame):
    type: Literal["memory_page"] = "memory_page"
    re: str
    memories: list[MemoryRecord]
    next: int  # pass as ``after`` for the following page; a short page is the last


class BrainSaved(_ServerFrame):
    """The state as stored: ``merged`` when another save came in between and the two were
    combined, in which case ``state`` differs from what was sent: continue from it."""

    type: Literal["brain_saved"] = "brain_saved"
    re: str
    version: int
    merged: bool
    state: BrainState


class BrainSnapshot(_ServerFrame):
    type: Literal["brain_state"] = "brain_state"
    re: str
    ai: str
    version: int | None = None  # None: nothing saved yet
    state: BrainState
    device: str = ""
    session: str = ""
    saved_at: datetime | None = None


class BrainVersion(BaseModel):
    version: int
    base: int | None = None
    merged: bool
    device: str
    session: str
    saved_at: datetime
    counters: dict[str, int]


class BrainVersions(_ServerFrame):
    type: Literal["brain_versions"] = "brain_versions"
    re: str
    ai: str
    versions: list[BrainVersion]  # newest first


class AgentCard(_ServerFrame):
    type: Literal["agent_card"] = "agent_card"
    re: str
    card: dict[str, JsonValue]


class Question(_ServerFrame):
    """To a chosen specialist: answer with an ``answer`` frame before ``deadline``."""

    type: Literal["question"] = "question"
    ask: str
    question: str
    asker: str
    topics: list[str] = []
    deadline: datetime


class Specialist(BaseModel):
    """Why an AI was chosen for an ask: the parts of its score."""

    agent: str
    live: bool  # asked now; otherwise answered for from its memories only
    score: float
    why: dict[str, float] = {}


class AskAnswer(BaseModel):
    """One answer of an ask, attributed; ``score`` orders the final result."""

    id: str
    agent: str
    source: Literal["live", "memory"]
    text: str
    knows: bool = True
    confidence: float
    relevance: float = 0.0
    reputation: float = 0.5
    score: float = 0.0
    session: str = ""
    device: str = ""
    at: datetime
    model: str | None = None
    memories: list[str] = []  # ids of the memories it drew on
    also: list[str] = []  # agents whose near-identical answers were merged into this one
    feedback: dict[str, int] = {}  # verdict -> count


class Routing(BaseModel):
    """How an ask's live specialists were asked, and why."""

    complexity: float
    estimated: bool  # True: the server estimated it; False: the ask carried it
    heavy: bool
    capacity: dict[str, float] = {}  # live specialist -> device capacity
    first: list[str] = []  # asked at once
    fallback: list[str] = []  # held back, asked in order if no answer came in time
    failovers: list[str] = []  # fallbacks that were asked


class AskStarted(_ServerFrame):
    type: Literal["ask_started"] = "ask_started"
    re: str
    ask: str
    topics: list[str]
    specialists: list[Specialist]
    deadline: datetime


class AskAnswered(_ServerFrame):
    type: Literal["ask_answer"] = "ask_answer"
    re: str
    ask: str
    answer: AskAnswer


class AskResult(_ServerFrame):
    type: Literal["ask_result"] = "ask_result"
    re: str | None = None  # None in a listing of past asks
    ask: str
    question: str = ""
    asker: str = ""
    at: datetime | None = None
    topics: list[str] = []
    specialists: list[Specialist] = []
    answers: list[AskAnswer]  # best first
    summary: str = ""
    summary_by: str = "extractive"  # or the model that wrote it, e.g. "ollama:llama3.2"
    missing: list[str] = []  # live specialists that did not answer in time
    seconds: float = 0.0
    routing: Routing | None = None


class AskList(_ServerFrame):
    type: Literal["ask_list"] = "ask_list"
    re: str
    asks: list[AskResult]


class Ok(_ServerFrame):
    type: Literal["ok"] = "ok"
    re: str


class Pong(_ServerFrame):
    type: Literal["pong"] = "pong"
    re: str


class Error(_ServerFrame):
    type: Literal["error"] = "error"
    re: str | None = None
    code: ErrorCode
    detail: str


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
    | AskList,
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
        return _client_adapter.validate_json(raw)
    except ValidationError as exc:
        raise _explain(raw, exc, CLIENT_TYPES) from None


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
    except ValueError:
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value[:128] if isinstance(value, str) else None


def _explain(raw: str | bytes, exc: ValidationError, known: frozenset[str]) -> ProtocolError:
    """Turn a validation failure into the one error code that best says what went wrong."""
    try:
        data: Any = json.loads(raw)
    except ValueError:
        return ProtocolError(ErrorCode.INVALID_JSON, "the frame is not valid JSON text")
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
