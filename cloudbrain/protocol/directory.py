"""Frames of the AI directory: who is there and what they know (``who`` and ``roster``), the
family's skills (``skills`` and ``skill_list``), agent cards, and the device profile an agent
announces.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from cloudbrain.protocol.base import AgentName, Reply, Request, ShortText

# --- frames a client sends -------------------------------------------------------------------


class DeviceProfile(BaseModel):
    """What a device can do, as its agent announces it: asks route heavy work by it."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    gpu: ShortText | None = None  # e.g. "NVIDIA GeForce RTX 4090"
    gpu_memory_gb: Annotated[float, Field(ge=0, le=10_000)] | None = None
    models: Annotated[list[ShortText], Field(max_length=32)] = []
    tokens_per_second: Annotated[float, Field(ge=0, le=1_000_000)] | None = None


class Who(Request):
    """The directory: every AI, or those matching all the filters given."""

    type: Literal["who"] = "who"
    skill: ShortText | None = None  # declared or learned
    online: bool | None = None
    text: ShortText | None = None  # in the name, description or skills


class Skills(Request):
    """Every skill of the family, declared or learned, with the AIs that hold it."""

    type: Literal["skills"] = "skills"


class Card(Request):
    """The agent card of an AI (in the spirit of the A2A Agent Card)."""

    type: Literal["card"] = "card"
    agent: AgentName


# --- frames the server sends -----------------------------------------------------------------


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
    reputation: float = 0.5  # 0..1 (Familio's reputation; 0.5 until it is first worked out)
    skill_reputation: dict[str, float] = {}  # for the skills it was endorsed or rated on


class Roster(Reply):
    type: Literal["roster"] = "roster"
    agents: list[AgentInfo]


class SkillHolders(BaseModel):
    skill: str
    declared: list[str] = []  # the AIs that declare it, by name
    learned: list[str] = []  # the AIs that learned it from well-received answers
    online: int = 0  # how many of them are online now


class SkillList(Reply):
    """The answer to ``skills``: the most widely held first."""

    type: Literal["skill_list"] = "skill_list"
    skills: list[SkillHolders]


class AgentCard(Reply):
    type: Literal["agent_card"] = "agent_card"
    card: dict[str, JsonValue]
