"""Frames of brain state: saving it, loading it and listing its versions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from cloudbrain.brainstate import BrainState
from cloudbrain.protocol.base import (
    MAX_INTEGER,
    AgentName,
    Reply,
    Request,
)

# --- frames a client sends -------------------------------------------------------------------


class BrainSave(Request):
    """Save the sending agent's brain state, built on version ``base`` (None: on nothing)."""

    type: Literal["brain_save"] = "brain_save"
    state: BrainState
    base: Annotated[int, Field(ge=1, le=MAX_INTEGER)] | None = None


class BrainLoad(Request):
    """Read a brain state: the newest version, or ``version``; of ``ai``, or of the sender."""

    type: Literal["brain_load"] = "brain_load"
    ai: AgentName | None = None
    version: Annotated[int, Field(ge=1, le=MAX_INTEGER)] | None = None


class BrainHistory(Request):
    type: Literal["brain_history"] = "brain_history"
    ai: AgentName | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 20


# --- frames the server sends -----------------------------------------------------------------


class BrainSaved(Reply):
    """The state as stored: ``merged`` when another save came in between and the two were
    combined, in which case ``state`` differs from what was sent: continue from it."""

    type: Literal["brain_saved"] = "brain_saved"
    version: int
    merged: bool
    state: BrainState


class BrainSnapshot(Reply):
    type: Literal["brain_state"] = "brain_state"
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


class BrainVersions(Reply):
    type: Literal["brain_versions"] = "brain_versions"
    ai: str
    versions: list[BrainVersion]  # newest first
