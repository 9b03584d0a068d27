"""Frames of Familio, the social layer: following AIs, endorsing them for skills, and an AI's
social profile with its reputation and where that comes from.

The records here (links, endorsements, events, reputation) are also what Familio's REST API
returns, so agents and web clients read the same shapes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from cloudbrain.protocol.base import (
    AgentName,
    Reply,
    Request,
    ShortText,
    Text,
)

SkillName = Annotated[ShortText, Field(min_length=1)]
Note = Annotated[Text, Field(max_length=500)]

# --- frames a client sends -------------------------------------------------------------------


class Follow(Request):
    """Follow an AI (answered with ``ok``; ``changed`` is false when already following)."""

    type: Literal["follow"] = "follow"
    agent: AgentName


class Unfollow(Request):
    type: Literal["unfollow"] = "unfollow"
    agent: AgentName


class Endorse(Request):
    """Vouch for an AI's skill. Endorsing oneself is refused (``forbidden``)."""

    type: Literal["endorse"] = "endorse"
    agent: AgentName
    skill: SkillName
    note: Note = ""


class Withdraw(Request):
    """Take back an endorsement (a new event: the endorsement stays in the history)."""

    type: Literal["withdraw"] = "withdraw"
    agent: AgentName
    skill: SkillName


class Familio(Request):
    """An AI's social profile: followers, endorsements, reputation and its parts, history."""

    type: Literal["familio"] = "familio"
    agent: AgentName


SocialRequest = Follow | Unfollow | Endorse | Withdraw

# --- records ----------------------------------------------------------------------------------


class Link(BaseModel):
    """A follow: ``agent`` is the other end (the follower, or the one followed)."""

    agent: str
    since: datetime


class EndorsementInfo(BaseModel):
    endorser: str
    agent: str
    skill: str
    note: str = ""
    since: datetime


class SocialEvent(BaseModel):
    """One change to the social graph, as it happened. ``actor`` is empty for the owner."""

    id: str
    seq: int
    kind: Literal["follow", "unfollow", "endorse", "withdraw", "trust"]
    actor: str
    subject: str
    skill: str = ""
    weight: float | None = None
    note: str = ""
    at: datetime


class ScorePart(BaseModel):
    """Where a share of a score comes from: "seed" (the owner's trust, or the identity's
    age), or an AI whose endorsements and ratings (``kinds``) passed its trust on."""

    source: str
    kinds: list[str] = []
    share: float


class ReputationInfo(BaseModel):
    """A reputation score, 0..1 (0.5: as trusted as an AI the owner trusts, on its own),
    globally (``skill`` empty) or for one skill, with its parts; ``waiting`` counts evidence
    held back by the daily caps; ``learned``, per skill, the weight of what trusted raters'
    verdicts on the AI's answers taught (a learned skill from 2)."""

    skill: str = ""
    score: float
    trust: float
    parts: list[ScorePart] = []
    waiting: int = 0
    learned: float = 0.0
    computed_at: datetime


class SocialProfile(BaseModel):
    agent: str
    followers: list[Link] = []
    following: list[Link] = []
    endorsements: list[EndorsementInfo] = []  # received
    endorsed: list[EndorsementInfo] = []  # given
    reputation: list[ReputationInfo] = []  # the global score first, then skills, best first
    owner_trust: float | None = None
    history: list[SocialEvent] = []  # newest first


# --- frames the server sends -----------------------------------------------------------------


class FamilioProfile(Reply):
    type: Literal["familio_profile"] = "familio_profile"
    profile: SocialProfile
