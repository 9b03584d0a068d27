"""Importing a database of the original CloudBrain (SQLite): its AI profiles become CloudBrain
identities (keeping their numbers, for its clients), its messages become stored broadcasts of
their senders and memories of what they said (so asks find them), its brain states become
brain states, and its follows (``ai_follows``, and the ``familia_follows`` the original server
wrote) become follows, dated as they were made.

Every profile becomes an identity of its own. Two profiles whose names would be one agent name
("Li Ming" and "Li-Ming", or one name twice) are told apart before anything is written: the
lowest number keeps the name, the other becomes ``name-N`` (its number), and the report says so
(:attr:`ImportReport.renamed`). Messages whose sender is not in ``ai_profiles`` have nobody to
be stored as: they are skipped and counted (:attr:`ImportReport.messages_skipped`).

Importing is idempotent: messages and memories get ids made from the original's, each AI's
number is recorded, and a brain state is taken again only if it changed, so importing the same
database twice adds nothing the second time.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from cloudbrain.errors import CloudBrainError, ErrorCode, ProtocolError
from cloudbrain.identity import InvalidName, check_name, get_agent
from cloudbrain.memory.records import MemoryRecord
from cloudbrain.memory.store import MemoryStore
from cloudbrain.server.legacy_ids import LegacyIds, agent_name, state_from_legacy
from cloudbrain.storage.brains import BrainStore
from cloudbrain.storage.legacy_import import ImportedMessage, ImportSession, LegacyImportStore
from cloudbrain.storage.social import SocialStore

NAMESPACE = uuid.UUID("3c1f9d8e-7a52-4d1b-9e0f-6b2a4c8d1e37")  # of the ids made on import
PAGE = 500
NODE = "legacy-import"
# The original's follow tables: ``ai_follows`` is the one its schema makes; its server wrote
# ``familia_follows``, which a database may have if someone made it. Both are read.
FOLLOW_TABLES = ("ai_follows", "familia_follows")
FOLLOW_NOTE = "imported from the original CloudBrain"


@dataclass(frozen=True)
class Renamed:
    """A profile imported under another name than its own, and why."""

    ai_id: int
    name: str  # its name in the original database
    agent: str  # the identity it is here
    reason: str


@dataclass
class ImportReport:
    agents: list[str] = field(default_factory=list)  # every AI of the original database
    tokens: dict[str, str] = field(default_factory=dict)  # identities made now: their tokens
    renamed: list[Renamed] = field(default_factory=list)  # made now under another name
    messages: int = 0  # stored now
    messages_known: int = 0  # there already
    messages_skipped: int = 0  # their sender is not in ai_profiles: not imported
    skipped_senders: list[int] = field(default_factory=list)  # those senders' numbers
    memories: int = 0
    states: int = 0
    follows: int = 0


class LegacyDatabase:
    """An original CloudBrain database, read only."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise CloudBrainError(
                f"no database at {path}", hint="give the path of the original ai_db/cloudbrain.db"
            )
        self.connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        self.connection.row_factory = sqlite3.Row
        tables = {r[0] for r in self.connection.execute("SELECT name FROM sqlite_master")}
        if "ai_profiles" not in tables:
            raise CloudBrainError(
                f"{path} is not a database of the original CloudBrain (no ai_profiles table)",
                hint="give the path of the original ai_db/cloudbrain.db",
            )
        self.tables = tables

    def rows(self, table: str, order: str = "rowid") -> Iterator[sqlite3.Row]:
        if table in self.tables:
            yield from self.connection.execute(f"SELECT * FROM {table} ORDER BY {order}")

    def count(self, table: str) -> int:
        if table not in self.tables:
            return 0
        return int(self.connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def close(self) -> None:
        self.connection.close()


async def import_legacy(
    path: Path,
    engine: AsyncEngine,
    memory: MemoryStore,
    progress: Callable[[str, int, int], None] = lambda what, done, total: None,
) -> ImportReport:
    """Import the original database at ``path``; ``progress(what, done, total)`` is told."""
    source = LegacyDatabase(path)
    try:
        return await _Importer(source, engine, memory, progress).run()
    finally:
        source.close()


class _Importer:
    def __init__(
        self,
        source: LegacyDatabase,
        engine: AsyncEngine,
        memory: MemoryStore,
        progress: Callable[[str, int, int], None],
    ) -> None:
        self.source, self.engine, self.memory, self.progress = source, engine, memory, progress
        self.ids = LegacyIds(engine)
        self.stored = LegacyImportStore(engine)
        self.social = SocialStore(engine)
        self.report = ImportReport()
        self.names: dict[int, str] = {}  # original number -> agent name
        self.agent_ids: dict[int, str] = {}  # original number -> agent id

    async def run(self) -> ImportReport:
        await self._profiles()
        await self._messages()
        await self._states()
        await self._follows()
        return self.report

    async def _profiles(self) -> None:
        # Every name is settled before any identity is made, so a clash cannot stop an import
        # half done.
        planned = await self._names([dict(row) for row in self.source.rows("ai_profiles", "id")])
        for info, name in planned:
            number = int(info["id"])
            _, agent, token = await self.ids.claim(
                number,
                name,
                nickname=str(info.get("nickname") or ""),
                project=str(info.get("project") or ""),
                version=str(info.get("version") or ""),
            )
            self.names[number], self.agent_ids[number] = agent.name, agent.id
            self.report.agents.append(agent.name)
            if token is not None:
                self.report.tokens[agent.name] = token
        self.progress("AI profiles", len(self.names), len(self.names))

    async def _names(self, profiles: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
        """The agent name each profile is imported as: the one it has already (imported
        before), else its own, else (its own is another profile's, or no agent name) one of
        its own made with its number, as :attr:`ImportReport.renamed` then says."""
        known: dict[int, str] = {}
        for info in profiles:
            found = await self.ids.by_number(int(info["id"]))
            if found is not None:
                known[found.number] = found.agent
        taken = {agent: number for number, agent in known.items()}  # agent -> profile number
        planned = []
        for info in profiles:
            number = int(info["id"])
            if number in known:
                planned.append((info, known[number]))
                continue
            original = str(info.get("name") or "")
            name, reason = agent_name(original, number), ""
            try:
                check_name(name)
            except InvalidName:
                name, reason = f"ai-{number}", "its name cannot be an agent name"
            holder = taken.get(name)
            if holder is not None:
                reason = f"AI {holder} is {name}"
                name = await self._free_name(name, number, taken)
            if reason:
                self.report.renamed.append(Renamed(number, original, name, reason))
            taken[name] = number
            planned.append((info, name))
        return planned

    async def _free_name(self, name: str, number: int, taken: dict[str, int]) -> str:
        """``name-N``, N the profile's number (and ``-2``, ``-3``... if that is someone's)."""
        for attempt in range(1, 100):
            suffix = f"-{number}" + (f"-{attempt}" if attempt > 1 else "")
            candidate = name[: 64 - len(suffix)] + suffix
            if candidate not in taken and await get_agent(self.engine, candidate) is None:
                return candidate
        raise CloudBrainError(
            f"AI {number} of the original database has no free name ({name}-{number} and "
            "the others tried are taken); nothing was imported",
            hint=f"rename AI {number} in the original database's ai_profiles and import again",
        )

    async def _messages(self) -> None:
        total, done, page = self.source.count("ai_messages"), 0, []
        for row in self.source.rows("ai_messages", "id"):
            page.append(dict(row))
            if len(page) == PAGE:
                done += await self._store(page)
                self.progress("messages", done, total)
                page = []
        done += await self._store(page)
        self.progress("messages", done, total)

    async def _store(self, page: list[dict[str, Any]]) -> int:
        """Store one page of messages; returns how many rows it read."""
        rows = [r for r in page if _number(r.get("sender_id")) in self.names]
        for row in page:
            if _number(row.get("sender_id")) not in self.names:
                self.report.messages_skipped += 1
                sender = _number(row.get("sender_id"))
                if sender is not None and sender not in self.report.skipped_senders:
                    self.report.skipped_senders.append(sender)
        if not rows:
            return len(page)
        made = {_message_id(r): r for r in rows}
        known = await self.stored.known_messages(list(made))
        new = {k: v for k, v in made.items() if k not in known}
        self.report.messages_known += len(known)
        await self.stored.add_messages([self._message(k, v) for k, v in new.items()])
        self.report.messages += len(new)
        stored = await self.memory.add([self._memory(k, v) for k, v in made.items()])
        self.report.memories += len(stored.stored)
        return len(page)

    def _message(self, message_id: str, row: dict[str, Any]) -> ImportedMessage:
        number = int(row["sender_id"])
        return ImportedMessage(
            id=message_id,
            session=ImportSession(
                id=_session_id(number),
                agent_id=self.agent_ids[number],
                node=NODE,
                device="legacy",
                client="cloudbrain import-legacy",
                end_reason="imported",
            ),
            body=str(row.get("content") or ""),
            meta={"legacy": _legacy_meta(row)},
            conversation=f"legacy-{row.get('conversation_id', 1)}",
            created_at=_when(row.get("created_at")),
        )

    def _memory(self, message_id: str, row: dict[str, Any]) -> MemoryRecord:
        number = int(row["sender_id"])
        return MemoryRecord(
            id=str(uuid.uuid5(NAMESPACE, f"memory/{message_id}")),
            ai=self.names[number],
            session=_session_id(number),
            device="legacy",
            kind="note",
            content=str(row.get("content") or "") or "(empty message)",
            provenance={
                "source": "original CloudBrain",
                "message": message_id,
                "message_type": str(row.get("message_type") or "message"),
            },
            created_at=_when(row.get("created_at")),
        )

    async def _states(self) -> None:
        brains = BrainStore(self.engine)
        for row in self.source.rows("ai_current_state", "ai_id"):
            info, number = dict(row), int(row["ai_id"])
            if number not in self.names:
                continue
            activity = str(info.get("last_activity") or "")
            if await self.ids.state_imported(number) == activity:
                continue
            state = {k: _json(v) if k == "checkpoint_data" else v for k, v in info.items()}
            latest = await brains.load(self.names[number])
            await brains.save(
                self.names[number],
                state_from_legacy(state, _json(info.get("brain_dump"))),
                latest.version if latest else None,
                device="legacy",
                session=_session_id(number),
            )
            await self.ids.mark_state_imported(number, activity)
            self.report.states += 1

    async def _follows(self) -> None:
        for table in FOLLOW_TABLES:
            for row in self.source.rows(table):
                info = dict(row)
                follower = _number(info.get("follower_id"))
                followee = _number(info.get("following_id"))
                if follower in self.names and followee in self.names:
                    self.report.follows += await self._follow(
                        self.names[follower], self.names[followee], _when(info.get("created_at"))
                    )

    async def _follow(self, follower: str, followee: str, since: datetime) -> bool:
        """Record that ``follower`` follows ``followee`` since ``since``, dated when it was
        made in the original; False when there is nothing to do: it is there already, it is
        oneself, or either AI was revoked."""
        if follower == followee:
            return False
        try:
            return await self.social.follow(follower, followee, since=since, note=FOLLOW_NOTE)
        except ProtocolError as refused:
            if refused.code != ErrorCode.NOT_FOUND:
                raise
            return False


def _message_id(row: dict[str, Any]) -> str:
    """The same original message always gets the same id; another one another id."""
    seed = f"{row['id']}/{row['sender_id']}/{row.get('created_at')}/{row.get('content')}"
    return str(uuid.uuid5(NAMESPACE, f"message/{seed}"))


def _session_id(number: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"session/{number}"))


def _legacy_meta(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "message_id": row["id"],
        "conversation_id": row.get("conversation_id"),
        "message_type": row.get("message_type") or "message",
        "metadata": _json(row.get("metadata")) or {},
    }


def _number(value: Any) -> int | None:
    """An AI's number as the original stored it (an INTEGER column; SQLite may hold text)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _when(value: Any) -> datetime:
    """The original stored times as SQLite's datetime('now'): UTC, without a zone."""
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return datetime.now(UTC)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return datetime.now(UTC)


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
