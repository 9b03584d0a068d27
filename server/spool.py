"""The spool: a Maildir per agent, holding a mail copy of each message waiting for it while it
is offline, so a person (or any mail program) can see what waits without a client.

The database stays the source of truth: a copy is written only after its message is committed,
and moved to ``cur`` only after the agent's ack is committed. Both go through one queue in
order, so a copy is always written before its ack can move it. At start the spool is brought in
line with the database (:meth:`Spool.reconcile`): copies of messages no longer pending move to
``cur``, and pending messages without a copy get one.

Making mail is slow in Python (the standard library's email package), so the files are written
by a helper process: on a busy server the hub would otherwise share the interpreter with it and
wait, and mail through the gateway would be accepted half as fast. The helper reads its work
from a pipe of which only the server holds the other end, so it ends when the server does, even
when the server is killed (``kill -9``) and runs no shutdown code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from collections.abc import Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from cloudbrain.envelope import Envelope
from cloudbrain.ids import is_uuid
from cloudbrain.maildir.folders import SENT, mark, put_once, safe_name, waiting
from cloudbrain.maildir.mapping import delivered_mail
from cloudbrain.maildir.spool_files import Change, serve
from cloudbrain.storage.messages import MessageStore

log = logging.getLogger(__name__)

HELPER_STOP_SECONDS = 10.0  # for the helper to finish its batch and end, at a clean stop
# Ids of copies in ``new`` remembered per agent, so that only acks that file a copy go to the
# helper; an agent with more waiting has every ack sent, as if none were remembered.
COPIES_REMEMBERED = 10_000


@dataclass(frozen=True)
class _Keep:
    recipient_id: str
    envelope: Envelope


@dataclass(frozen=True)
class _Acked:
    recipient_id: str
    message_ids: list[str]


class Spool:
    def __init__(self, root: Path, domain: str, store: MessageStore) -> None:
        self.root = root
        self.domain = domain
        self.store = store
        self._queue: asyncio.Queue[_Keep | _Acked] = asyncio.Queue()
        self._names: dict[str, str] = {}  # agent id -> name
        # agent id -> ids of its copies in new (None: more than COPIES_REMEMBERED)
        self._waiting: dict[str, set[str] | None] = {}
        self._task: asyncio.Task[None] | None = None
        self._helper: _Helper | None = None

    def mailbox(self, name: str) -> Path:
        return self.root / safe_name(name)

    # --- called by the hub, after the database -----------------------------------------------

    def keep(self, envelope: Envelope, recipient_ids: Iterable[str]) -> None:
        for recipient_id in recipient_ids:
            self._copied(recipient_id, envelope.id)
            self._queue.put_nowait(_Keep(recipient_id, envelope))

    def acked(self, recipient_id: str, message_ids: list[str]) -> None:
        """Only acks that file a copy go to the helper: most acks are of messages that went
        straight to a live session, and each batch to the helper is a round trip."""
        if recipient_id not in self._waiting:
            return
        copies = self._waiting[recipient_id]
        if copies is None:  # too many to remember: the helper files what it has
            self._queue.put_nowait(_Acked(recipient_id, message_ids))
            return
        filed = [message_id for message_id in message_ids if message_id in copies]
        if filed:
            copies.difference_update(filed)
            if not copies:
                del self._waiting[recipient_id]
            self._queue.put_nowait(_Acked(recipient_id, filed))

    def _copied(self, recipient_id: str, message_id: str) -> None:
        """A copy of the message waits (or will, once the helper wrote it) in ``new``."""
        copies = self._waiting.setdefault(recipient_id, set())
        if copies is not None:
            copies.add(message_id)
            if len(copies) > COPIES_REMEMBERED:
                self._waiting[recipient_id] = None

    # --- the worker ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the helper process, and then the worker. The helper starts now rather than
        at the first batch: its start takes a core for a while, and the first batch is often
        a reconnecting agent's first ack, just when its messages flow again."""
        self._helper = _Helper()
        await asyncio.to_thread(self._helper.apply, self.root, self.domain, [])  # started
        self._task = asyncio.create_task(self._run(), name="spool")

    async def stop(self) -> None:
        """Write what is queued, then end."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self._helper is not None:
            await asyncio.to_thread(self._helper.stop)

    async def _run(self) -> None:
        assert self._helper is not None
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._name([op.recipient_id for op in batch])
                changes = self._changes(batch)
                refused = await asyncio.to_thread(
                    self._helper.apply, self.root, self.domain, changes
                )
                for name, message_id, why in refused:
                    log.error(
                        "spool: message %s for %r cannot be made mail (%s); it waits in the "
                        "database only",
                        message_id,
                        name,
                        why,
                    )
            except Exception:
                # The database has it all; the next start's reconcile writes what is missing.
                log.exception("could not update the spool for %d change(s)", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _name(self, agent_ids: list[str]) -> None:
        unknown = {i for i in agent_ids if i not in self._names}
        if unknown:
            self._names.update(await self.store.agent_names(unknown))

    def _changes(self, batch: list[_Keep | _Acked]) -> list[Change]:
        """The batch as the helper process takes it: plain strings, in order."""
        changes: list[Change] = []
        for op in batch:
            name = self._names.get(op.recipient_id)
            if name is None:
                continue
            if isinstance(op, _Keep):
                changes.append((name, op.envelope.deliver_frame().to_json()))
            else:
                changes.append((name, op.message_ids))
        return changes

    def _mail(self, envelope: Envelope, recipient: str) -> bytes:
        return delivered_mail(envelope.deliver_frame(), recipient, self.domain).as_bytes()

    # --- start --------------------------------------------------------------------------------

    async def reconcile(self) -> tuple[int, int]:
        """Make the spool say what the database says; returns (copies written, copies moved to
        cur). Run at start, before agents connect."""
        written = moved = 0
        pending_ids: dict[str, set[str]] = {}  # mailbox folder -> ids of its pending messages
        agent_ids = await self.store.agents_with_pending()
        await self._name(agent_ids)
        for agent_id in agent_ids:
            name = self._names[agent_id]
            ids = pending_ids.setdefault(safe_name(name), set())
            after = 0
            while page := await self.store.pending(agent_id, after_seq=after):
                for pending in page:
                    ids.add(pending.envelope.id)
                    self._copied(agent_id, pending.envelope.id)
                    try:
                        mail = self._mail(pending.envelope, name)
                    except Exception:
                        # One message that cannot be mail costs its copy, not the start.
                        log.exception(
                            "spool: message %s for %r cannot be made mail; it waits in the "
                            "database only",
                            pending.envelope.id,
                            name,
                        )
                        continue
                    written += await asyncio.to_thread(
                        put_once, self.mailbox(name), pending.envelope.id, mail
                    )
                after = page[-1].seq
        folders = (
            [f for f in self.root.iterdir() if not f.name.startswith(".")]
            if self.root.is_dir()
            else []
        )
        for folder in folders:
            still = pending_ids.get(folder.name, set())
            for key in waiting(folder):
                # Only copies of messages: answers mailed by the gateway stay as they are.
                if is_uuid(key) and key not in still:
                    moved += mark(folder, key, SENT)
        return written, moved


class _Helper:
    """The helper process, started when first needed (and again if it died), one batch at a
    time: called from one thread at a time (the spool's task waits for each batch)."""

    def __init__(self) -> None:
        self._process: BaseProcess | None = None
        self._pipe: Connection | None = None

    def apply(self, root: Path, domain: str, changes: list[Change]) -> list[tuple[str, str, str]]:
        if self._process is None or not self._process.is_alive():
            self._start()
        assert self._pipe is not None
        try:
            self._pipe.send((root, domain, changes))
            done, result = self._pipe.recv()
        except (EOFError, OSError):
            self.stop()  # it died: the next batch starts another
            raise
        if not done:
            raise RuntimeError(f"the spool's helper process failed: {result}")
        return list(result)

    def _start(self) -> None:
        self.stop()
        # A fresh interpreter, not a fork of this one with its threads and event loop.
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=serve, args=(theirs,), name="cloudbrain spool", daemon=True
        )
        process.start()
        # Only the helper holds its end now: when this process ends, however, its end
        # closes and the helper reads EOF.
        theirs.close()
        self._process, self._pipe = process, ours

    def stop(self) -> None:
        """Close the pipe (the helper ends when it reads EOF) and wait for it."""
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None
        if self._process is not None:
            self._process.join(HELPER_STOP_SECONDS)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
            self._process = None
