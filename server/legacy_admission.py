"""Who a client of the original protocol may be.

Such a client opens with ``{"ai_id": N, "ai_name": ...}`` and nothing else: no token, so it
cannot prove who it is. What it may be is therefore limited to what was made for it:

- an identity open to the original protocol (made by such an opening, or by ``import-legacy``;
  see :mod:`cloudbrain.server.legacy_ids`), never an identity that has a token of its own;
- not a revoked one;
- a new identity only within ``legacy_new_per_hour`` (counted in the database, so a restart
  does not reset it), as each new name would otherwise make one more voice in the family;
- ``ai_id`` 999 asks for a number, as it did in the original server: the opening becomes the
  identity its ``ai_name`` names, or a new one under the next free number, never AI 999.

Everything refused is a :class:`Refused`, with what to say and how to close.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cloudbrain.db.types import utcnow
from cloudbrain.errors import CloseCode, CloudBrainError
from cloudbrain.identity import check_name, get_agent
from cloudbrain.server.legacy_ids import ASSIGN, HIGHEST, LOWEST, LegacyIds, agent_name
from cloudbrain.storage.agents import AgentRecord
from cloudbrain.storage.legacy_ids import LegacyAI

WINDOW = timedelta(hours=1)  # what legacy_new_per_hour counts over

# What a client that cannot be who it says should do instead.
USE_A_TOKEN = (
    "connect with the CloudBrain protocol (a hello with the agent's name and token; "
    "`cloudbrain agent create NAME` makes an identity with a token)"
)


class Refused(Exception):
    """An original-protocol opening that is not taken: ``error`` tells the client why."""

    def __init__(self, error: str, close: CloseCode = CloseCode.AUTH_FAILED) -> None:
        super().__init__(error)
        self.error = error
        self.close = close


@dataclass(frozen=True)
class Opening:
    """The first frame of an original-protocol client, checked."""

    number: int
    name: str | None  # as the client gave it ("Li Ming"), not yet an agent name
    nickname: str = ""
    project: str = ""

    @classmethod
    def parse(cls, first: dict[str, Any]) -> Opening:
        number = first.get("ai_id")
        if not isinstance(number, int) or isinstance(number, bool):
            raise Refused("ai_id required (a number)")
        if not LOWEST <= number <= HIGHEST:
            raise Refused(f"ai_id must be a number from {LOWEST} to {HIGHEST}")
        name = first.get("ai_name") or first.get("name")
        return cls(
            number,
            name if isinstance(name, str) else None,
            str(first.get("ai_nickname") or ""),
            str(first.get("project") or ""),
        )

    @property
    def assign(self) -> bool:
        """Whether the client asks for a number rather than naming one."""
        return self.number == ASSIGN


def check_may_be(ai: LegacyAI | None, agent: AgentRecord) -> None:
    """Refuse an opening that would be ``agent`` (whose number is ``ai``, if any) unless it is
    an identity open to the original protocol and not revoked."""
    if ai is None or not ai.open_to_original:
        raise Refused(
            f"{agent.name} is a CloudBrain identity with a token, not open to clients of the "
            f"original protocol (they cannot prove who they are): {USE_A_TOKEN}"
        )
    if not agent.active:  # the same test identity.authenticate applies to a token
        raise Refused(f"{agent.name} (AI {ai.number}) was revoked", CloseCode.REVOKED)


class Admission:
    """Turns an :class:`Opening` into the identity it may be, or refuses it."""

    def __init__(self, ids: LegacyIds, new_per_hour: int) -> None:
        self.ids = ids
        self.new_per_hour = new_per_hour
        # The count of new identities and the making of one go together, so openings racing
        # on this node cannot pass the cap between them. (Nodes of a cluster each check the
        # shared count; racing there can pass it by a few, not by many.)
        self._making = asyncio.Lock()

    async def admit(self, opening: Opening) -> tuple[LegacyAI, AgentRecord]:
        if not opening.assign:
            known = await self.ids.by_number(opening.number)
            if known is not None:
                return await self._be(known)
        if opening.name is None or not opening.name.strip():
            if opening.assign:
                raise Refused(f"ai_id {ASSIGN} asks for a number: send ai_name too")
            raise Refused(f"AI {opening.number} not found; send ai_name to register it")
        name = agent_name(opening.name, opening.number)
        try:
            check_name(name)
        except CloudBrainError as bad:
            raise Refused(f"ai_name {opening.name!r} cannot be an agent name: {bad}") from None
        async with self._making:
            agent = await get_agent(self.ids.engine, name)
            if agent is not None:
                # The name is taken: the opening may be that identity (under its own number)
                # if it is one made for the original protocol.
                ai = await self.ids.by_agent(name)
                check_may_be(ai, agent)
                assert ai is not None
                return ai, agent
            await self._check_cap()
            try:
                return await self.ids.create_for_opening(
                    None if opening.assign else opening.number,
                    name,
                    nickname=opening.nickname,
                    project=opening.project,
                )
            except CloudBrainError:
                # Another node made this number or name just now: the next try finds it.
                raise Refused(
                    f"AI {opening.number} or {name!r} was just taken; connect again",
                    CloseCode.TRY_AGAIN_LATER,
                ) from None

    async def _be(self, ai: LegacyAI) -> tuple[LegacyAI, AgentRecord]:
        agent = await get_agent(self.ids.engine, ai.agent)
        if agent is None:  # a number whose identity was never finished (a failed opening)
            raise Refused(f"AI {ai.number} not found; send ai_name to register it")
        check_may_be(ai, agent)
        return ai, agent

    async def _check_cap(self) -> None:
        made = await self.ids.created_by_openings_since(utcnow() - WINDOW)
        if made >= self.new_per_hour:
            raise Refused(
                f"{made} new identities were made by original-protocol clients in the last "
                f"hour, as many as this server takes (legacy_new_per_hour = "
                f"{self.new_per_hour}); connect with an ai_id or ai_name that exists already, "
                f"try again later, or {USE_A_TOKEN}",
                CloseCode.TRY_AGAIN_LATER,
            )
