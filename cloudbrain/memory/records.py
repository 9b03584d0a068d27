"""A memory record: the shared-memory schema (timestamp, device, conversation, user input, AI
response, model, facts, embedding) plus who learned it, in which session, of which kind, how
important it is and where it came from."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from cloudbrain.ids import new_id

Kind = Literal["exchange", "fact", "note"]
KINDS: tuple[Kind, ...] = ("exchange", "fact", "note")


class MemoryRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    id: str = Field(default_factory=new_id)
    ai: Annotated[str, Field(min_length=1, max_length=64)]
    session: Annotated[str, Field(max_length=64)] = ""
    device: Annotated[str, Field(max_length=128)] = ""
    conversation: Annotated[str, Field(max_length=128)] | None = None
    kind: Kind = "note"
    user_input: str = ""
    ai_response: str = ""
    # The text recall searches. For an exchange it defaults to the question and the answer.
    content: str = ""
    model_used: Annotated[str, Field(max_length=128)] | None = None
    facts_extracted: list[str] = []
    embedding: list[float] | None = None
    embedder: Annotated[str, Field(max_length=64)] | None = None
    importance: Annotated[float, Field(ge=0, le=1)] = 0.5
    provenance: dict[str, JsonValue] = {}
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    fact_key: Annotated[str, Field(max_length=256)] | None = None
    count: Annotated[int, Field(ge=1, le=2**63 - 1)] = 1  # a BIGINT column
    superseded_by: str | None = None

    @model_validator(mode="after")
    def _fill_content(self) -> MemoryRecord:
        if not self.content:
            self.content = "\n".join(part for part in (self.user_input, self.ai_response) if part)
        if not self.content.strip():
            raise ValueError("a memory needs content (or, for an exchange, a question or answer)")
        if self.created_at.tzinfo is None:
            raise ValueError("created_at must carry a time zone")
        return self
