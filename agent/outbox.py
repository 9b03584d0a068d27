"""Messages sent and not yet confirmed by the server's receipt.

Each stays here, as the text of its frame, until its receipt comes (or the server refuses it
for good), and is written again, with its original id, after a reconnect or a refusal the
server may reconsider. The server recognises a resend, so nothing is stored twice. Order is
kept: what is written again goes back to its original place among the messages still to write.
"""

from __future__ import annotations

import random
from collections import OrderedDict, deque

from cloudbrain.errors import ErrorCode

# Errors after which the server may well accept the same message a moment later.
RETRYABLE = frozenset({ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE})


def retry_delay() -> float:
    """Seconds to wait before writing again a message refused with a ``RETRYABLE`` error."""
    return 0.05 + random.random() * 0.1


class Outbox:
    def __init__(self) -> None:
        # Messages not yet confirmed by a receipt, in the order they were sent, and the ids
        # still to be written on the current connection (rebuilt from the former on reconnect).
        self._unreceipted: OrderedDict[str, str] = OrderedDict()
        self._to_write: deque[str] = deque()

    def __contains__(self, message_id: object) -> bool:
        """Whether the message is still unconfirmed (and so will be written again)."""
        return message_id in self._unreceipted

    def add(self, message_id: str, text: str) -> None:
        """A new message: unconfirmed, and the last to write."""
        self._unreceipted[message_id] = text
        self._to_write.append(message_id)

    def settle(self, message_id: str) -> None:
        """The server stored the message (its receipt came) or refused it for good: it is
        never written again."""
        self._unreceipted.pop(message_id, None)

    def has_to_write(self) -> bool:
        return bool(self._to_write)

    def first_to_write(self) -> str | None:
        """The frame of the first message still to write, or None when it was settled since
        (then it is only taken off with :meth:`written`)."""
        return self._unreceipted.get(self._to_write[0])

    def written(self) -> None:
        """The first message still to write is written (or, settled, needs no writing)."""
        self._to_write.popleft()

    def rewind(self) -> None:
        """A new connection: every unconfirmed message is to be written again, in order."""
        self._to_write = deque(self._unreceipted)

    def write_again(self, message_id: str) -> None:
        """A refused message is to be written again."""
        # Back into its original place among what is still to be written.
        waiting = {*self._to_write, message_id}
        self._to_write = deque(i for i in self._unreceipted if i in waiting)
