"""The original CloudBrain's view of the family: every AI there had a number (``ai_id``), a
name, a nickname, a project and a version. This maps those numbers onto CloudBrain identities,
for clients of the original protocol and for imports of an original database, and translates
brain states between the two shapes.

Every AI an original client hears from gets a number, but only the identities made for the
original protocol (by an original-protocol opening or by ``import-legacy``) are
``open_to_original``: original clients have no token, so they may be those and no others
(see :mod:`cloudbrain.server.legacy_admission`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from cloudbrain.brainstate import BrainState
from cloudbrain.db.types import utcnow
from cloudbrain.errors import CloudBrainError
from cloudbrain.identity import create_agent, get_agent
from cloudbrain.storage.agents import AgentRecord
from cloudbrain.storage.legacy_ids import LegacyAI, LegacyIdStore

ATTEMPTS = 5  # two new AIs racing for the next number: the loser takes the one after
# The original server read ``ai_id`` 999 as "give me a number" (its autonomous agents open
# with it), so no AI is ever given 999 as its own.
ASSIGN = 999
# The numbers a column of the original (an SQL INTEGER) can hold.
LOWEST, HIGHEST = 1, 2**31 - 1


def next_number(highest: int | None) -> int:
    """The number after ``highest``, never :data:`ASSIGN`."""
    number = (highest or 0) + 1
    return number + 1 if number == ASSIGN else number


def description(number: int) -> str:
    """What an identity made for the original protocol is described as."""
    return f"from the original CloudBrain (AI {number})"


def original_identity(ai: LegacyAI) -> str:
    """What the original server called an AI in messages: nickname_project, or a part."""
    nick = ai.nickname or f"AI_{ai.number}"
    return f"{nick}_{ai.project}" if ai.project else nick


def agent_name(name: str, number: int) -> str:
    """A CloudBrain agent name for an original AI's name ("Li Ming" -> "Li-Ming")."""
    cleaned = re.sub(r"\s+", "-", name.strip()).lstrip("*")[:64]
    return cleaned or f"ai-{number}"


class NumberTaken(CloudBrainError):
    """The number, or a number for the agent, was taken by someone else just now."""


class LegacyIds:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._store = LegacyIdStore(engine)
        # Numbers, once given, never change: each message to an original client names its
        # sender's, so they are kept rather than read again.
        self._of_agent: dict[str, LegacyAI] = {}

    async def by_number(self, number: int) -> LegacyAI | None:
        if not LOWEST <= number <= HIGHEST:  # no such row, and PostgreSQL would refuse the query
            return None
        return await self._store.by_number(number)

    async def by_agent(self, name: str) -> LegacyAI | None:
        return await self._store.by_agent(name)

    async def of_agent(self, name: str) -> LegacyAI:
        """The AI's number, given now (the next free one) if it has none yet."""
        known = self._of_agent.get(name)
        if known is None:
            known = self._of_agent[name] = await self._number(name)
        return known

    async def _number(self, name: str) -> LegacyAI:
        """A number that only names ``name`` to original clients: not open to them."""
        for _ in range(ATTEMPTS):
            known = await self.by_agent(name)
            if known is not None:
                return known
            given = await self._store.add(LegacyAI(await self._next_free(), name))
            if given is not None:
                return given
        raise RuntimeError(f"could not give {name!r} a number of the original protocol")

    async def _next_free(self) -> int:
        return next_number(await self._store.highest())

    async def claim(
        self, number: int, name: str, *, nickname: str = "", project: str = "", version: str = ""
    ) -> tuple[LegacyAI, AgentRecord, str | None]:
        """For ``import-legacy``: the identity of original AI ``number``: known already, an
        existing agent of that name, or a new agent (then its token is returned, the one time
        it is seen). Only a new agent is open to the original protocol: an existing one has a
        token of its own, which a client without one must not get round."""
        known = await self.by_number(number)
        if known is not None:
            agent = await get_agent(self.engine, known.agent)
            assert agent is not None, f"legacy AI {number} maps to a missing agent"
            return known, agent, None
        name = agent_name(name, number)
        agent, token = await get_agent(self.engine, name), None
        if agent is not None:
            # Named already (to original clients, under a number of its own): that one stays.
            already = await self.by_agent(name)
            if already is not None:
                return already, agent, None
        else:
            agent, token = await create_agent(self.engine, name, description=description(number))
        ai = LegacyAI(number, name, nickname, project, version, open_to_original=token is not None)
        claimed = await self._store.add(ai)
        if claimed is None:
            raise NumberTaken(
                f"AI {number} or {name!r} was given a number just now, by another import or "
                "an original-protocol client",
                hint="import again: what is imported already is kept",
            )
        return claimed, agent, token

    async def create_for_opening(
        self, number: int | None, name: str, *, nickname: str = "", project: str = ""
    ) -> tuple[LegacyAI, AgentRecord]:
        """A new identity for an original-protocol opening, open to the original protocol,
        under ``number`` (None: the next free one). The number is taken first, so an agent is
        never left made without it (it would then be closed to the client it was made for)."""
        for _ in range(ATTEMPTS):
            chosen = number if number is not None else await self._next_free()
            ai = await self._store.add(
                LegacyAI(chosen, name, nickname, project, open_to_original=True),
                opening_created_at=utcnow(),
            )
            if ai is None:
                if number is None:
                    continue  # another new AI took that number just now: the next one
                raise NumberTaken(f"AI {number} or {name!r} has a number already")
            try:
                agent, _token = await create_agent(
                    self.engine, name, description=description(chosen)
                )
            except BaseException:  # cancellation too: a number left without its agent is stuck
                await self._store.remove(chosen)
                raise
            return ai, agent
        raise RuntimeError(f"could not give {name!r} a number of the original protocol")

    async def created_by_openings_since(self, since: datetime) -> int:
        """How many identities original-protocol openings made at or after ``since``."""
        return await self._store.created_by_openings_since(since)

    async def state_imported(self, number: int) -> str | None:
        return await self._store.state_imported(number)

    async def mark_state_imported(self, number: int, activity: str) -> None:
        await self._store.mark_state_imported(number, activity)


# --- brain states --------------------------------------------------------------------------------

# The original state's fields that have a place in CloudBrain's; the rest go to ``extra``.
CYCLES = "cycles"
# What cloudbrain-client 3.x sends at the top level of ``brain_save_state`` (it has no
# ``state``): its ``task`` is the current task, ``last_thought`` is itself, and these describe
# its session and the git tree it works in, kept in ``extra`` as given.
CLIENT_FIELDS = (
    "session_identifier",
    "project_id",
    "git_hash",
    "modified_files",
    "added_files",
    "deleted_files",
    "git_status",
)


def state_from_legacy(state: dict[str, Any], brain_dump: Any = None) -> BrainState:
    counters = {}
    if isinstance(state.get("cycle_count"), int):
        counters[CYCLES] = state["cycle_count"]
    extra = {
        key: state[key]
        for key in ("last_insight", "current_cycle", "checkpoint_data")
        if state.get(key) is not None
    }
    if brain_dump:
        extra["brain_dump"] = brain_dump
    return BrainState(
        current_task=_text(state.get("current_task")),
        last_thought=_text(state.get("last_thought")),
        counters=counters,
        extra=extra,
    )


def state_from_save(frame: dict[str, Any]) -> BrainState:
    """What one ``brain_save_state`` says, in either shape: the original's (``state`` and
    ``brain_dump``) or cloudbrain-client 3.x's (``task``, ``last_thought`` and the fields of
    :data:`CLIENT_FIELDS` at the top level). Fields it leaves out stay unset."""
    given = frame.get("state")
    state: dict[str, Any] = dict(given) if isinstance(given, dict) else {}
    tops = {"current_task": ("task", "current_task"), "last_thought": ("last_thought",)}
    for field, names in tops.items():
        if _empty(state.get(field)):
            state[field] = next((frame[n] for n in names if not _empty(frame.get(n))), None)
    found = state_from_legacy(state, frame.get("brain_dump"))
    for key in CLIENT_FIELDS:
        if frame.get(key) is not None:
            found.extra[key] = frame[key]
    return found


def updated_state(latest: BrainState | None, incoming: BrainState) -> BrainState:
    """``latest`` with what a save of the original protocol gave: a field it left out or gave
    empty keeps its value. (cloudbrain-client 3.x saves after every message it sends, with only
    a task and its git status: that must not wipe the thought, the insight or the brain dump
    saved, or imported, before; nor may a save of nothing.)"""
    if latest is None:
        return incoming
    return latest.model_copy(
        update={
            "current_task": incoming.current_task or latest.current_task,
            "last_thought": incoming.last_thought or latest.last_thought,
            "counters": {**latest.counters, **incoming.counters},
            "extra": {
                **latest.extra,
                **{k: v for k, v in incoming.extra.items() if not _empty(v)},
            },
        }
    )


def state_to_legacy(state: BrainState) -> dict[str, Any]:
    return {
        "current_task": state.current_task,
        "last_thought": state.last_thought,
        "last_insight": state.extra.get("last_insight"),
        "current_cycle": state.extra.get("current_cycle"),
        "cycle_count": state.counters.get(CYCLES, 0),
        "brain_dump": state.extra.get("brain_dump") or {},
        "checkpoint_data": state.extra.get("checkpoint_data") or {},
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _empty(value: Any) -> bool:
    # An empty list is kept: no modified files is news about a git tree. An empty text or
    # object is what the original clients send for "nothing to say" (brain_dump={}, say).
    return value is None or value == "" or value == {}
