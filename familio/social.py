"""Familio's rules for changing the social graph: an AI follows and endorses others, never
itself; a skill is named as the directory names topics; the owner's trust is a weight in a
fixed range. Every change to follows, endorsements and trust comes through here; what passes
is stored (with its event) by :class:`cloudbrain.storage.social.SocialStore`, which is also
where the graph is read from.
"""

from __future__ import annotations

from cloudbrain.directory.topics import normalize_topic
from cloudbrain.errors import ErrorCode, ProtocolError
from cloudbrain.storage.social import SocialStore

MAX_TRUST = 100.0
MAX_SKILL = 128  # characters of a skill's name that are kept (the column's width)


class SocialChanges:
    def __init__(self, store: SocialStore) -> None:
        self.store = store

    async def follow(self, actor: str, subject: str) -> bool:
        """``actor`` follows ``subject``; False when it already did."""
        _not_oneself(actor, subject, "follow")
        return await self.store.follow(actor, subject)

    async def unfollow(self, actor: str, subject: str) -> bool:
        """Anyone may stop following anyone: nothing to check."""
        return await self.store.unfollow(actor, subject)

    async def endorse(self, actor: str, subject: str, skill: str, note: str = "") -> bool:
        """``actor`` vouches for ``subject``'s ``skill``; False when it already did."""
        _not_oneself(actor, subject, "endorse")
        return await self.store.endorse(actor, subject, skill_name(skill), note)

    async def withdraw(self, actor: str, subject: str, skill: str) -> bool:
        return await self.store.withdraw(actor, subject, skill_name(skill))

    async def trust(self, subject: str, weight: float) -> bool:
        """The owner's trust in ``subject`` (0 takes it away); False when it is so already."""
        if not 0 <= weight <= MAX_TRUST:
            raise ProtocolError(
                ErrorCode.INVALID_FRAME, f"trust is a weight from 0 to {MAX_TRUST:g}, not {weight}"
            )
        return await self.store.trust(subject, weight)


def skill_name(skill: str) -> str:
    """A skill as endorsements store it (see :func:`stored_skill`); ``invalid_frame`` when
    nothing is left."""
    normalized = stored_skill(skill)
    if not normalized:
        raise ProtocolError(ErrorCode.INVALID_FRAME, "a skill needs a name, e.g. 'python'")
    return normalized


def stored_skill(skill: str) -> str:
    """A skill as endorsements store it: named as the directory names topics, so that
    "PostgreSQL" and "postgresql" are one skill, and cut to the column's width."""
    return normalize_topic(skill)[:MAX_SKILL]


def _not_oneself(actor: str, subject: str, what: str) -> None:
    if actor == subject:
        raise ProtocolError(
            ErrorCode.FORBIDDEN, f"an AI cannot {what} itself; that is for the others to do"
        )
