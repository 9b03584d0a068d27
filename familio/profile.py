"""An AI's social profile, put together from the social graph and its reputation."""

from __future__ import annotations

from cloudbrain.protocol import SocialProfile
from cloudbrain.storage.reputation import ReputationStore
from cloudbrain.storage.social import SocialStore

HISTORY = 50  # events shown with a profile; the REST API pages through the rest


async def social_profile(
    social: SocialStore, reputation: ReputationStore, name: str
) -> SocialProfile:
    """Followers, following, endorsements received and given, reputation with its parts, the
    owner's trust and the newest events; ``not_found`` when there is no such AI."""
    await social.check_agent(name)
    return SocialProfile(
        agent=name,
        followers=await social.followers(name),
        following=await social.following(name),
        endorsements=await social.endorsements(of=name),
        endorsed=await social.endorsements(by=name),
        reputation=await reputation.of(name),
        owner_trust=(await social.owner_trust()).get(name),
        history=await social.history(name, limit=HISTORY),
    )
