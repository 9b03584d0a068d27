"""Frames of asks: asking the family a question, the questions specialists get and their
answers, ratings, and the results and listings of asks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field

from cloudbrain.protocol.base import (
    AgentName,
    MessageId,
    Reply,
    Request,
    ServerFrame,
    ShortText,
)

# --- frames a client sends -------------------------------------------------------------------


class Ask(Request):
    """Ask the family: chosen specialists answer live, past sessions from their memories.
    The server answers with ``ask_started``, an ``ask_answer`` per answer as it arrives, and
    ``ask_result`` when every specialist answered or ``timeout`` seconds passed."""

    type: Literal["ask"] = "ask"
    question: Annotated[str, Field(min_length=1, max_length=4000)]
    skills: Annotated[list[ShortText], Field(max_length=16)] = []
    agents: Annotated[list[AgentName], Field(max_length=50)] = []  # only these
    own: bool = False  # only the asker's own past sessions (its memories)
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    timeout: Annotated[float, Field(gt=0, le=120)] = 10.0
    max_specialists: Annotated[int, Field(ge=1, le=50)] = 5
    # How heavy the work is, 0 (a lookup) to 1; None: the server estimates it.
    complexity: Annotated[float, Field(ge=0, le=1)] | None = None
    # Finish as soon as this many answers that know are in, rather than waiting for everyone
    # asked; None: wait for every live specialist, or the timeout.
    enough: Annotated[int, Field(ge=1, le=50)] | None = None
    # The ask's id, chosen by the asker so that asking again (from a Maildir outbox after a
    # crash, say) returns the first ask's stored result instead of asking twice.
    ask_id: MessageId | None = None


class Answer(Request):
    """A specialist's answer to a ``question`` frame."""

    type: Literal["answer"] = "answer"
    ask: MessageId
    text: Annotated[str, Field(max_length=20_000)]
    knows: bool = True  # False: "I don't know", counted as answered, not ranked
    confidence: Annotated[float, Field(ge=0, le=1)] = 0.5
    memories: Annotated[list[ShortText], Field(max_length=50)] = []  # ids it drew on
    model: ShortText | None = None


class AskFinish(Request):
    """The asker finishes its running ask now, with the answers that are in: specialists
    still thinking are not waited for, and the result comes as ``ask_result``."""

    type: Literal["ask_finish"] = "ask_finish"
    ask: MessageId


class Rate(Request):
    """Feedback on one answer of an ask; a later rating by the same AI replaces its earlier."""

    type: Literal["rate"] = "rate"
    ask: MessageId
    answer: MessageId
    verdict: Literal["up", "down", "accept"]


class Asks(Request):
    """Past asks, newest first: the sender's own (``mine``) or everyone's."""

    type: Literal["asks"] = "asks"
    mine: bool = False
    limit: Annotated[int, Field(ge=1, le=200)] = 20


# --- frames the server sends -----------------------------------------------------------------


class Question(ServerFrame):
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


class AskStarted(ServerFrame):
    type: Literal["ask_started"] = "ask_started"
    re: str
    ask: str
    topics: list[str]
    specialists: list[Specialist]
    deadline: datetime


class AskAnswered(ServerFrame):
    type: Literal["ask_answer"] = "ask_answer"
    re: str
    ask: str
    answer: AskAnswer


class AskResult(ServerFrame):
    type: Literal["ask_result"] = "ask_result"
    re: str | None = None  # None in a listing of past asks
    ask: str
    question: str = ""
    asker: str = ""
    at: datetime | None = None
    topics: list[str] = []
    specialists: list[Specialist] = []
    answers: list[AskAnswer]  # best first
    # No answer shows knowledge of the question: nothing anyone said or stored is close enough
    # (see cloudbrain.directory.knowing). ``shortfalls`` says, per AI considered, why not.
    nobody_knows: bool = False
    shortfalls: dict[str, str] = {}
    summary: str = ""
    summary_by: str = "extractive"  # or the model that wrote it, e.g. "ollama:llama3.2"
    missing: list[str] = []  # live specialists that did not answer in time
    seconds: float = 0.0
    routing: Routing | None = None


class AskList(Reply):
    type: Literal["ask_list"] = "ask_list"
    asks: list[AskResult]
