"""Familio over the wire protocol: follow, unfollow, endorse and withdraw as the connected
agent, and any AI's social profile."""

from __future__ import annotations

from cloudbrain.errors import ProtocolError
from cloudbrain.familio.profile import social_profile
from cloudbrain.familio.social import SocialStore
from cloudbrain.familio.standing import Standing
from cloudbrain.protocol import (
    Endorse,
    Error,
    Familio,
    FamilioProfile,
    Follow,
    Ok,
    SocialRequest,
    Unfollow,
)
from cloudbrain.server.session import LiveSession


class SocialService:
    def __init__(self, social: SocialStore, standing: Standing) -> None:
        self.social = social
        self.standing = standing

    async def change(self, session: LiveSession, frame: SocialRequest) -> None:
        actor = session.agent.name
        try:
            if isinstance(frame, Follow):
                changed = await self.social.follow(actor, frame.agent)
            elif isinstance(frame, Unfollow):
                changed = await self.social.unfollow(actor, frame.agent)
            elif isinstance(frame, Endorse):
                changed = await self.social.endorse(actor, frame.agent, frame.skill, frame.note)
            else:
                changed = await self.social.withdraw(actor, frame.agent, frame.skill)
        except ProtocolError as refused:
            session.send(Error(re=frame.id, code=refused.code, detail=refused.detail).to_json())
            return
        session.send(Ok(re=frame.id, changed=changed).to_json())

    async def profile(self, session: LiveSession, frame: Familio) -> None:
        try:
            profile = await social_profile(self.social, self.standing, frame.agent)
        except ProtocolError as refused:
            session.send(Error(re=frame.id, code=refused.code, detail=refused.detail).to_json())
            return
        session.send(FamilioProfile(re=frame.id, profile=profile).to_json())
