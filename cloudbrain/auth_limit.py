"""How a server slows down an address that keeps failing to authenticate: the SMTP gateway's
AUTH and the web view's login form both ask it.

Plain state fed ``now`` from outside (no clock, no sockets): the caller asks it what to do
after each failure and before each new attempt. Tokens are long and random, so guessing one is
hopeless anyway; this keeps a client that tries from costing the server a database lookup per
guess at full speed, and makes a leaked list of names no easier to probe.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Seconds after its last failure that an address starts afresh (and a locked one is let in).
FORGET_AFTER = 15 * 60.0
LONGEST_DELAY = 30.0  # seconds: the growing delay stops growing here
ADDRESSES = 10_000  # addresses remembered at most: a flood of them cannot grow memory


@dataclass(frozen=True)
class AfterFailure:
    """What the gateway does after a failed AUTH: wait ``delay`` seconds, then answer, or
    (``close``) say 421 and close the connection."""

    delay: float
    close: bool


@dataclass
class _Failures:
    count: int
    last: float


@dataclass
class AuthFailures:
    """Failed AUTH per client address.

    The answer to failure ``n`` waits ``delay * 2 ** (n - 1)`` seconds (at most
    :data:`LONGEST_DELAY`). At failure ``most`` the connection is closed, and the address is
    locked: every AUTH from it is refused until :data:`FORGET_AFTER` seconds after its last
    failure. A success does not wipe the count, so a client holding one valid token cannot use
    it to reset the count between guesses at others.
    """

    delay: float = 1.0
    most: int = 5
    forget_after: float = FORGET_AFTER
    _seen: dict[str, _Failures] = field(default_factory=dict)

    def locked(self, address: str, now: float) -> bool:
        """Whether AUTH from ``address`` is refused now, before any credentials are read."""
        seen = self._current(address, now)
        return seen is not None and seen.count >= self.most

    def failed(self, address: str, now: float) -> AfterFailure:
        """Count a failed AUTH from ``address``; what to do before answering it."""
        seen = self._current(address, now)
        if seen is None:
            self._make_room(now)
            seen = self._seen[address] = _Failures(0, now)
        seen.count += 1
        seen.last = now
        delay = min(self.delay * 2 ** (seen.count - 1), LONGEST_DELAY)
        return AfterFailure(delay=delay, close=seen.count >= self.most)

    def _current(self, address: str, now: float) -> _Failures | None:
        seen = self._seen.get(address)
        if seen is not None and now - seen.last >= self.forget_after:
            del self._seen[address]
            return None
        return seen

    def _make_room(self, now: float) -> None:
        if len(self._seen) < ADDRESSES:
            return
        for address in [a for a, s in self._seen.items() if now - s.last >= self.forget_after]:
            del self._seen[address]
        while len(self._seen) >= ADDRESSES:  # still full: forget the longest quiet
            del self._seen[min(self._seen, key=lambda a: self._seen[a].last)]
