"""The directory as the server keeps it: profiles put together from the tables (agents,
sessions, memories, brain states, answers and their feedback), and the ``who`` and ``card``
requests."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from importlib.metadata import version

from pydantic import JsonValue

from cloudbrain.brainstate import BrainState, Performance
from cloudbrain.directory.card import agent_card
from cloudbrain.directory.search import matches
from cloudbrain.directory.skills import AnswerEvidence, answer_evidence, learned_skills
from cloudbrain.directory.topics import normalize_topic
from cloudbrain.errors import ErrorCode, ProtocolError
from cloudbrain.protocol import (
    ANSWERS_CAPABILITY,
    AgentCard,
    AgentInfo,
    Card,
    DeviceInfo,
    LearnedSkill,
    Roster,
    Who,
)
from cloudbrain.protocol.directory import SkillHolders, SkillList, Skills
from cloudbrain.server.handlers import Handlers
from cloudbrain.server.session import LiveSession
from cloudbrain.storage.messages import MessageStore
from cloudbrain.storage.profiles import ProfileStore
from cloudbrain.storage.reputation import ReputationStore

# How long what AIs did (sessions, memories, devices, learned skills) is reused before it is
# worked out again; new memories, answers and other nodes' ratings show after this.
HISTORY_SECONDS = 10.0
NEUTRAL_REPUTATION = 0.5  # until reputation has been worked out for the first time
EXAMPLE_ASKS = 100  # the newest asks an AI answered that its card's examples are taken from


@dataclass(frozen=True)
class History:
    """Per AI: sessions ever, memories, devices with their speed, learned skills, reputation
    (per skill, "" for the global score)."""

    sessions: dict[str, int]
    memories: dict[str, int]
    devices: dict[str, list[DeviceInfo]]
    learned: dict[str, list[LearnedSkill]]
    reputation: dict[str, dict[str, float]]


class DirectoryStore:
    def __init__(
        self, tables: ProfileStore, messages: MessageStore, reputation: ReputationStore
    ) -> None:
        self.tables = tables
        self.messages = messages
        self.reputation = reputation
        self._history_at: tuple[float, History] | None = None

    async def profiles(self, name: str | None = None) -> list[AgentInfo]:
        """Every active AI's profile (or the one of the AI called ``name``), by name: who is
        online as of now, what it did (sessions, memories, devices, learned skills) and its
        reputation as of at most :data:`HISTORY_SECONDS` ago."""
        roster = await self.messages.roster(name)
        history = await self._history()
        profiles = []
        for profile in roster:
            reputation = history.reputation.get(profile.name, {})
            update = {
                "learned_skills": history.learned.get(profile.name, []),
                "devices": history.devices.get(profile.name, []),
                "session_count": history.sessions.get(profile.name, 0),
                "memories": history.memories.get(profile.name, 0),
                "reputation": reputation.get("", NEUTRAL_REPUTATION),
                "skill_reputation": {k: v for k, v in reputation.items() if k},
            }
            profiles.append(profile.model_copy(update=update))
        return profiles

    async def taking_questions(self, names: Collection[str]) -> set[str]:
        """Which of the AIs called ``names`` have a session open that takes questions, on
        whichever node: the database's word, which holds even when this node cannot reach
        that session's node."""
        capabilities = await self.tables.open_capabilities(names)
        return {name for name, offered in capabilities.items() if ANSWERS_CAPABILITY in offered}

    def forget_history(self) -> None:
        """Work the history out again at the next request (after a rating, so that its counts
        show at once; after reputation is worked out, so that what it taught counts)."""
        self._history_at = None

    async def _history(self) -> History:
        """What every AI did. Worked out from whole tables (every memory, answer and rating),
        so kept for a few seconds rather than worked out for every ask."""
        now = time.monotonic()
        if self._history_at is None or now - self._history_at[0] > HISTORY_SECONDS:
            self._history_at = (now, await self._work_out_history())
        return self._history_at[1]

    async def _work_out_history(self) -> History:
        states = await self.tables.newest_states()
        scores, learned = await self.reputation.scores()
        return History(
            sessions=await self.tables.session_counts(),
            memories=await self.tables.memory_counts(),
            devices={ai: devices(state) for ai, state in states.items()},
            learned=learned_skills(await self.evidence(), learned),
            reputation=scores,
        )

    async def evidence(self) -> list[AnswerEvidence]:
        """Every answer that knew something, with the topics of its ask and, per verdict, how
        many raters' latest rating it is (its author's own ratings left out)."""
        return answer_evidence(await self.tables.knowing_answers(), await self.tables.ratings())

    async def card(self, name: str, server_url: str) -> dict[str, JsonValue] | None:
        """The agent card of the AI called ``name``; None when there is no such AI."""
        found = await self.profiles(name)
        if not found:
            return None
        profile = found[0]
        return agent_card(
            profile,
            server_url=server_url,
            version=version("cloudbrain"),
            examples=await self.examples(profile.name),
        )

    async def examples(self, agent: str) -> dict[str, list[str]]:
        """Questions the AI answered, per topic, newest first: the examples of its card."""
        found: dict[str, list[str]] = defaultdict(list)
        for question, topics in await self.tables.answered(agent, EXAMPLE_ASKS):
            for topic in topics:
                if question not in found[topic]:
                    found[topic].append(question)
        return found


def devices(state: BrainState | None) -> list[DeviceInfo]:
    """Per device, the models an AI used there and their measured speed, from its brain
    state's performance counters (kept per "device/model")."""
    if state is None:
        return []
    models: dict[str, list[str]] = defaultdict(list)
    totals: dict[str, Performance] = {}
    for device, model, spent in state.spent():
        models[device].append(model)
        totals[device] = totals.get(device, Performance()) + spent
    return [
        DeviceInfo(
            device=device,
            models=sorted(models[device]),
            tokens_per_second=total.shown()[0],
            seconds_per_answer=total.shown()[1],
            answers=total.answers,
        )
        for device, total in sorted(totals.items())
    ]


class DirectoryService:
    def __init__(self, store: DirectoryStore, server_url: Callable[[], str]) -> None:
        self.store = store
        self.server_url = server_url

    def handlers(self) -> Handlers:
        return {Who: self.who, Skills: self.skills, Card: self.card}

    async def who(self, session: LiveSession, frame: Who) -> Roster:
        found = [
            p
            for p in await self.store.profiles()
            if matches(p, skill=frame.skill, online=frame.online, text=frame.text)
        ]
        return Roster(re=frame.id, agents=found)

    async def skills(self, session: LiveSession, frame: Skills) -> SkillList:
        return SkillList(re=frame.id, skills=skill_holders(await self.store.profiles()))

    async def card(self, session: LiveSession, frame: Card) -> AgentCard:
        card = await self.store.card(frame.agent, self.server_url())
        if card is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no agent named {frame.agent!r}")
        return AgentCard(re=frame.id, card=card)


def skill_holders(profiles: list[AgentInfo]) -> list[SkillHolders]:
    """Who holds each skill of the family, the most widely held first. Spellings that differ
    only in case, ``-`` or ``_`` are one skill, named as the first holder by name wrote it."""
    found: dict[str, SkillHolders] = {}

    def holders(skill: str) -> SkillHolders:
        return found.setdefault(normalize_topic(skill), SkillHolders(skill=skill))

    for profile in sorted(profiles, key=lambda p: p.name):
        for names in [
            *(holders(skill).declared for skill in profile.skills),
            *(holders(learned.topic).learned for learned in profile.learned_skills),
        ]:
            if profile.name not in names:
                names.append(profile.name)
    online = {p.name for p in profiles if p.online}
    for entry in found.values():
        entry.online = len(online & {*entry.declared, *entry.learned})
    return sorted(found.values(), key=lambda h: (-len({*h.declared, *h.learned}), h.skill.lower()))
