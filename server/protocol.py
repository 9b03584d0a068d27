"""What one connection may say, and when: the protocol state machine, without any I/O.

The connection layer feeds each received frame to :meth:`ConnectionProtocol.receive` and acts
on the answer: an :class:`Accepted` frame goes on to the hub; a :class:`Rejected` one becomes an
error frame, and perhaps a close. Nothing here touches a socket, so it is tested directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from cloudbrain.errors import CloseCode, ErrorCode, ProtocolError
from cloudbrain.protocol import ClientFrame, Error, Hello, frame_id, parse_client_frame
from cloudbrain.ratelimit import TokenBucket


class State(Enum):
    AWAITING_HELLO = "awaiting_hello"  # only hello is allowed
    AUTHENTICATING = "authenticating"  # hello received; the token is being checked
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class Accepted:
    frame: ClientFrame


@dataclass(frozen=True)
class Rejected:
    error: Error
    close: CloseCode | None = None
    # False for the repeats of a flood, so one misbehaving client cannot flood the log too.
    log: bool = True


_CLOSE_BEFORE_HELLO = {ErrorCode.UNSUPPORTED_VERSION: CloseCode.UNSUPPORTED_VERSION}


class ConnectionProtocol:
    def __init__(self, *, rate_per_second: float, rate_burst: int) -> None:
        self.state = State.AWAITING_HELLO
        self._bucket = TokenBucket(rate_per_second, rate_burst)
        self._flood_limit = rate_burst
        self._flood_strikes = 0

    def receive(self, data: str | bytes, now: float) -> Accepted | Rejected:
        """Judge one incoming frame. ``now`` is a monotonic clock reading in seconds."""
        if self.state in (State.CLOSED, State.AUTHENTICATING):
            # Nothing may be processed while the token is checked or after the close.
            return Rejected(Error(code=ErrorCode.HELLO_REQUIRED, detail="not open"), log=False)
        if not self._bucket.take(now):
            return self._flooded(data)
        self._flood_strikes = 0
        if isinstance(data, bytes):
            return self._reject(
                ProtocolError(
                    ErrorCode.INVALID_FRAME, "frames are JSON text; binary frames are refused"
                ),
                None,
            )
        try:
            frame = parse_client_frame(data)
        except ProtocolError as exc:
            return self._reject(exc, frame_id(data))

        if self.state is State.AWAITING_HELLO:
            if not isinstance(frame, Hello):
                return self._reject(
                    ProtocolError(
                        ErrorCode.HELLO_REQUIRED,
                        f"the first frame must be 'hello', not {frame.type!r}",
                    ),
                    getattr(frame, "id", None),
                )
            self.state = State.AUTHENTICATING
        elif isinstance(frame, Hello):
            return self._reject(
                ProtocolError(
                    ErrorCode.INVALID_FRAME, "hello was already accepted on this connection"
                ),
                frame.id,
            )
        return Accepted(frame)

    def authenticated(self) -> None:
        self.state = State.OPEN

    def closed(self) -> None:
        self.state = State.CLOSED

    def _reject(self, exc: ProtocolError, re: str | None) -> Rejected:
        close = None
        if self.state is State.AWAITING_HELLO:
            # Before hello nothing else is possible, so every error there ends the connection.
            close = _CLOSE_BEFORE_HELLO.get(exc.code, CloseCode.HELLO_REQUIRED)
            self.state = State.CLOSED
        return Rejected(Error(re=re, code=exc.code, detail=exc.detail), close)

    def _flooded(self, data: str | bytes) -> Rejected:
        self._flood_strikes += 1
        re = frame_id(data) if isinstance(data, str) else None
        if self._flood_strikes > self._flood_limit:
            # A client that ignores a whole burst of rate_limited errors is not listening.
            self.state = State.CLOSED
            detail = "still flooding after a burst of rate_limited errors; closing the connection"
            return Rejected(
                Error(re=re, code=ErrorCode.RATE_LIMITED, detail=detail), CloseCode.POLICY
            )
        detail = "too many frames; this one was not processed, send it again more slowly"
        return Rejected(
            Error(re=re, code=ErrorCode.RATE_LIMITED, detail=detail), log=self._flood_strikes == 1
        )
