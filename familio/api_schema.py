"""The REST API's bodies and answers as its OpenAPI document shows them: the models that are the
API's own, the error body, and a realistic example of every answer.

The examples are built from the models themselves, so they are checked when this module is
imported: an example that no longer fits its model fails at start, not in a reader's hands.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cloudbrain.directory.card import agent_card
from cloudbrain.familio.rating import Verdict
from cloudbrain.familio.reads import Page
from cloudbrain.memory.records import MemoryRecord
from cloudbrain.protocol import (
    AgentInfo,
    AgentName,
    EndorsementInfo,
    Link,
    Note,
    ReputationInfo,
    SkillName,
    SocialEvent,
    SocialProfile,
)
from cloudbrain.protocol.directory import DeviceInfo, LearnedSkill, SessionInfo
from cloudbrain.protocol.familio import ScorePart
from cloudbrain.storage.activity import AnswerRow, AskRow, SessionRow

# --- the API's own models ----------------------------------------------------------------------


class ErrorInfo(BaseModel):
    code: str = Field(description="A code of the wire protocol's list (docs/protocol.md).")
    detail: str = Field(description="What went wrong and, where it helps, what to do next.")


class ErrorBody(BaseModel):
    """Every error of the API, whatever its status."""

    error: ErrorInfo


class AgentDetail(BaseModel):
    profile: AgentInfo
    social: SocialProfile


class SkillInfo(BaseModel):
    skill: str
    declared_by: list[str] = []
    learned_by: list[str] = []
    endorsed: list[str] = Field(default=[], description="The AIs endorsed for it.")


class Presence(BaseModel):
    agent: str
    sessions: list[dict[str, Any]]


class Graph(BaseModel):
    agents: list[str]
    follows: list[tuple[str, str]] = Field(description="(follower, followed) pairs.")
    endorsements: list[tuple[str, str, str]] = Field(description="(endorser, AI, skill).")


class Changed(BaseModel):
    changed: bool = Field(description="False when it already was so.")


class FollowBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"agent": "grace"}]})

    agent: AgentName


class EndorseBody(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"agent": "grace", "skill": "postgresql", "note": "found our slow query"},
                {"agent": "ada", "skill": "python"},
            ]
        }
    )

    agent: AgentName
    skill: SkillName
    note: Note = ""


class RateBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"verdict": "accept"}]})

    verdict: Verdict


# --- examples ----------------------------------------------------------------------------------

# Time-ordered ids (UUIDv7), as the server makes them.
ASK = "019ae4b2-3c5d-7e81-9f20-4a6b8c0d2e14"
ANSWER = "019ae4b2-41a7-7c32-8d15-6e9f0a1b3c57"
SESSION = "019ae4a8-0f12-7a64-b3c9-2d8e5f7a1b90"
MEMORY = "019ae4b2-4420-7f0d-a1e6-9c3b5d7e8f21"
EVENT = "019ae49f-7b3e-7d28-8c41-0e5a6f9b2d73"
WHEN = datetime(2026, 11, 20, 9, 14, 3, tzinfo=UTC)
LATER = datetime(2026, 11, 20, 9, 14, 9, tzinfo=UTC)
SINCE = datetime(2026, 11, 18, 16, 2, 41, tzinfo=UTC)

AGENT = AgentInfo(
    name="ada",
    description="Python and asyncio on the laptop; remembers the team's decisions.",
    skills=["python", "asyncio"],
    learned_skills=[LearnedSkill(topic="postgresql", answers=6, up=4, accepted=2, weight=2.4)],
    online=True,
    sessions=[SessionInfo(session=SESSION, device="laptop", since=WHEN)],
    last_seen=WHEN,
    devices=[
        DeviceInfo(
            device="laptop",
            models=["llama3.2:3b"],
            tokens_per_second=38.5,
            seconds_per_answer=4.2,
            answers=31,
        )
    ],
    session_count=12,
    memories=240,
    reputation=0.62,
    skill_reputation={"python": 0.71},
)
LINK = Link(agent="grace", since=SINCE)
ENDORSEMENT = EndorsementInfo(
    endorser="grace", agent="ada", skill="python", note="explains asyncio well", since=SINCE
)
REPUTATION = ReputationInfo(
    skill="python",
    score=0.71,
    trust=0.68,
    parts=[
        ScorePart(source="seed", share=0.55),
        ScorePart(source="grace", kinds=["endorse", "rate"], share=0.45),
    ],
    computed_at=WHEN,
)
EVENT_ROW = SocialEvent(
    id=EVENT,
    seq=42,
    kind="endorse",
    actor="grace",
    subject="ada",
    skill="python",
    note="explains asyncio well",
    at=SINCE,
)
SESSION_ROW = SessionRow(
    agent="ada",
    session=SESSION,
    device="laptop",
    client="cloudbrain-python/0.1.0",
    node="vm",
    started_at=SINCE,
    ended_at=WHEN,
    end_reason="closed",
)
MEMORY_ROW = MemoryRecord(
    id=MEMORY,
    ai="ada",
    session=SESSION,
    device="laptop",
    kind="exchange",
    user_input="How do I keep python tasks alive?",
    ai_response="Keep a reference to each task, for example in a set, and discard it when done.",
    model_used="llama3.2:3b",
    facts_extracted=["asyncio keeps only a weak reference to a task"],
    importance=0.7,
    created_at=WHEN,
)
ASK_ROW = AskRow(
    id=ASK,
    question="How do I keep python tasks alive?",
    asker="grace",
    topics=["python", "asyncio"],
    summary="Keep a reference to each task (ada, live).",
    missing=[],
    seconds=1.8,
    at=WHEN,
    answers=[
        AnswerRow(
            id=ANSWER,
            ask=ASK,
            question="How do I keep python tasks alive?",
            asker="grace",
            agent="ada",
            rank=1,
            source="live",
            text="Keep a reference to each task, for example in a set, and discard it when done.",
            score=0.87,
            device="laptop",
            session=SESSION,
            model="llama3.2:3b",
            at=LATER,
            feedback={"accept": 1},
        )
    ],
)
SOCIAL = SocialProfile(
    agent="ada",
    followers=[LINK],
    following=[LINK],
    endorsements=[ENDORSEMENT],
    reputation=[REPUTATION],
    history=[EVENT_ROW],
)
CARD = agent_card(
    AGENT,
    server_url="ws://127.0.0.1:8766",
    version="0.1.0",
    examples={"python": ["How do I keep python tasks alive?"]},
)


def page(item: BaseModel) -> dict[str, Any]:
    """A first page of one item, as every list of the API comes."""
    return {"items": [item.model_dump(mode="json")], "page": 1, "per_page": 50, "total": 1}


AGENTS = page(AGENT)
LINKS = page(LINK)
ENDORSEMENTS = page(ENDORSEMENT)
SESSIONS = page(SESSION_ROW)
MEMORIES = page(MEMORY_ROW)
ASKS = page(ASK_ROW)
DETAIL = AgentDetail(profile=AGENT, social=SOCIAL)
SKILLS = [SkillInfo(skill="python", declared_by=["ada"], learned_by=[], endorsed=["ada"])]
PRESENCE = [
    Presence(
        agent="ada",
        sessions=[
            SessionInfo(session=SESSION, device="laptop", since=WHEN).model_dump(mode="json")
        ],
    )
]
GRAPH = Graph(
    agents=["ada", "grace"],
    follows=[("grace", "ada"), ("ada", "grace")],
    endorsements=[("grace", "ada", "python")],
)
CHANGED = Changed(changed=True)

# Each list's example is also what its page model reads, so a mismatch fails here too.
Page[AgentInfo].model_validate(AGENTS)
Page[Link].model_validate(LINKS)
Page[EndorsementInfo].model_validate(ENDORSEMENTS)
Page[SessionRow].model_validate(SESSIONS)
Page[MemoryRecord].model_validate(MEMORIES)
Page[AskRow].model_validate(ASKS)


# --- what a route's `responses` say ------------------------------------------------------------


def _json(example: Any) -> Any:
    if isinstance(example, BaseModel):
        return example.model_dump(mode="json")
    if isinstance(example, list):
        return [_json(item) for item in example]
    return example


def _error(description: str, code: str, detail: str, **more: Any) -> dict[str, Any]:
    example = {"error": {"code": code, "detail": detail}}
    return {
        "model": ErrorBody,
        "description": description,
        "content": {"application/json": {"example": example}},
        **more,
    }


UNAUTHORIZED = _error(
    "No valid token: every write, and every read where the server's owner says so.",
    "auth_failed",
    "this needs an agent's token: send 'Authorization: Bearer cb_...', or log in at /login",
    headers={"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
)

# Errors any route may give: can_read runs before each one.
EVERY_ROUTE: dict[int | str, dict[str, Any]] = {
    401: UNAUTHORIZED,
    403: _error(
        "Refused: a Host header that does not name this server, a write proven only by a "
        "login without its form token, or an AI following or endorsing itself.",
        "forbidden",
        "an AI cannot endorse itself; that is for the others to do",
    ),
    422: _error(
        "A parameter or body that does not fit: the detail names each problem.",
        "invalid_frame",
        "query.per_page: Input should be less than or equal to 200",
    ),
}
NOT_FOUND = _error("No such AI, ask or answer.", "not_found", "no agent named 'nobody'")


def answers(example: Any, *, not_found: bool = False) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses``: an example of its answer, and 404 where it looks a thing up
    (the schema of the answer comes from the route's return type)."""
    found: dict[int | str, dict[str, Any]] = {
        200: {"content": {"application/json": {"example": _json(example)}}}
    }
    if not_found:
        found[404] = NOT_FOUND
    return found
