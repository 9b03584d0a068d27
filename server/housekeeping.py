"""The server's background jobs, stopped between runs rather than in the middle of one.

Cancelling a task while it works in the database is not safe with the async drivers: the
cancellation reaches SQLAlchemy's greenlet while the statement runs on aiosqlite's thread, and
then it may be swallowed (the task sleeps on, and whoever waits for it waits forever) or leave
a connection checked out inside its transaction, holding SQLite's write lock until the process
ends, so that every later write waits out the busy timeout and fails with "database is locked".
So a job is told to stop, finishes the run it is in, and is cancelled only if it is still
running after a grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 10.0  # how long stopping waits for a run in progress before cancelling it


class Housekeeping:
    """Named background tasks sharing one ``stopping`` event, stopped together by :meth:`stop`."""

    def __init__(self, grace: float = STOP_GRACE_SECONDS) -> None:
        self.grace = grace
        self.stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def once(self, job: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``job`` in the background; a long one should look at :attr:`stopping` between
        steps."""
        self._tasks.append(asyncio.create_task(job, name=name))

    def every(
        self, interval: float, job: Callable[[], Awaitable[None]], name: str, *, now: bool = False
    ) -> None:
        """Run ``job`` every ``interval`` seconds (the first time at once if ``now``) until
        stopped; a run that fails is logged, and the next one comes as planned."""
        self.once(self._repeat(interval, job, name, now), name)

    async def _repeat(
        self, interval: float, job: Callable[[], Awaitable[None]], name: str, now: bool
    ) -> None:
        if not now and await self._stopped_within(interval):
            return
        while True:
            try:
                await job()
            except Exception:
                log.exception("%s failed; will try again in %.1fs", name, interval)
            if await self._stopped_within(interval):
                return

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.stopping.wait()
        return self.stopping.is_set()

    async def stop(self) -> None:
        """Ask every job to stop, wait for those in a run to finish it, cancel what is still
        running after the grace period."""
        self.stopping.set()
        tasks, self._tasks = self._tasks, []
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=self.grace)
        for task in late:
            log.warning(
                "%s was still running %.0fs after the stop; cancelled", task.get_name(), self.grace
            )
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    await task
                except Exception:
                    log.exception("%s failed", task.get_name())
