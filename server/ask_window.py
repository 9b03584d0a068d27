"""Answering a question about a stretch of time ("what did I learn yesterday?") by listing the
memories of that window: see :mod:`cloudbrain.memory.window`."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from cloudbrain.ids import new_id
from cloudbrain.memory.records import MemoryRecord
from cloudbrain.memory.store import MemoryStore, RecallFilter
from cloudbrain.memory.window import MAX_LISTED, devices_named, digest, topic_words, window_named
from cloudbrain.protocol import Ask, AskAnswer, Specialist

LISTING_CONFIDENCE = 1.0  # what was stored in the window, not a guess at an answer


@dataclass(frozen=True)
class Listing:
    specialists: list[Specialist]
    answers: list[AskAnswer]
    shortfalls: dict[str, str]  # when nothing was stored in the window: whose, and when


async def window_answers(
    memory: MemoryStore, frame: Ask, asker: str, now: datetime
) -> Listing | None:
    """For a question that names a window and no topic: per AI, its memories of the window,
    newest first, grouped by device and session (and only the devices the question names, if
    it names any). None for any other question."""
    if frame.since is not None or frame.until is not None:
        since, until = frame.since, frame.until
    elif named := window_named(frame.question, now):
        since, until = named
    else:
        return None
    ai = asker if frame.own else None
    found = await memory.newest(RecallFilter(ai=ai, since=since, until=until), 4 * MAX_LISTED)
    if frame.agents:
        found = [m for m in found if m.ai in frame.agents]
    devices = {m.device for m in found if m.device}
    if topic_words(frame.question, devices):
        return None  # a question about something, within the window: recall answers it
    if wanted := devices_named(frame.question, devices):
        found = [m for m in found if m.device in wanted]
    by_ai: dict[str, list[MemoryRecord]] = defaultdict(list)
    for record in found[:MAX_LISTED]:
        by_ai[record.ai].append(record)
    answers = [
        AskAnswer(
            id=new_id(),
            agent=name,
            source="memory",
            text=digest(records),
            confidence=LISTING_CONFIDENCE,
            relevance=1.0,
            session=records[0].session,
            device=records[0].device,
            at=records[0].created_at,
            memories=[r.id for r in records],
        )
        for name, records in by_ai.items()
    ]
    names = [a.agent for a in answers] or ([asker] if frame.own else list(frame.agents))
    specialists = [Specialist(agent=n, live=False, score=1.0, why={"window": 1.0}) for n in names]
    span = f"{_when(since) or 'the beginning'} and {_when(until) or 'now'}"
    empty = f"nothing stored between {span}"
    return Listing(
        specialists, answers, {} if answers else {n: empty for n in names or ["everyone"]}
    )


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else ""
