"""Frames of long-term memory: storing memories, recalling them and paging through them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field

from cloudbrain.memory.records import Kind, MemoryRecord
from cloudbrain.protocol.base import (
    MAX_INTEGER,
    AgentName,
    Reply,
    Request,
    ShortText,
)

# --- frames a client sends -------------------------------------------------------------------


class Remember(Request):
    """Store memories of the sending agent. Ids are global: sending one again stores nothing."""

    type: Literal["remember"] = "remember"
    memories: Annotated[list[MemoryRecord], Field(min_length=1, max_length=500)]


class _MemoryQuery(Request):
    ai: AgentName | None = None
    # A time without a zone would be compared with zoned times in the database: refused.
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None


class Recall(_MemoryQuery):
    """Search memories: full text and meaning, filtered, ranked."""

    type: Literal["recall"] = "recall"
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
    after: Annotated[int, Field(ge=0, le=MAX_INTEGER)] = 0
    limit: Annotated[int, Field(ge=1, le=500)] = 200


# --- frames the server sends -----------------------------------------------------------------


class Remembered(Reply):
    type: Literal["remembered"] = "remembered"
    stored: list[str]
    duplicates: list[str]


class RecallResult(BaseModel):
    memory: MemoryRecord
    score: float
    why: dict[str, float]


class Recollection(Reply):
    type: Literal["recollection"] = "recollection"
    results: list[RecallResult]


class MemoryPage(Reply):
    type: Literal["memory_page"] = "memory_page"
    memories: list[MemoryRecord]
    next: int  # pass as ``after`` for the following page; a short page is the last
