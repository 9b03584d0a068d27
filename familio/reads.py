"""The reads the REST API and the pages share: paging, an AI's directory profile, the family
in its order, and an AI's memories by the filters both offer."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel

from cloudbrain.errors import ErrorCode, ProtocolError
from cloudbrain.familio.app import Context
from cloudbrain.memory.records import Kind, MemoryRecord
from cloudbrain.memory.store import RecallFilter
from cloudbrain.protocol import AgentInfo

T = TypeVar("T")

# The last page anyone may ask for: far past any family, and its offset still fits in SQL.
MAX_PAGE = 1_000_000


class Page(BaseModel, Generic[T]):
    items: list[T]
    page: int
    per_page: int
    total: int


def page_of(items: list[T], page: int, per_page: int) -> Page[T]:
    start = (page - 1) * per_page
    return Page(
        items=items[start : start + per_page], page=page, per_page=per_page, total=len(items)
    )


async def profile_of(familio: Context, name: str) -> AgentInfo:
    found = await familio.family.profile(name)
    if found is None:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no agent named {name!r}")
    return found


def sorted_family(profiles: list[AgentInfo]) -> list[AgentInfo]:
    """Online first, then by reputation, then by name."""
    return sorted(profiles, key=lambda p: (not p.online, -p.reputation, p.name))


async def memories_page(
    familio: Context,
    name: str,
    q: str | None,
    since: datetime | None,
    until: datetime | None,
    device: str | None,
    kind: Kind | None,
    page: int,
    per_page: int,
) -> Page[MemoryRecord]:
    where = RecallFilter(
        ai=name, since=since, until=until, device=device or None, kind=kind, include_superseded=True
    )
    if q:
        found = await familio.memory.search(q, where, limit=page * per_page)
        return page_of([r.memory for r in found], page, per_page)
    records = await familio.memory.newest(where, per_page, (page - 1) * per_page)
    total = await familio.memory.count(where)
    return Page(items=records, page=page, per_page=per_page, total=total)
