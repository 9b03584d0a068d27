"""The batch writer: one task that turns many small writes into few transactions.

Connections hand it accepted messages and acks; it stores whatever has queued up since the last
commit in one transaction, then hands the results back (receipts, deliveries). Throughput comes
from the batching, so persisting every message does not cap it. The queue is bounded: when the
database falls behind, connections wait to hand over more, which slows their senders down.

While the database is away, the writer keeps trying the batch it holds and takes no other: a
message refused then and sent again later would be stored after messages sent after it, and
order from one sender would break. Only a stopping server gives up (``unavailable``), and its
clients send again, in order, to the next one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DataError, DBAPIError, StatementError

from cloudbrain.envelope import Envelope, Stored
from cloudbrain.errors import ErrorCode
from cloudbrain.server.metrics import Metrics
from cloudbrain.storage.messages import MessageStore

log = logging.getLogger(__name__)

MAX_BATCH = 500
RETRY_DELAYS = (0.05, 0.2, 0.5, 1.0, 2.0)  # then every 2 s, for as long as it takes
LOG_EVERY = 30  # tries between two warnings about the same outage


@dataclass(frozen=True)
class Outgoing:
    envelope: Envelope
    origin: Any  # whoever is told the outcome: the sender's live session


@dataclass(frozen=True)
class AckItem:
    recipient_id: str
    message_ids: Sequence[str]


OnStored = Callable[[list[tuple[Outgoing, Stored]]], None]
# Messages not stored, and why: ``unavailable`` (send again later) or ``invalid_frame`` (the
# database refuses what the message holds; sending it again cannot help).
OnFailed = Callable[[list[Outgoing], ErrorCode], None]
OnAcked = Callable[[list[AckItem]], None]


class BatchWriter:
    def __init__(
        self,
        store: MessageStore,
        on_stored: OnStored,
        on_failed: OnFailed,
        on_acked: OnAcked | None = None,
        max_queue: int = 20_000,
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self._metrics = metrics or Metrics()
        self._on_stored = on_stored
        self._on_failed = on_failed
        self._on_acked = on_acked
        self._queue: asyncio.Queue[Outgoing | AckItem | None] = asyncio.Queue(max_queue)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="batch-writer")

    async def submit(self, item: Outgoing | AckItem) -> None:
        await self._queue.put(item)

    async def stop(self) -> None:
        """Write everything already queued, then end. While the database is away, what is
        queued is refused with ``unavailable`` instead of waiting for it."""
        self._stopping = True
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[Outgoing | AckItem] = []
            item = await self._queue.get()
            while True:
                if item is None:
                    stopping = True
                else:
                    batch.append(item)
                if stopping or len(batch) >= MAX_BATCH or self._queue.empty():
                    break
                item = self._queue.get_nowait()
            if batch:
                await self._write(batch)

    async def _write(self, batch: Sequence[Outgoing | AckItem], *, alone: bool = False) -> None:
        outgoing = [item for item in batch if isinstance(item, Outgoing)]
        ack_items = [item for item in batch if isinstance(item, AckItem)]
        try:
            stored = await self._commit(outgoing, ack_items)
        except RefusedByDatabase as refused:
            if alone:
                log.warning("the database refused a message (%s); told its sender", refused)
                self._on_failed(outgoing, ErrorCode.INVALID_FRAME)
                return
            # What one of the messages holds was refused (see refused_by_database): store
            # each on its own, so only that one is refused and the others go through.
            if ack_items:
                await self._write(ack_items, alone=True)
            for item in outgoing:
                await self._write([item], alone=True)
        except Exception:
            log.exception("giving up on %d message(s)", len(outgoing))
            self._on_failed(outgoing, ErrorCode.UNAVAILABLE)
        else:
            self._done(outgoing, ack_items, stored)

    async def _commit(self, outgoing: list[Outgoing], ack_items: list[AckItem]) -> list[Stored]:
        """Store in one transaction, trying again for as long as the database is away (until
        the writer stops: then what made the last try fail is raised). Raises at once
        :class:`RefusedByDatabase` when the database refused the content itself: trying
        that again can only fail again."""
        envelopes = [item.envelope for item in outgoing]
        acks = [(item.recipient_id, mid) for item in ack_items for mid in item.message_ids]
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                # A try after a failed one may find its messages stored already: the failure
                # can have been the lost reply to a COMMIT that went through.
                stored = await self._store.write_batch(envelopes, acks, retry=attempt > 0)
            except Exception as error:
                self._metrics.write_failures.inc()
                if refused_by_database(error):
                    raise RefusedByDatabase(str(getattr(error, "orig", error))) from error
                if self._stopping:
                    raise
                delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]
                if attempt % LOG_EVERY == 0:
                    log.warning(
                        "database write of %d message(s) failed (try %d); trying again every "
                        "%.2gs or less until it works",
                        len(envelopes),
                        attempt + 1,
                        delay,
                        exc_info=attempt == 0,
                    )
                attempt += 1
                await asyncio.sleep(delay)
            else:
                self._metrics.commit_seconds.observe(time.perf_counter() - started)
                self._metrics.batch_size.observe(len(envelopes) + len(acks))
                return stored

    def _done(
        self, outgoing: list[Outgoing], ack_items: list[AckItem], stored: list[Stored]
    ) -> None:
        metrics = self._metrics
        for result in stored:
            if not (result.duplicate or result.conflict):
                metrics.accepted.labels(kind=result.envelope.kind).inc()
        acked = sum(len(item.message_ids) for item in ack_items)
        if acked:
            metrics.acked.inc(acked)
        self._on_stored(list(zip(outgoing, stored, strict=True)))
        if self._on_acked is not None and ack_items:
            self._on_acked(ack_items)


class RefusedByDatabase(Exception):
    """The database will not store what a batch holds."""


def refused_by_database(error: BaseException) -> bool:
    """True when ``error`` says the database (or its driver) will never take what was written,
    however often it is tried: a value it cannot store (PostgreSQL: NUL in text, SQLSTATE
    class 22), or one the driver cannot even encode (a lone surrogate). Connection failures and
    conflicts are worth trying again; these are not."""
    if isinstance(error, DataError):
        return True
    if isinstance(error, DBAPIError):
        # Not every driver error is mapped to DataError (asyncpg's "unsupported Unicode escape
        # sequence" for a NUL in JSONB is not): PostgreSQL's SQLSTATE class 22 says it.
        return str(getattr(error.orig, "sqlstate", "") or "").startswith("22")
    # Raised before the statement reached the database: the driver could not bind a value.
    return isinstance(error, StatementError)
