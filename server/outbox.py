"""Byte budgets for what the server holds for readers that have not read yet.

Each session's outbox (frames queued for its socket, the one being written, and live messages
held back during a replay) may hold ``session_bytes`` and ``session_frames``; all the outboxes
of one server process together may hold ``node_bytes``. This module only counts and decides;
:class:`cloudbrain.server.session.LiveSession` carries the decisions out. Nothing it refuses is
lost: messages are stored and come back as replay when the disconnected reader reconnects.

Frames are counted as the memory their text takes (:func:`frame_bytes`). A frame queued for
several sessions (a broadcast) is counted once for each: a session's share is the whole frame,
and the node total errs on the safe side.
"""

from __future__ import annotations

import sys
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


def frame_bytes(text: str) -> int:
    """The memory a queued frame holds: the whole ``str`` object. Not ``len(text)``: one
    character above U+FFFF makes CPython store every character of the text in 4 bytes."""
    return sys.getsizeof(text)


@dataclass(frozen=True)
class Verdict(Generic[K]):
    """What to do with a frame offered to session ``key``'s outbox. First empty and disconnect
    the sessions in ``evict`` (their bytes come back), then :meth:`OutboxBudget.take` the frame
    if it is ``admitted``: in that order, so the node never counts both at once."""

    # True: queue the frame. False, for a live frame: refuse it and disconnect ``key`` (after
    # flushing what it has, as for any slow reader, unless it is also in ``evict``); for a
    # replayed one: wait until ``key``'s reader has taken some of what it holds.
    admitted: bool
    # Sessions to empty at once and disconnect so the node stays in its budget, worst first.
    # May include ``key`` itself, when it is the one holding the most.
    evict: tuple[K, ...] = ()


class OutboxBudget(Generic[K]):
    """The outbox budgets of one server process: one object, handed to every session it makes.

    A session over its own budget is disconnected. When the node would go over its budget, the
    sessions holding the most bytes are disconnected, not the one that happens to receive the
    frame that tipped it: a flood to a reader that does not read costs that reader its
    connection, never the readers that keep up. A session disconnected for the node leaves
    the books at once (:meth:`forget`): the one frame it may still be writing would otherwise
    make it look like the worst reader again, and cost someone else a connection. That frame
    lives on uncounted until its socket takes it or gives up.
    """

    def __init__(self, session_bytes: int, node_bytes: int, session_frames: int) -> None:
        for name, value in (
            ("session_bytes", session_bytes),
            ("node_bytes", node_bytes),
            ("session_frames", session_frames),
        ):
            if value <= 0:
                raise ValueError(f"{name} must be positive, not {value}")
        self.session_bytes = session_bytes
        self.node_bytes = node_bytes
        self.session_frames = session_frames
        self._held: dict[K, int] = {}  # bytes per session, only for sessions holding some
        self.total = 0  # bytes held by all the sessions of the node
        # What the budgets have to show for themselves (logs, tests): the most the node and
        # any one session held at a time, and how many sessions the node budget disconnected.
        self.peak = 0
        self.session_peak = 0
        self.evictions = 0

    def held(self, key: K) -> int:
        """Bytes held for session ``key`` now."""
        return self._held.get(key, 0)

    def fits(self, key: K, size: int) -> bool:
        """Whether session ``key``'s own budget takes ``size`` more bytes. A frame into an
        empty outbox always fits, however large: else it could never go out at all."""
        held = self._held.get(key, 0)
        return held == 0 or held + size <= self.session_bytes

    def room(self, key: K, size: int) -> bool:
        """Whether both budgets take ``size`` more bytes for ``key`` without disconnecting
        anyone."""
        return self.fits(key, size) and self.total + size <= self.node_bytes

    def admit(self, key: K, size: int, *, replay: bool = False) -> Verdict[K]:
        """Whether a frame of ``size`` bytes may wait in session ``key``'s outbox, and who
        must go to make room for it. Counts nothing: see :class:`Verdict`.

        A ``replay`` frame is read from the database at the pace of its reader, so its session
        is never the one to go: when it holds the most, it waits instead. Were it closed, it
        would reconnect and replay into the same full node again."""
        if not self.fits(key, size):
            return Verdict(admitted=False)
        if self.total + size <= self.node_bytes:
            return Verdict(admitted=True)
        if key not in self._held and size > self.node_bytes:
            # A lone frame larger than the whole node's budget: go out alone, as one larger
            # than a session's budget does, rather than empty every other outbox for nothing.
            return Verdict(admitted=True)
        evict: list[K] = []
        excess = self.total + size - self.node_bytes
        admitted = True
        for holder, bytes_held in sorted(self._held.items(), key=lambda item: -item[1]):
            if holder == key:
                # The one receiving holds the most (of those left): its frame is refused, and
                # a live reader goes with it.
                admitted = False
                if not replay:
                    evict.append(key)
                break
            evict.append(holder)
            excess -= bytes_held
            if excess <= 0:
                break
        self.evictions += len(evict)
        return Verdict(admitted=admitted, evict=tuple(evict))

    def take(self, key: K, size: int) -> None:
        """Count ``size`` bytes for session ``key``: a frame admitted, or held back."""
        held = self._held.get(key, 0) + size
        self._held[key] = held
        self.total += size
        self.peak = max(self.peak, self.total)
        self.session_peak = max(self.session_peak, held)

    def release(self, key: K, size: int) -> None:
        """Give back a frame's bytes: written, or dropped."""
        held = self._held.get(key)
        if held is None:  # already forgotten: the session stopped
            return
        left = held - size
        self.total -= min(size, held)
        if left > 0:
            self._held[key] = left
        else:
            del self._held[key]

    def forget(self, key: K) -> int:
        """Drop session ``key`` from the books (it stopped); returns the bytes it still held."""
        held = self._held.pop(key, 0)
        self.total -= held
        return held
