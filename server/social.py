"""Familio over the wire protocol: follow, unfollow, endorse and withdraw as the connected
agent, and any AI's social profile."""

from __future__ import annotations

from cloudbrain.familio.profile import social_profile
from cloudbrain.familio.social import SocialChanges
from cloudbrain.protocol import (
    Endorse,
    Familio,
    FamilioProfile,
    Follow,
    Ok,
    SocialRequest,
    Unfollow,
    Withdraw,
)
from cloudbrain.server.handlers import Handlers
from cloudbrain.server.session import LiveSession
from cloudbrain.storage.reputation import ReputationStore
from cloudbrain.storage.social import SocialStore


class SocialService:
    def __init__(
        self, changes: SocialChanges, social: SocialStore, reputation: ReputationStore
    ) -> None:
        self.changes = changes
        self.social = social
        self.reputation = reputation

    def handlers(self) -> Handlers:
        return {
            Follow: self.change,
            Unfollow: self.change,
            Endorse: self.change,
            Withdraw: self.change,
            Familio: self.profile,
        }

    async def change(self, session: LiveSession, frame: SocialRequest) -> Ok:
        actor = session.agent.name
        if isinstance(frame, Follow):
            changed = await self.changes.follow(actor, frame.agent)
        elif isinstance(frame, Unfollow):
            changed = await self.changes.unfollow(actor, frame.agent)
        elif isinstance(frame, Endorse):
            changed = await self.changes.endorse(actor, frame.agent, frame.skill, frame.note)
        else:
            changed = await self.changes.withdraw(actor, frame.agent, frame.skill)
        return Ok(re=frame.id, changed=changed)

    async def profile(self, session: LiveSession, frame: Familio) -> FamilioProfile:
        profile = await social_profile(self.social, self.reputation, frame.agent)
        return FamilioProfile(re=frame.id, profile=profile)
