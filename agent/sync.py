"""Two-way memory sync between a device's cache and the server.

Push: every local memory after the ``pushed`` position goes to the server (``remember``).
Pull: every memory of this AI the server stored after the ``pulled`` position comes here.
Memory ids are global and both sides store by union, so a sync interrupted at any point and
run again leaves both sides holding every memory exactly once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from cloudbrain.agent.cache import LocalMemory
from cloudbrain.agent.client import Client
from cloudbrain.memory.store import RecallFilter

log = logging.getLogger(__name__)
PAGE = 200


@dataclass(frozen=True)
class SyncResult:
    pushed: int
    pulled: int


async def sync(client: Client, local: LocalMemory) -> SyncResult:
    assert local.store is not None
    cursors = local.cursors()
    pushed = pulled = 0
    own = RecallFilter(ai=client.name, include_superseded=True)
    while True:
        page, after = await local.store.page(cursors.pushed, PAGE, own)
        if page:
            result = await client.remember(*page)
            pushed += len(result.stored)
        cursors.pushed = after
        local.save_cursors(cursors)
        if len(page) < PAGE:
            break
    while True:
        server_page = await client.memory_page(after=cursors.pulled, limit=PAGE, ai=client.name)
        if server_page.memories:
            pulled += len((await local.store.add(server_page.memories)).stored)
        cursors.pulled = server_page.next
        local.save_cursors(cursors)
        if len(server_page.memories) < PAGE:
            break
    if pushed or pulled:
        log.info("memory sync: %d sent to the server, %d brought here", pushed, pulled)
    return SyncResult(pushed, pulled)
